// HTTP/1.1 over bangerd's Unix socket (docs/api.md): one connection per call.

import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';

import { BangerError, TimeoutError, UnavailableError, errorFromBody, invalid } from './errors.js';

/**
 * Where the daemon's socket is: the explicit option, else `BANGER_SOCKET`,
 * else `$BANGER_HOME/bangerd.sock`, else `/var/lib/banger/bangerd.sock` for
 * root and `$HOME/.local/share/banger/bangerd.sock` for anyone else (as the
 * CLI resolves its home).
 */
export function resolveSocketPath(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit !== undefined) {
    if (typeof explicit !== 'string' || explicit === '') throw invalid('socketPath must be a non-empty string');
    return explicit;
  }
  if (env.BANGER_SOCKET) return env.BANGER_SOCKET;
  if (env.BANGER_HOME) return path.join(env.BANGER_HOME, 'bangerd.sock');
  const uid = typeof process.getuid === 'function' ? process.getuid() : -1;
  if (uid === 0) return '/var/lib/banger/bangerd.sock';
  const home = env.HOME || os.homedir();
  return path.join(home, '.local', 'share', 'banger', 'bangerd.sock');
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  /** JSON-encoded unless a Buffer/Uint8Array (sent as application/octet-stream). */
  body?: unknown;
  timeoutMs?: number;
}

/** `/v1/vms/<seg>` with each segment percent-encoded, plus the query. */
export function buildPath(p: string, query?: RequestOptions['query']): string {
  if (!query) return p;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined) continue;
    q.set(k, typeof v === 'boolean' ? (v ? '1' : '0') : String(v));
  }
  const s = q.toString();
  return s ? `${p}?${s}` : p;
}

export function seg(s: string): string {
  return encodeURIComponent(s);
}

/** Maps a socket-level failure to an UnavailableError naming the socket. */
export function connectError(socketPath: string, err: unknown): BangerError {
  const e = err as NodeJS.ErrnoException;
  if (e instanceof BangerError) return e;
  const why = e?.code === 'ENOENT' || e?.code === 'ECONNREFUSED'
    ? 'is bangerd running?'
    : e?.code === 'EACCES'
      ? 'permission denied (socket_group in the daemon config?)'
      : String(e?.message ?? e);
  return new UnavailableError('unavailable', `cannot reach bangerd at ${socketPath}: ${e?.code ?? 'error'}: ${why}`,
    undefined, { cause: err });
}

export class Transport {
  constructor(
    readonly socketPath: string,
    readonly defaultTimeoutMs: number,
  ) {}

  /** One HTTP call; non-2xx answers become typed errors. */
  async raw(method: string, p: string, opts: RequestOptions = {}): Promise<RawResponse> {
    let payload: Buffer | undefined;
    const headers: Record<string, string> = { Host: 'localhost' };
    if (opts.body !== undefined) {
      if (Buffer.isBuffer(opts.body) || opts.body instanceof Uint8Array) {
        payload = Buffer.from(opts.body as Uint8Array);
        headers['Content-Type'] = 'application/octet-stream';
      } else {
        payload = Buffer.from(JSON.stringify(opts.body), 'utf8');
        headers['Content-Type'] = 'application/json';
      }
      headers['Content-Length'] = String(payload.length);
    }
    const timeoutMs = opts.timeoutMs ?? this.defaultTimeoutMs;
    const target = buildPath(p, opts.query);
    const res = await new Promise<RawResponse>((resolve, reject) => {
      const req = http.request({ socketPath: this.socketPath, method, path: target, headers, agent: false }, (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, headers: r.headers, body: Buffer.concat(chunks) }));
        r.on('error', reject);
      });
      let timer: NodeJS.Timeout | undefined;
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          req.destroy(new TimeoutError('timeout', `${method} ${p}: no answer from bangerd within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      req.on('error', (err) => reject(err instanceof BangerError ? err : connectError(this.socketPath, err)));
      req.on('close', () => timer && clearTimeout(timer));
      req.end(payload);
    });
    if (res.status < 200 || res.status > 299) throw errorFromBody(res.status, res.body);
    return res;
  }

  async json<T>(method: string, p: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.raw(method, p, opts);
    try {
      return JSON.parse(res.body.toString('utf8')) as T;
    } catch (err) {
      throw new BangerError('internal', `${method} ${p}: the daemon's answer is not JSON`, res.status, { cause: err });
    }
  }
}
