"""A minimal WebSocket server side for tests: reads client frames, writes raw ones."""

from __future__ import annotations

import socket
import struct

from banger import _ws


class ServerEnd:
    """The server's end of a socket: handshake, frames in (must be masked), frames out."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        sock.settimeout(10)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def read_request(self) -> tuple[str, dict[str, str]]:
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise EOFError("client closed before the request head")
        end = self.buf.index(b"\r\n\r\n")
        lines = self.buf[:end].decode().split("\r\n")
        del self.buf[: end + 4]
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        return lines[0], headers

    def accept(self, accept_override: str | None = None, extra: bytes = b"") -> tuple[str, dict[str, str]]:
        line, headers = self.read_request()
        accept = accept_override if accept_override is not None else _ws.accept_key(headers["sec-websocket-key"])
        self.sock.sendall(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
            ).encode()
            + extra
        )
        return line, headers

    def reject(self, status: int, body: bytes) -> None:
        self.read_request()
        self.sock.sendall(
            f"HTTP/1.1 {status} Nope\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )

    def read_frame(self) -> tuple[bool, int, bytes, bool]:
        """(fin, opcode, unmasked payload, was_masked)."""
        while True:
            buf = self.buf
            if len(buf) >= 2:
                n = buf[1] & 0x7F
                pos = 2
                if n == 126 and len(buf) >= 4:
                    n, pos = struct.unpack_from("!H", buf, 2)[0], 4
                elif n == 127 and len(buf) >= 10:
                    n, pos = struct.unpack_from("!Q", buf, 2)[0], 10
                elif n >= 126:
                    n = -1
                masked = bool(buf[1] & 0x80)
                need = pos + (4 if masked else 0) + n
                if n >= 0 and len(buf) >= need:
                    mask = bytes(buf[pos : pos + 4]) if masked else None
                    start = pos + (4 if masked else 0)
                    payload = bytes(buf[start:need])
                    if mask:
                        payload = _ws.mask_bytes(mask, payload)
                    fin, op = bool(buf[0] & 0x80), buf[0] & 0x0F
                    del buf[:need]
                    return fin, op, payload, masked
            if not self._fill():
                raise EOFError("client closed")

    def read_message(self) -> tuple[int, bytes]:
        """A whole data message (control frames other than close are skipped)."""
        opcode = None
        parts = []
        while True:
            fin, op, payload, masked = self.read_frame()
            assert masked, "client frame not masked"
            if op == _ws.OP_CLOSE:
                return op, payload
            if op in (_ws.OP_PING, _ws.OP_PONG):
                continue
            if op != _ws.OP_CONT:
                opcode = op
            parts.append(payload)
            if fin:
                assert opcode is not None
                return opcode, b"".join(parts)

    def send_frame(self, op: int, payload: bytes, fin: bool = True, rsv: int = 0, mask: bytes | None = None) -> None:
        frame = bytearray(_ws.encode_frame(op, payload, fin=fin, mask=mask))
        frame[0] |= rsv
        self.sock.sendall(bytes(frame))

    def send_close(self, code: int = 1000, reason: bytes = b"") -> None:
        self.send_frame(_ws.OP_CLOSE, struct.pack("!H", code) + reason)

    def close(self) -> None:
        self.sock.close()
