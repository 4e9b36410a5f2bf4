// Running a command in a guest: the exec WebSocket stream (docs/api.md
// "Streams", POST-less since the WebSocket streams: GET /v1/vms/{ref}/exec).

import { TimeoutError, invalid } from './errors.js';
import { MsgType, Stream, endedEarly, parsePayload, streamError, type ExitStatus } from './stream.js';
import { seg } from './transport.js';
import type { ExecVmRequest } from './types.js';

/** What exec feeds the command's stdin from. */
export type StdinSource = string | Uint8Array | AsyncIterable<Uint8Array | string>;

/** A callback for output; a returned promise holds further output back until it settles. */
export type OutputCallback = (chunk: Buffer) => void | Promise<void>;

export interface ExecOptions {
  /** The command's stdin (then EOF). Without it the command's stdin is empty (EOF at once). */
  stdin?: StdinSource;
  /** Called with each chunk of stdout as it arrives. */
  onStdout?: OutputCallback;
  /** Called with each chunk of stderr as it arrives. */
  onStderr?: OutputCallback;
  /** Environment variables, over the image's (OCI images) unless noImageEnv. */
  env?: Record<string, string>;
  /** Working directory in the guest (absolute). Default: the image's, else /root. */
  cwd?: string;
  /** Guest user: NAME, UID, UID:GID or NAME:GROUP. Default: the image's, else root. */
  user?: string;
  /** Do not apply an OCI image's Env. */
  noImageEnv?: boolean;
  /** Deadline for the command (ms): when it passes the command is killed and exec throws TimeoutError. */
  timeoutMs?: number;
  /** How long the daemon waits for the agent of a booting VM (ms; the daemon's default: 120000). */
  agentTimeoutMs?: number;
  /** Run under a pseudo-terminal (stdout and stderr then arrive merged on stdout). */
  tty?: boolean;
  rows?: number;
  cols?: number;
  /** Keep stdout/stderr in the result (default true). With false they are empty. */
  collect?: boolean;
  /** `utf8` (default): stdout/stderr are strings; `buffer`: Buffers. */
  encoding?: 'utf8' | 'buffer';
  /** Aborting closes the stream (the command gets SIGHUP) and rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface ExecResult<T = string> {
  /** The exit code, or 128 + signal when killed by one. */
  exitCode: number;
  /** The command ended by a signal. */
  signaled: boolean;
  /** That signal (0 if none). */
  signal: number;
  stdout: T;
  stderr: T;
}

/** A string command runs under `/bin/sh -c`; an array is the argv as is. */
export function toArgv(cmd: string | string[]): string[] {
  if (typeof cmd === 'string') {
    if (cmd.trim() === '') throw invalid('command must not be empty');
    return ['/bin/sh', '-c', cmd];
  }
  if (!Array.isArray(cmd) || cmd.some((a) => typeof a !== 'string')) {
    throw invalid('command must be a string or an array of strings');
  }
  return [...cmd];
}

function checkEnv(env: Record<string, string> | undefined): void {
  if (env === undefined) return;
  if (typeof env !== 'object' || env === null || Array.isArray(env)) throw invalid('env must be an object of strings');
  for (const [k, v] of Object.entries(env)) {
    if (typeof v !== 'string') throw invalid(`env ${k}: value must be a string`);
  }
}

function checkMs(what: string, v: number | undefined): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw invalid(`${what} must be a positive integer (ms)`);
}

export function execRequest(cmd: string | string[], o: ExecOptions): ExecVmRequest {
  checkEnv(o.env);
  checkMs('timeoutMs', o.timeoutMs);
  checkMs('agentTimeoutMs', o.agentTimeoutMs);
  if (o.cwd !== undefined && (typeof o.cwd !== 'string' || !o.cwd.startsWith('/'))) {
    throw invalid(`cwd must be an absolute path, got ${JSON.stringify(o.cwd)}`);
  }
  if (o.user !== undefined && typeof o.user !== 'string') throw invalid('user must be a string');
  const req: ExecVmRequest = { argv: toArgv(cmd), tty: o.tty ?? false, rows: o.rows ?? 24, cols: o.cols ?? 80 };
  if (o.env && Object.keys(o.env).length > 0) req.env = o.env;
  if (o.cwd) req.cwd = o.cwd;
  if (o.user) req.user = o.user;
  if (o.noImageEnv) req.no_image_env = true;
  if (o.agentTimeoutMs !== undefined) req.timeout_ms = o.agentTimeoutMs;
  return req;
}

/** Closes the stream when `signal` aborts; the returned function detaches. */
export function onAbort(s: Stream, signal: AbortSignal | undefined): () => void {
  if (!signal) return () => undefined;
  const abort = () => s.close();
  if (signal.aborted) abort();
  signal.addEventListener('abort', abort, { once: true });
  return () => signal.removeEventListener('abort', abort);
}

export async function pumpStdin(s: Stream, src: StdinSource | undefined, eof = true): Promise<void> {
  if (src !== undefined) {
    if (typeof src === 'string') {
      await s.sendStdin(Buffer.from(src, 'utf8'));
    } else if (src instanceof Uint8Array) {
      await s.sendStdin(src);
    } else {
      for await (const chunk of src) {
        if (s.isClosed) return;
        await s.sendStdin(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk);
      }
    }
  }
  if (eof) await s.send(MsgType.stdinEof);
}

/**
 * Reads a stream's output messages until its `exit`: collects stdout/stderr,
 * calls the callbacks (awaiting them, which back-pressures the daemon), and
 * throws the typed error of an `error` message.
 */
