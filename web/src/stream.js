// The API's streams over WebSocket (docs/api.md, "Streams"): an optional
// opening JSON text message, then binary messages [type u8][payload].
export const T = Object.freeze({
  stdin: 1, stdout: 2, stderr: 3, stdinEof: 4, exit: 5, signal: 6, resize: 7,
  error: 8, progress: 9, result: 10, event: 11,
});

const decoder = new TextDecoder();
export function json(payload) {
  try {
    return JSON.parse(decoder.decode(payload));
  } catch {
    return {};
  }
}

// Opens `path` (with its query) on this page's own listener. handlers:
//   onOpen(), onMessage(type, payload: Uint8Array),
//   onClose({opened, code, reason}) once, however it ends.
// Returns {send(type, bytes), close()}.
export function openStream(path, open, handlers) {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const ws = new WebSocket(scheme + location.host + path);
  ws.binaryType = "arraybuffer";
  let opened = false;
  let closed = false;
  ws.onopen = () => {
    opened = true;
    if (open !== undefined) ws.send(JSON.stringify(open));
    if (handlers.onOpen) handlers.onOpen();
  };
  ws.onmessage = (ev) => {
    if (typeof ev.data === "string") return;  // the daemon sends only binary messages
    const b = new Uint8Array(ev.data);
    if (b.length) handlers.onMessage(b[0], b.subarray(1));
  };
  ws.onclose = (ev) => {
    if (closed) return;
    closed = true;
    if (handlers.onClose) handlers.onClose({ opened, code: ev.code, reason: ev.reason });
  };
  return {
    send(type, payload) {
      if (ws.readyState !== WebSocket.OPEN) return;
      const p = payload || new Uint8Array(0);
      const m = new Uint8Array(1 + p.length);
      m[0] = type;
      m.set(p, 1);
      ws.send(m);
    },
    close() {
      if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close(1000);
    },
  };
}

export function resizePayload(rows, cols) {
  const p = new Uint8Array(4);
  new DataView(p.buffer).setUint16(0, rows);
  new DataView(p.buffer).setUint16(2, cols);
  return p;
}
