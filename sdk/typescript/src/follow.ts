// Follow streams as async iterators: the events stream and a VM's console.
// The iterator pulls one message at a time; while the caller does not pull,
// the socket is paused and the daemon's writes wait (back pressure).

import { MsgType, Stream, endedEarly, parsePayload, streamError } from './stream.js';
import type { BangerEvent, ConsoleResult } from './types.js';

/** Every event after a sequence number, then live ones, until close() or a break out of `for await`. */
export class EventStream implements AsyncIterable<BangerEvent> {
  constructor(private readonly s: Stream) {}

  async *[Symbol.asyncIterator](): AsyncIterator<BangerEvent> {
    try {
      for (;;) {
        const f = await this.s.next();
        if (f === null) {
          if (this.closedByUs) return;
          throw endedEarly(this.s);
        }
        if (f.type === MsgType.event) yield parsePayload<BangerEvent>(this.s.what, f.payload);
        else if (f.type === MsgType.error) throw streamError(this.s.what, f.payload);
      }
    } finally {
      this.close();
    }
  }

  private closedByUs = false;

  /** Ends the stream (a pending iteration then finishes). */
  close(): void {
    this.closedByUs = true;
    this.s.close();
  }
}

/**
 * A VM's console output from an offset, following it until the VM has
 * stopped and everything was sent; then `result` says where to continue.
 */
export class ConsoleStream implements AsyncIterable<Buffer> {
  private resolveResult!: (r: ConsoleResult | null) => void;
  /** Resolves once the stream ended: the `result` message, or null when it ended otherwise. */
  readonly result: Promise<ConsoleResult | null>;
  private closedByUs = false;

  constructor(private readonly s: Stream) {
    this.result = new Promise((resolve) => {
      this.resolveResult = resolve;
    });
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    try {
      for (;;) {
        const f = await this.s.next();
        if (f === null) {
          if (this.closedByUs) return;
          throw endedEarly(this.s);
        }
        switch (f.type) {
          case MsgType.stdout:
            yield f.payload;
            break;
          case MsgType.result:
            this.resolveResult(parsePayload<ConsoleResult>(this.s.what, f.payload));
            return;
          case MsgType.error:
            throw streamError(this.s.what, f.payload);
          default:
            break;
        }
      }
    } finally {
      this.resolveResult(null);
      this.close();
    }
  }

  close(): void {
    this.closedByUs = true;
    this.s.close();
  }
}