export async function readOutput(
  s: Stream,
  o: { onStdout?: OutputCallback; onStderr?: OutputCallback; collect?: boolean },
): Promise<{ exit: ExitStatus; stdout: Buffer; stderr: Buffer }> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const collect = o.collect ?? true;
  for (;;) {
    const f = await s.next();
    if (f === null) throw endedEarly(s);
    switch (f.type) {
      case MsgType.stdout:
        if (collect) out.push(f.payload);
        if (o.onStdout) await o.onStdout(f.payload);
        break;
      case MsgType.stderr:
        if (collect) err.push(f.payload);
        if (o.onStderr) await o.onStderr(f.payload);
        break;
      case MsgType.exit:
        return { exit: parsePayload<ExitStatus>(s.what, f.payload), stdout: Buffer.concat(out), stderr: Buffer.concat(err) };
      case MsgType.error:
        throw streamError(s.what, f.payload);
      default:
        break; // progress and later types: nothing to do here
    }
  }
}

export async function runExec(
  socketPath: string,
  vmRef: string,
  cmd: string | string[],
  o: ExecOptions,
): Promise<ExecResult<string | Buffer>> {
  const req = execRequest(cmd, o);
  o.signal?.throwIfAborted();
  const s = await Stream.open({ socketPath, path: `/v1/vms/${seg(vmRef)}/exec`, open: req });
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  if (o.timeoutMs !== undefined) {
    timer = setTimeout(() => {
      timedOut = true;
      void s.send(MsgType.signal, Uint8Array.of(9)).catch(() => undefined);
      // A guest that does not report the exit soon: drop the stream (the
      // daemon then SIGHUPs and SIGKILLs the command itself).
      killTimer = setTimeout(() => s.terminate(), 5000);
    }, o.timeoutMs);
  }
  // stdin runs beside the output: a command may answer before it read everything.
  const stdinDone = pumpStdin(s, o.stdin).catch(() => undefined);
  const detach = onAbort(s, o.signal);
  try {
    const r = await readOutput(s, o);
    if (timedOut) {
      throw new TimeoutError('timeout', `command ${JSON.stringify(req.argv)} did not finish within ${o.timeoutMs} ms: killed`);
    }
    const asText = (o.encoding ?? 'utf8') === 'utf8';
    return {
      exitCode: r.exit.code,
      signaled: r.exit.signaled,
      signal: r.exit.signo,
      stdout: asText ? r.stdout.toString('utf8') : r.stdout,
      stderr: asText ? r.stderr.toString('utf8') : r.stderr,
    };
  } catch (e) {
    if (o.signal?.aborted) throw o.signal.reason;
    if (timedOut) {
      throw new TimeoutError('timeout', `command ${JSON.stringify(req.argv)} did not finish within ${o.timeoutMs} ms`);
    }
    throw e;
  } finally {
    detach();
    clearTimeout(timer);
    clearTimeout(killTimer);
    s.close();
    void stdinDone; // ends by itself: sends stop once the stream is closed
  }
}

/**
 * A command started with vm.spawn(): write to its stdin, signal it, resize
 * its terminal, and wait for its exit. Output goes to the callbacks (and is
 * collected unless `collect: false`).
 */
export class ExecProcess {
  private readonly done: Promise<ExecResult<Buffer>>;

  /** @internal */
  constructor(
    private readonly s: Stream,
    private readonly argv: string[],
    o: Omit<ExecOptions, 'stdin' | 'timeoutMs' | 'encoding'>,
  ) {
    const detach = onAbort(s, o.signal);
    this.done = readOutput(s, o)
      .then((r) => ({
        exitCode: r.exit.code,
        signaled: r.exit.signaled,
        signal: r.exit.signo,
        stdout: r.stdout,
        stderr: r.stderr,
      }))
      .catch((e: unknown) => {
        throw o.signal?.aborted ? o.signal.reason : e;
      })
      .finally(() => {
        detach();
        s.close();
      });
    // A caller that only writes must not see an unhandled rejection here.
    this.done.catch(() => undefined);
  }

  /** Sends bytes to the command's stdin (waits while the socket's buffer is full). */
  async write(data: string | Uint8Array): Promise<void> {
    await this.s.sendStdin(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  }

  /** Closes the command's stdin (EOF). */
  async end(): Promise<void> {
    await this.s.send(MsgType.stdinEof);
  }

  /** Sends a signal (default SIGTERM, 15). */
  async kill(signo = 15): Promise<void> {
    if (!Number.isInteger(signo) || signo < 1 || signo > 64) throw invalid('signal must be 1..64');
    await this.s.send(MsgType.signal, Uint8Array.of(signo));
  }

  /** Resizes the command's terminal (tty: true). */
  async resize(rows: number, cols: number): Promise<void> {
    for (const [k, v] of [['rows', rows], ['cols', cols]] as const) {
      if (!Number.isInteger(v) || v < 1 || v > 65535) throw invalid(`${k} must be 1..65535`);
    }
    const b = Buffer.alloc(4);
    b.writeUInt16BE(rows, 0);
    b.writeUInt16BE(cols, 2);
    await this.s.send(MsgType.resize, b);
  }

  /** Resolves with the exit and the collected output once the command ended. */
  wait(): Promise<ExecResult<Buffer>> {
    return this.done;
  }

  /** The command as it was started. */
  get command(): string[] {
    return [...this.argv];
  }
}

export async function spawnExec(
  socketPath: string,
  vmRef: string,
  cmd: string | string[],
  o: Omit<ExecOptions, 'stdin' | 'timeoutMs' | 'encoding'>,
): Promise<ExecProcess> {
  const req = execRequest(cmd, o);
  o.signal?.throwIfAborted();
  const s = await Stream.open({ socketPath, path: `/v1/vms/${seg(vmRef)}/exec`, open: req });
  return new ExecProcess(s, req.argv ?? [], o);
}
