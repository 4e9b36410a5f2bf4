"""HTTP/1.1 over the daemon's Unix socket (http.client), and WebSocket streams on it."""

from __future__ import annotations

import http.client
import json
import os
import socket
import struct
from dataclasses import dataclass
from typing import Any, Mapping

from . import _ws
from .errors import BangerError, BangerTimeoutError, InternalError, UnavailableError, error_from_body, error_from_frame

# Stream message types (docs/api.md "Streams"): [type u8][payload] binary messages.
T_STDIN = 1
T_STDOUT = 2
T_STDERR = 3
T_STDIN_EOF = 4
T_EXIT = 5
T_SIGNAL = 6
T_RESIZE = 7
T_ERROR = 8
T_PROGRESS = 9
T_RESULT = 10
T_EVENT = 11

# The daemon accepts messages of at most 1 MiB + the type byte.
MAX_CLIENT_PAYLOAD = 1 << 20
STDIN_CHUNK = 64 << 10


def default_socket_path() -> str:
    """The daemon's socket: BANGER_SOCKET, else $BANGER_HOME/bangerd.sock, else the default home's."""
    env = os.environ.get("BANGER_SOCKET")
    if env:
        return env
    home = os.environ.get("BANGER_HOME")
    if home:
        return os.path.join(os.path.abspath(home), "bangerd.sock")
    if os.geteuid() == 0:
        return "/var/lib/banger/bangerd.sock"
    user_home = os.environ.get("HOME") or "/tmp"
    return os.path.join(user_home, ".local/share/banger/bangerd.sock")


class UnixHTTPConnection(http.client.HTTPConnection):
    """An HTTPConnection to a Unix socket (the Host header says ``localhost``)."""

    def __init__(self, socket_path: str, timeout: float | None = None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise InternalError("internal", f"the daemon answered malformed JSON: {e}", self.status) from e


class Transport:
    """Requests to one daemon socket: one connection per request (cheap on a Unix socket)."""

    def __init__(self, socket_path: str, timeout: float) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    def _unreachable(self, e: OSError) -> BangerError:
        return UnavailableError(
            "unavailable", f"cannot reach bangerd at {self.socket_path}: {e.strerror or e} (is the daemon running?)"
        )

    def request(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Response:
        """One request; a non-2xx answer raises the matching :class:`BangerError`."""
        conn = UnixHTTPConnection(self.socket_path, timeout=timeout if timeout is not None else self.timeout)
        try:
            try:
                conn.connect()
            except (FileNotFoundError, ConnectionRefusedError, PermissionError) as e:
                raise self._unreachable(e) from e
            hdrs = dict(headers or {})
            if body is not None and "Content-Type" not in hdrs:
                hdrs["Content-Type"] = "application/json"
            conn.request(method, target, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            out = Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        except socket.timeout as e:
            raise BangerTimeoutError("timeout", f"{method} {target}: no answer from bangerd in time") from e
        except BangerError:
            raise
        except (OSError, http.client.HTTPException) as e:
            raise UnavailableError("unavailable", f"{method} {target}: connection to bangerd failed: {e}") from e
        finally:
            conn.close()
        if not 200 <= out.status < 300:
            raise error_from_body(out.status, out.body)
        return out

    def call(self, method: str, target: str, body: Any = None, timeout: float | None = None) -> Any:
        """A JSON request and its JSON answer."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        if data is None and method in ("POST", "PUT", "PATCH"):
            data = b"{}"
        return self.request(method, target, data, timeout=timeout).json()

    def stream(self, target: str, timeout: float | None = None) -> Stream:
        """Opens the WebSocket stream at ``target``; an answer before the upgrade raises its error."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            try:
                sock.settimeout(timeout if timeout is not None else self.timeout)
                sock.connect(self.socket_path)
            except (FileNotFoundError, ConnectionRefusedError, PermissionError) as e:
                raise self._unreachable(e) from e
            ws = _ws.WebSocket(sock, max_message=MAX_CLIENT_PAYLOAD + 1 + 4096, fragment_size=MAX_CLIENT_PAYLOAD + 1)
            try:
                ws.handshake(target, timeout=timeout if timeout is not None else self.timeout)
            except _ws.HandshakeRejected as e:
                raise error_from_body(e.status, e.body) from None
            except _ws.WebSocketTimeout as e:
                raise BangerTimeoutError("timeout", f"GET {target}: no websocket upgrade in time") from e
            except _ws.WebSocketError as e:
                raise UnavailableError("unavailable", f"GET {target}: {e}") from e
        except BaseException:
            sock.close()
            raise
        return Stream(ws, target)


class Stream:
    """One API stream: typed binary messages over a WebSocket."""

    def __init__(self, ws: _ws.WebSocket, target: str) -> None:
        self.ws = ws
        self.target = target

    def send_json(self, obj: Any) -> None:
        self._guard(lambda: self.ws.send(json.dumps(obj)))

    def send(self, mtype: int, payload: bytes = b"") -> None:
        if len(payload) > MAX_CLIENT_PAYLOAD:
            raise ValueError("stream payload larger than 1 MiB")
        self._guard(lambda: self.ws.send(bytes([mtype]) + payload))

    def send_stdin(self, data: bytes) -> None:
        for i in range(0, len(data), STDIN_CHUNK):
            self.send(T_STDIN, data[i : i + STDIN_CHUNK])

    def send_resize(self, rows: int, cols: int) -> None:
        self.send(T_RESIZE, struct.pack("!HH", rows, cols))

    def _guard(self, fn: Any) -> None:
        try:
            fn()
        except _ws.WebSocketTimeout as e:
            raise BangerTimeoutError("timeout", f"{self.target}: write deadline passed") from e
        except _ws.WebSocketError as e:
            raise UnavailableError("unavailable", f"{self.target}: stream broken: {e}") from e

    def next(self, timeout: float | None = None) -> tuple[int, bytes] | None:
        """The next typed message; None when the daemon closed the stream.

        An ``error`` message raises its typed error. Raises
        :class:`BangerTimeoutError` if ``timeout`` seconds pass first.
        """
        while True:
            try:
                msg = self.ws.recv(timeout=timeout)
            except _ws.WebSocketTimeout as e:
                raise BangerTimeoutError("timeout", f"{self.target}: no message in time") from e
            except _ws.WebSocketError as e:
                raise UnavailableError("unavailable", f"{self.target}: stream broken: {e}") from e
            if msg is None:
                return None
            if msg.is_text or not msg.data:
                continue  # nothing the protocol defines: ignored
            mtype, payload = msg.data[0], msg.data[1:]
            if mtype == T_ERROR:
                raise error_from_frame(payload)
            return mtype, payload

    def close(self) -> None:
        self.ws.close()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
