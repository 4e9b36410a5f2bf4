// The API's streams: a WebSocket on the daemon's socket (docs/api.md
// "Streams"). The client may send one text message (the opening JSON
// request); every other message is binary, [type u8][payload].

import * as net from 'node:net';

import WebSocket from 'ws';

import { BangerError, InternalError, errorFor, errorFromBody } from './errors.js';
import { connectError } from './transport.js';
import type { ExitStatus } from './types.js';

export type { ExitStatus };

export const MsgType = {
  stdin: 1,
  stdout: 2,
  stderr: 3,
  stdinEof: 4,
  exit: 5,
  signal: 6,
  resize: 7,
  error: 8,
  progress: 9,
  result: 10,
  event: 11,
} as const;

/** The daemon accepts at most 1 MiB of payload per message. */
export const MAX_PAYLOAD = 1 << 20;
/** What is sent per stdin message (smaller than the limit, so the pipe stays busy). */
const STDIN_CHUNK = 256 * 1024;
/** How much may wait in the socket's buffer before a sender waits for it to drain. */
const HIGH_WATER = 1 << 20;

export type Frame = { type: number; payload: Buffer };

export interface OpenStreamOptions {
  socketPath: string;
  path: string;
  /** The opening request, sent as the first (text) message. */
  open?: unknown;
  /** Deadline for the handshake (ms). */
  handshakeTimeoutMs?: number;
}

/**
 * One WebSocket stream. Messages are pulled with next(): while nobody pulls,
 * the socket is paused, so the daemon (and the guest behind it) is
 * back-pressured instead of this process buffering without bound.
 */
export class Stream {
  private readonly queue: Frame[] = [];
  private waiter: ((f: Frame | null) => void) | undefined;
  private failure: BangerError | undefined;
  private closed = false;

  private constructor(
    readonly ws: WebSocket,
    readonly what: string,
  ) {
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onMessage(data, isBinary));
    ws.on('close', () => {
      this.closed = true;
      this.wake(null);
    });
    ws.on('error', (err) => {
      this.failure ??= err instanceof BangerError ? err : new BangerError('unavailable', `${what}: ${err.message}`);
      this.closed = true;
      this.wake(null);
    });
  }

  static open(opts: OpenStreamOptions): Promise<Stream> {
    return new Promise<Stream>((resolve, reject) => {
      const ws = new WebSocket(`ws://localhost${opts.path}`, {
        createConnection: () => net.connect(opts.socketPath),
        handshakeTimeout: opts.handshakeTimeoutMs ?? 30_000,
        perMessageDeflate: false,
        maxPayload: MAX_PAYLOAD + 16,
      });
      let settled = false;
      const fail = (err: BangerError) => {
        if (settled) return;
        settled = true;
        ws.terminate();
        reject(err);
      };
      // An error known before the upgrade is a plain HTTP JSON error.
      ws.on('unexpected-response', (_req, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => fail(errorFromBody(res.statusCode ?? 0, Buffer.concat(chunks))));
        res.on('error', () => fail(errorFromBody(res.statusCode ?? 0, Buffer.concat(chunks))));
      });
      ws.once('error', (err) => fail(connectError(opts.socketPath, err)));
      ws.once('open', () => {
        if (settled) return;
        settled = true;
        const s = new Stream(ws, opts.path.split('?')[0] ?? opts.path);
        if (opts.open !== undefined) ws.send(JSON.stringify(opts.open), { binary: false });
        resolve(s);
      });
    });
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (!isBinary || data.length < 1) {
      this.failure ??= new InternalError('internal', `${this.what}: the daemon sent a message that is not a frame`);
      this.ws.terminate();
      return;
    }
    const frame = { type: data[0] as number, payload: data.subarray(1) };
    if (this.waiter) {
      this.wake(frame);
    } else {
      this.queue.push(frame);
      // Nobody is reading: stop reading the socket until someone does.
      if (this.queue.length >= 8) this.ws.pause();
    }
  }

  private wake(f: Frame | null): void {
    const w = this.waiter;
    this.waiter = undefined;
    if (w) w(f);
  }

  /** The next message, or null when the stream ended (then `failure` says whether badly). */
  next(): Promise<Frame | null> {
    const f = this.queue.shift();
    if (f) {
      if (this.queue.length < 4) this.ws.resume();
      return Promise.resolve(f);
    }
    if (this.closed) return Promise.resolve(null);
    this.ws.resume();
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  get error(): BangerError | undefined {
    return this.failure;
  }

  /** Sends one binary message [type][payload], waiting while the socket's buffer is full. */
  async send(type: number, payload?: Uint8Array): Promise<void> {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    const msg = Buffer.allocUnsafe(1 + (payload?.length ?? 0));
    msg[0] = type;
    if (payload) msg.set(payload, 1);
    await new Promise<void>((resolve, reject) => {
      this.ws.send(msg, { binary: true }, (err) => (err ? reject(err) : resolve()));
      // Resolve early while the buffer is small: the callback fires only once
      // the bytes are written, which would serialize small messages needlessly.
      if (this.ws.bufferedAmount < HIGH_WATER) resolve();
    });
  }

  /** Sends bytes as stdin messages of at most STDIN_CHUNK. */
  async sendStdin(data: Uint8Array): Promise<void> {
    for (let off = 0; off < data.length; off += STDIN_CHUNK) {
      await this.send(MsgType.stdin, data.subarray(off, Math.min(off + STDIN_CHUNK, data.length)));
    }
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.close(1000);
      // The daemon answers the close; if it does not, drop the socket.
      setTimeout(() => this.ws.terminate(), 2000).unref();
    }
  }

  terminate(): void {
    this.ws.terminate();
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

/** JSON of an `exit`, `error` or `result` payload. */
export function parsePayload<T>(what: string, payload: Buffer): T {
  try {
    return JSON.parse(payload.toString('utf8')) as T;
  } catch {
    throw new InternalError('internal', `${what}: the daemon sent a malformed message`);
  }
}

/** The typed error of an `error` message. */
export function streamError(what: string, payload: Buffer): BangerError {
  const e = parsePayload<{ code?: unknown; message?: unknown }>(what, payload);
  if (typeof e.code !== 'string' || typeof e.message !== 'string') {
    return new InternalError('internal', `${what}: the daemon sent a malformed error`);
  }
  return errorFor(e.code, e.message);
}

/** Error for a stream that ended without its last message. */
export function endedEarly(s: Stream): BangerError {
  return s.error ?? new BangerError('unavailable', `${s.what}: the stream ended before its last message`);
}
