"""A small WebSocket client (RFC 6455) on an already connected socket.

Standard library only. What it does: the opening handshake (a random
Sec-WebSocket-Key, the server's Sec-WebSocket-Accept checked), client frames
masked with os.urandom, messages split into continuation frames on the way
out and joined on the way in, pings answered with pongs, the close handshake,
and a cap on the size of a received message (close 1009 above it).

A WebSocket may be read by one thread while another sends (exec feeds stdin
while reading output): sends are serialized by a lock, receives are not
meant to be concurrent.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Mapping

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

CLOSE_NORMAL = 1000
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_DATA = 1007
CLOSE_TOO_BIG = 1009

DEFAULT_MAX_MESSAGE = 16 << 20
DEFAULT_FRAGMENT_SIZE = 1 << 20
MAX_HEAD_BYTES = 64 << 10


class WebSocketError(Exception):
    """The connection failed or broke the protocol; ``close_code`` says how."""

    def __init__(self, message: str, close_code: int | None = None) -> None:
        super().__init__(message)
        self.close_code = close_code


class WebSocketTimeout(WebSocketError):
    """No message arrived before the deadline."""


class HandshakeRejected(WebSocketError):
    """The server answered the upgrade with a plain HTTP response."""

    def __init__(self, status: int, reason: str, headers: dict[str, str], body: bytes) -> None:
        super().__init__(f"websocket upgrade refused: HTTP {status} {reason}")
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body


@dataclass(frozen=True)
class Message:
    """One whole message: ``opcode`` is OP_TEXT or OP_BINARY."""

    opcode: int
    data: bytes

    @property
    def is_text(self) -> bool:
        return self.opcode == OP_TEXT

    def text(self) -> str:
        return self.data.decode("utf-8")


def accept_key(key: str) -> str:
    """The Sec-WebSocket-Accept value a server must answer for ``key``."""
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def mask_bytes(mask: bytes, data: bytes) -> bytes:
    """XORs ``data`` with the 4-byte ``mask`` repeated (masking and unmasking)."""
    if not data:
        return b""
    n = len(data)
    repeated = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(repeated, "little")).to_bytes(n, "little")


def encode_frame(opcode: int, payload: bytes, fin: bool = True, mask: bytes | None = None) -> bytes:
    """One frame; masked with ``mask`` (4 bytes) when given (clients always mask)."""
    head = bytearray([(0x80 if fin else 0) | opcode])
    mask_bit = 0x80 if mask is not None else 0
    n = len(payload)
    if n < 126:
        head.append(mask_bit | n)
    elif n < 1 << 16:
        head.append(mask_bit | 126)
        head += struct.pack("!H", n)
    else:
        head.append(mask_bit | 127)
        head += struct.pack("!Q", n)
    if mask is None:
        return bytes(head) + payload
    return bytes(head) + mask + mask_bytes(mask, payload)


def _parse_head(head: bytes) -> tuple[int, str, dict[str, str]]:
    lines = head.decode("iso-8859-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise WebSocketError(f"malformed HTTP status line: {lines[0][:100]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise WebSocketError(f"malformed HTTP header line: {line[:100]!r}")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), parts[2] if len(parts) > 2 else "", headers


class WebSocket:
    """A client WebSocket on ``sock`` (call :meth:`handshake` first)."""

    def __init__(
        self,
        sock: socket.socket,
        max_message: int = DEFAULT_MAX_MESSAGE,
        fragment_size: int = DEFAULT_FRAGMENT_SIZE,
    ) -> None:
        if max_message < 1 or fragment_size < 1:
            raise ValueError("max_message and fragment_size must be positive")
        self._sock = sock
        self._buf = bytearray()
        self._send_lock = threading.Lock()
        self.max_message = max_message
        self.fragment_size = fragment_size
        self.close_code: int | None = None  # the peer's close code, once closed
        self.close_reason = ""
        self._closed = False  # no more frames will be read
        self._close_sent = False
        self._msg_op: int | None = None  # the message being joined from fragments
        self._msg_parts: list[bytes] = []
        self._msg_size = 0

    # -- handshake -----------------------------------------------------------

    def handshake(
        self,
        target: str,
        host: str = "localhost",
        headers: Mapping[str, str] | None = None,
        timeout: float | None = 30.0,
    ) -> dict[str, str]:
        """Sends the upgrade request for ``target`` and checks the answer.

        Returns the response headers. A non-101 answer raises
        :class:`HandshakeRejected` with its status and body.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        lines = [
            f"GET {target} HTTP/1.1",
            f"Host: {host}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        for name, value in (headers or {}).items():
            if any(c in name + value for c in "\r\n"):
                raise ValueError("header names and values must not contain CR or LF")
            lines.append(f"{name}: {value}")
        self._sendall(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"), deadline)

        while b"\r\n\r\n" not in self._buf:
            if len(self._buf) > MAX_HEAD_BYTES:
                raise WebSocketError("HTTP response head too large")
            if not self._fill(deadline):
                raise WebSocketError("connection closed during the websocket handshake")
        end = self._buf.index(b"\r\n\r\n")
        head = bytes(self._buf[:end])
        del self._buf[: end + 4]
        status, reason, resp_headers = _parse_head(head)
        if status != 101:
            body = self._read_body(resp_headers, deadline)
            self._finish()
            raise HandshakeRejected(status, reason, resp_headers, body)
        if resp_headers.get("upgrade", "").lower() != "websocket":
            raise WebSocketError("websocket upgrade: missing Upgrade: websocket")
        if "upgrade" not in [t.strip().lower() for t in resp_headers.get("connection", "").split(",")]:
            raise WebSocketError("websocket upgrade: missing Connection: Upgrade")
        if resp_headers.get("sec-websocket-accept", "") != accept_key(key):
            raise WebSocketError("websocket upgrade: wrong Sec-WebSocket-Accept")
        return resp_headers

    def _read_body(self, headers: dict[str, str], deadline: float | None) -> bytes:
        length = headers.get("content-length")
        if length is not None and length.isdigit():
            n = min(int(length), 1 << 20)
            while len(self._buf) < n:
                if not self._fill(deadline):
                    break
            return bytes(self._buf[:n])
        # No length: read until the server closes (bounded).
        while len(self._buf) < (1 << 20) and self._fill(deadline):
            pass
        return bytes(self._buf)

    # -- socket helpers ------------------------------------------------------

    def _settimeout(self, deadline: float | None) -> None:
        if deadline is None:
            self._sock.settimeout(None)
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise WebSocketTimeout("websocket: deadline passed")
        self._sock.settimeout(left)

    def _fill(self, deadline: float | None) -> bool:
        """Reads more bytes into the buffer; False at the end of the stream."""
        self._settimeout(deadline)
        try:
            chunk = self._sock.recv(1 << 16)
        except socket.timeout as e:
            raise WebSocketTimeout("websocket: deadline passed") from e
        except OSError as e:
            raise WebSocketError(f"websocket: read failed: {e}") from e
        if not chunk:
            return False
        self._buf += chunk
        return True

    def _sendall(self, data: bytes, deadline: float | None = None) -> None:
        self._settimeout(deadline)
        try:
            self._sock.sendall(data)
        except socket.timeout as e:
            raise WebSocketTimeout("websocket: write deadline passed") from e
        except OSError as e:
            raise WebSocketError(f"websocket: write failed: {e}") from e

    # -- sending -------------------------------------------------------------

    def _send_frame(self, opcode: int, payload: bytes, fin: bool = True) -> None:
        frame = encode_frame(opcode, payload, fin=fin, mask=os.urandom(4))
        self._sendall(frame)

    def send(self, data: bytes | str, timeout: float | None = None) -> None:
        """Sends one message: text for ``str``, binary for ``bytes``.

        Messages longer than ``fragment_size`` go as continuation frames.
        """
        if isinstance(data, str):
            opcode, payload = OP_TEXT, data.encode("utf-8")
        else:
            opcode, payload = OP_BINARY, bytes(data)
        with self._send_lock:
            if self._close_sent:
                raise WebSocketError("websocket: already closed")
            deadline = None if timeout is None else time.monotonic() + timeout
            step = self.fragment_size
            i = 0
            while True:
                part = payload[i : i + step]
                last = i + step >= len(payload)
                frame = encode_frame(opcode if i == 0 else OP_CONT, part, fin=last, mask=os.urandom(4))
                self._sendall(frame, deadline)
                if last:
                    return
                i += step

    def ping(self, payload: bytes = b"") -> None:
        if len(payload) > 125:
            raise ValueError("ping payload must be at most 125 bytes")
        with self._send_lock:
            self._send_frame(OP_PING, payload)

    def _send_close(self, code: int, reason: str = "") -> None:
        with self._send_lock:
            if self._close_sent:
                return
            self._close_sent = True
            payload = struct.pack("!H", code) + reason.encode("utf-8")[:123]
            try:
                self._sock.settimeout(5.0)
                self._sock.sendall(encode_frame(OP_CLOSE, payload, mask=os.urandom(4)))
            except OSError:
                pass

    def _finish(self) -> None:
        """No more frames will be read: the socket is closed."""
        self._closed = True
        try:
            self._sock.close()
        except OSError:
            pass

    def _fail(self, code: int, why: str) -> WebSocketError:
        self._send_close(code, why)
        self._finish()
        return WebSocketError(f"websocket: {why}", close_code=code)

    # -- receiving -----------------------------------------------------------

    def _parse_frame(self) -> tuple[bool, int, bytes] | None:
        """One whole frame taken from the buffer, or None (nothing consumed) if incomplete."""
        buf = self._buf
        if len(buf) < 2:
            return None
        b0, b1 = buf[0], buf[1]
        if b0 & 0x70:
            raise self._fail(CLOSE_PROTOCOL_ERROR, "reserved bits set")
        if b1 & 0x80:
            raise self._fail(CLOSE_PROTOCOL_ERROR, "masked frame from the server")
        op = b0 & 0x0F
        n = b1 & 0x7F
        pos = 2
        if n == 126:
            if len(buf) < 4:
                return None
            n = struct.unpack_from("!H", buf, 2)[0]
            pos = 4
        elif n == 127:
            if len(buf) < 10:
                return None
            n = struct.unpack_from("!Q", buf, 2)[0]
            pos = 10
            if n >> 63:
                raise self._fail(CLOSE_PROTOCOL_ERROR, "frame length out of range")
        if op >= 0x8 and (not b0 & 0x80 or n > 125):
            raise self._fail(CLOSE_PROTOCOL_ERROR, "bad control frame")
        if op < 0x8 and self._msg_size + n > self.max_message:
            raise self._fail(CLOSE_TOO_BIG, f"message larger than {self.max_message} bytes")
        if len(buf) < pos + n:
            return None
        payload = bytes(buf[pos : pos + n])
        del buf[: pos + n]
        return bool(b0 & 0x80), op, payload

    def recv(self, timeout: float | None = None) -> Message | None:
        """The next whole message, or None once the peer closed (the close is answered).

        Pings are answered on the way. Raises :class:`WebSocketTimeout` when
        ``timeout`` seconds pass first (nothing is lost: a later call goes
        on), :class:`WebSocketError` on a broken connection or a protocol
        violation (the connection is closed with the matching code, 1009 for
        a message above ``max_message``).
        """
        if self._closed:
            return None
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            frame = self._parse_frame()
            if frame is None:
                if not self._fill(deadline):
                    self._finish()
                    raise WebSocketError("websocket: connection closed without a close frame")
                continue
            fin, op, payload = frame
            if op == OP_PING:
                with self._send_lock:
                    if not self._close_sent:
                        self._send_frame(OP_PONG, payload)
                continue
            if op == OP_PONG:
                continue
            if op == OP_CLOSE:
                return self._on_close(payload)
            if op == OP_CONT:
                if self._msg_op is None:
                    raise self._fail(CLOSE_PROTOCOL_ERROR, "continuation frame without a message")
            elif op in (OP_TEXT, OP_BINARY):
                if self._msg_op is not None:
                    raise self._fail(CLOSE_PROTOCOL_ERROR, "new message inside a fragmented one")
                self._msg_op = op
            else:
                raise self._fail(CLOSE_PROTOCOL_ERROR, f"unknown opcode {op}")
            self._msg_parts.append(payload)
            self._msg_size += len(payload)
            if not fin:
                continue
            opcode, data = self._msg_op, b"".join(self._msg_parts)
            self._msg_op, self._msg_parts, self._msg_size = None, [], 0
            if opcode == OP_TEXT:
                try:
                    data.decode("utf-8")
                except UnicodeDecodeError:
                    raise self._fail(CLOSE_INVALID_DATA, "text message is not UTF-8") from None
            return Message(opcode, data)

    def _on_close(self, payload: bytes) -> None:
        if len(payload) == 1:
            raise self._fail(CLOSE_PROTOCOL_ERROR, "bad close frame")
        code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        self.close_code = code
        self.close_reason = payload[2:].decode("utf-8", "replace")
        # Echo the peer's code (RFC 6455 5.5.1); 1005 is never sent on the wire.
        self._send_close(code if code != 1005 else CLOSE_NORMAL)
        self._finish()
        return None

    # -- closing -------------------------------------------------------------

    def close(self, code: int = CLOSE_NORMAL, reason: str = "", wait: float = 2.0) -> None:
        """Sends a close frame, waits up to ``wait`` s for the peer's, closes the socket."""
        try:
            if not self._close_sent:
                self._send_close(code, reason)
                deadline = time.monotonic() + wait
                while not self._closed and time.monotonic() < deadline:
                    try:
                        if self.recv(timeout=max(0.0, deadline - time.monotonic())) is None:
                            break
                    except WebSocketError:
                        break
        finally:
            self._closed = True
            try:
                self._sock.close()
            except OSError:
                pass

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> WebSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
