// Typed errors. Every failure of the SDK is a BangerError carrying the API's
// `code` and `message` (docs/api.md "Errors"); the subclass says which kind.

/** The base of every error the SDK throws. */
export class BangerError extends Error {
  /** The API's error code (`invalid_argument`, `not_found`, ...), or the guest's (`no_space`, ...). */
  readonly code: string;
  /** The HTTP status when the error came as an HTTP answer, else undefined. */
  readonly status: number | undefined;

  constructor(code: string, message: string, status?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
  }
}

/** Bad input: names, sizes, paths, JSON (`invalid_argument`, 400). Also thrown client-side. */
export class InvalidArgumentError extends BangerError {}
/** No such VM, image, session, snapshot, port or guest file (`not_found`, 404). */
export class NotFoundError extends BangerError {}
/** Clashes with the current state: a duplicate name, a VM that is not running (`conflict`, 409). */
export class ConflictError extends BangerError {}
/** A dependency is missing or the daemon cannot be reached (`unavailable`, 503). */
export class UnavailableError extends BangerError {}
/** A deadline passed (`timeout`, 504), on the daemon or in the SDK. */
export class TimeoutError extends BangerError {}
/** Anything else the daemon failed at (`internal`, 500). */
export class InternalError extends BangerError {}

type ErrorClass = new (code: string, message: string, status?: number, options?: { cause?: unknown }) => BangerError;

// Codes of the API and of the guest agent (docs/api.md "Guest files").
const byCode: Record<string, ErrorClass> = {
  invalid_argument: InvalidArgumentError,
  invalid: InvalidArgumentError,
  not_found: NotFoundError,
  conflict: ConflictError,
  exists: ConflictError,
  read_only: ConflictError,
  not_dir: ConflictError,
  unavailable: UnavailableError,
  timeout: TimeoutError,
  internal: InternalError,
  io: InternalError,
};

const byStatus: Record<number, ErrorClass> = {
  400: InvalidArgumentError,
  404: NotFoundError,
  409: ConflictError,
  503: UnavailableError,
  504: TimeoutError,
  500: InternalError,
};

/** The typed error for an API error body `{code, message}` (and the HTTP status when known). */
export function errorFor(code: string, message: string, status?: number): BangerError {
  const cls = byCode[code] ?? (status !== undefined ? byStatus[status] : undefined) ?? BangerError;
  return new cls(code, message, status);
}

/** Parses an API error answer (`{"error": {"code", "message"}}`); falls back to the status line. */
export function errorFromBody(status: number, body: Buffer | string): BangerError {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  try {
    const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    const e = parsed.error;
    if (e && typeof e.code === 'string' && typeof e.message === 'string') {
      return errorFor(e.code, e.message, status);
    }
  } catch {
    // not JSON: below
  }
  const line = text.trim().split('\n')[0] ?? '';
  return errorFor('', `HTTP ${status}${line ? `: ${line}` : ''}`, status);
}

export function invalid(message: string): InvalidArgumentError {
  return new InvalidArgumentError('invalid_argument', message);
}
