"""A VM and what can be done with it: exec, files, ports, sessions, snapshots, lifecycle."""

from __future__ import annotations

import io
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, Self, cast
from urllib.parse import quote, urlencode

from . import _check
from ._http import (
    STDIN_CHUNK,
    T_EXIT,
    T_RESULT,
    T_STDIN_EOF,
    T_STDERR,
    T_STDOUT,
    Stream,
)
from .errors import BangerError, BangerTimeoutError, InternalError, InvalidArgumentError
from .types import ExecResult, FileEntry, OutputChunk, Port, Snapshot

if TYPE_CHECKING:
    from .client import Client

OutputCallback = Callable[[bytes], None]
StdinSource = bytes | bytearray | str | BinaryIO


def _q(s: str) -> str:
    return quote(s, safe="")


def _dict(v: Any, what: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise InternalError("internal", f"the daemon answered {what} that is not a JSON object")
    return cast(dict[str, Any], v)


def _obj(v: Any) -> dict[str, Any]:
    """``v`` if it is a JSON object, else an empty one (optional nested objects)."""
    return cast(dict[str, Any], v) if isinstance(v, dict) else {}


def _list(v: Any, key: str) -> list[dict[str, Any]]:
    items = _dict(v, f"a {key} list").get(key)
    if not isinstance(items, list):
        raise InternalError("internal", f"the daemon's answer has no {key} list")
    return [_obj(i) for i in cast(list[Any], items) if isinstance(i, dict)]


class Vm:
    """A VM as last seen (``raw``: the API's VM object); its methods act on it by id."""

    def __init__(self, client: Client, raw: dict[str, Any]) -> None:
        self._client = client
        self.raw = raw
        self.files = Files(self)
        self.ports = Ports(self)
        self.sessions = Sessions(self)
        self.snapshots = Snapshots(self)

    def __repr__(self) -> str:
        return f"Vm(name={self.name!r}, id={self.id[:12]!r}, state={self.state!r})"

    # -- fields --------------------------------------------------------------
    @property
    def id(self) -> str:
        return str(self.raw.get("id", ""))

    @property
    def name(self) -> str:
        return str(self.raw.get("name", ""))

    @property
    def state(self) -> str:
        return str(self.raw.get("state", ""))

    @property
    def image_id(self) -> str:
        return str(self.raw.get("image_id", ""))

    @property
    def labels(self) -> dict[str, str]:
        return {k: str(v) for k, v in _obj(self.raw.get("labels")).items()}

    @property
    def guest_ip(self) -> str:
        return str(_obj(self.raw.get("runtime")).get("guest_ip", ""))

    @property
    def _path(self) -> str:
        return "/v1/vms/" + _q(self.id or self.name)

    def _update(self, raw: Any) -> Vm:
        self.raw = _dict(raw, "a VM")
        return self

    # -- lifecycle -----------------------------------------------------------
    def refresh(self) -> Vm:
        """Reads the VM again."""
        return self._update(self._client._t.call("GET", self._path))

    def start(self) -> Vm:
        return self._update(self._client._t.call("POST", self._path + "/start"))

    def stop(self, timeout: float | None = None, save: bool = False) -> Vm:
        """Stops the VM (graceful for ``timeout`` s, then forced); ``save``: suspend to disk."""
        body: dict[str, Any] = {}
        t = _check.timeout(timeout)
        if t is not None:
            body["timeout_ms"] = int(t * 1000)
        if save:
            body["save"] = True
        return self._update(self._client._t.call("POST", self._path + "/stop", body))

    def restart(self) -> Vm:
        return self._update(self._client._t.call("POST", self._path + "/restart"))

    def pause(self) -> Vm:
        return self._update(self._client._t.call("POST", self._path + "/pause"))

    def resume(self) -> Vm:
        return self._update(self._client._t.call("POST", self._path + "/resume"))

    def delete(self) -> bool:
        """Deletes the VM (a running one is forced off first)."""
        r = _dict(self._client._t.call("DELETE", self._path), "a delete answer")
        return bool(r.get("deleted"))

    def restore(self, snapshot: str | None = None) -> Vm:
        """Continues the VM from ``snapshot`` (default: the newest); it must not be running."""
        body: dict[str, Any] = {}
        if _check.opt_str(snapshot, "snapshot"):
            body["snapshot"] = snapshot
        return self._update(self._client._t.call("POST", self._path + "/restore", body))

    def fork(self, name: str, count: int | None = None) -> list[Vm]:
        """New running VMs continuing a snapshot of this one (``name``, or name-1..name-N)."""
        if not isinstance(name, str) or not name:
            raise _check.bad("fork name must be a non-empty string")
        body: dict[str, Any] = {"name": name}
        if _check.pos_int(count, "count") is not None:
            body["count"] = count
        r = self._client._t.call("POST", self._path + "/fork", body)
        return [Vm(self._client, v) for v in _list(r, "vms")]

    # -- exec ----------------------------------------------------------------
    def exec(
        self,
        cmd: list[str],
        stdin: StdinSource | None = None,
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        user: str | None = None,
        timeout: float | None = None,
        capture: bool = True,
    ) -> ExecResult:
        """Runs ``cmd`` (an argv list) in the guest and waits for it to end.

        ``stdin``: bytes, str or a binary file object fed to the command (then
        EOF; none: EOF at once). ``on_stdout``/``on_stderr`` get output as it
        arrives; with ``capture`` (default) it is also kept in the result.
        ``timeout`` (seconds) bounds the whole call: when it passes the
        command is hung up on (SIGHUP, then SIGKILL) and
        :class:`BangerTimeoutError` is raised. A non-zero exit is not an
        error: see ``exit_code``.
        """
        argv = _check.command(cmd)
        envs = _check.str_map(env, "env")
        _check.opt_str(cwd, "cwd")
        _check.opt_str(user, "user")
        limit = _check.timeout(timeout)
        if stdin is not None and not isinstance(stdin, (bytes, bytearray, str)) and not hasattr(stdin, "read"):
            raise _check.bad("stdin must be bytes, str or a binary file object")
        req: dict[str, Any] = {"argv": argv, "tty": False, "rows": 24, "cols": 80}
        if envs:
            req["env"] = envs
        if cwd:
            req["cwd"] = cwd
        if user:
            req["user"] = user
        if limit is not None:
            # The daemon's wait for a booting VM's agent: no longer than the call may take.
            req["timeout_ms"] = max(1, min(120_000, math.ceil(limit * 1000)))
        deadline = None if limit is None else time.monotonic() + limit

        stream = self._client._t.stream(f"{self._path}/exec", timeout=limit)
        feeder: threading.Thread | None = None
        try:
            stream.send_json(req)
            if stdin is None:
                stream.send(T_STDIN_EOF)
            elif isinstance(stdin, (bytes, bytearray, str)) and len(stdin) <= STDIN_CHUNK:
                data = stdin.encode("utf-8") if isinstance(stdin, str) else bytes(stdin)
                if data:
                    stream.send_stdin(data)
                stream.send(T_STDIN_EOF)
            else:
                # Fed by a thread while this one reads: a command echoing its
                # input must not stall on output nobody reads.
                feeder = threading.Thread(target=_feed_stdin, args=(stream, stdin), daemon=True)
                feeder.start()
            out: list[bytes] = []
            err: list[bytes] = []
            while True:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise BangerTimeoutError("timeout", f"exec {argv[:1]} in vm {self.name}: timed out after {limit} s")
                try:
                    msg = stream.next(timeout=left)
                except BangerTimeoutError:
                    raise BangerTimeoutError(
                        "timeout", f"exec {argv[:1]} in vm {self.name}: timed out after {limit} s"
                    ) from None
                if msg is None:
                    raise InternalError("internal", "the exec stream ended without the command's exit status")
                mtype, payload = msg
                if mtype == T_STDOUT:
                    if on_stdout is not None:
                        on_stdout(payload)
                    if capture:
                        out.append(payload)
                elif mtype == T_STDERR:
                    if on_stderr is not None:
                        on_stderr(payload)
                    if capture:
                        err.append(payload)
                elif mtype == T_EXIT:
                    st = _dict(_json(payload), "an exit status")
                    code = st.get("code")
                    signo = st.get("signo")
                    return ExecResult(
                        exit_code=code if isinstance(code, int) else -1,
                        stdout=b"".join(out),
                        stderr=b"".join(err),
                        signaled=bool(st.get("signaled")),
                        signal=signo if isinstance(signo, int) else 0,
                    )
        finally:
            stream.close()
            if feeder is not None:
                feeder.join(timeout=5)

    # -- console -------------------------------------------------------------
    def console(self, offset: int = 0) -> ConsoleStream:
        """Follows the guest console log from byte ``offset``: an iterator of bytes.

        It ends when the VM has stopped and everything was sent (then
        ``next_offset`` and ``state`` are set); ``close()`` stops following.
        """
        _check.pos_int(offset, "offset", allow_zero=True)
        return ConsoleStream(self._client._t.stream(f"{self._path}/console?offset={offset}", timeout=30))


def _json(payload: bytes) -> Any:
    try:
        return json.loads(payload.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise InternalError("internal", f"malformed JSON on the stream: {e}") from e


def _feed_stdin(stream: Stream, stdin: StdinSource) -> None:
    try:
        if isinstance(stdin, str):
            src: BinaryIO = io.BytesIO(stdin.encode("utf-8"))
        elif isinstance(stdin, (bytes, bytearray)):
            src = io.BytesIO(bytes(stdin))
        else:
            src = stdin
        while True:
            chunk = src.read(STDIN_CHUNK)
            if not chunk:
                break
            if isinstance(chunk, str):
                chunk = chunk.encode("utf-8")
            stream.send_stdin(chunk)
        stream.send(T_STDIN_EOF)
    except (BangerError, OSError, ValueError):
        pass  # the command ended (or the stream broke): the reader reports it


class ConsoleStream:
    """Iterator over console bytes; ``next_offset``/``state`` are set once it ended."""

    def __init__(self, stream: Stream) -> None:
        self._stream = stream
        self.next_offset: int | None = None
        self.state: str | None = None
        self._done = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        while not self._done:
            msg = self._stream.next()
            if msg is None:
                self.close()
                break
            mtype, payload = msg
            if mtype == T_STDOUT:
                return payload
            if mtype == T_RESULT:
                r = _obj(_json(payload))
                n = r.get("next_offset")
                self.next_offset = n if isinstance(n, int) else None
                self.state = str(r.get("state", ""))
                self.close()
        raise StopIteration

    def close(self) -> None:
        self._done = True
        self._stream.close()

    def __enter__(self) -> ConsoleStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Files:
    """Single guest files and directory listings (docs/api.md "Guest files")."""

    def __init__(self, vm: Vm) -> None:
        self._vm = vm

    def _target(self, path: str, **query: str) -> str:
        q = {"path": _check.guest_path(path), **query}
        return f"{self._vm._path}/files?{urlencode(q)}"

    def read(self, path: str) -> bytes:
        """A regular file's bytes (at most 8 MiB)."""
        r = self._vm._client._t.request("GET", self._target(path))
        if r.content_type == "application/json":
            raise InvalidArgumentError("invalid_argument", f"{path} is a directory: use files.list")
        return r.body

    def read_text(self, path: str, encoding: str = "utf-8") -> str:
        return self.read(path).decode(encoding)

    def write(self, path: str, data: bytes | str, mode: int | None = None, chown: str | None = None) -> int:
        """Writes ``data`` atomically as ``path`` (its directory must exist); returns the bytes written."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not isinstance(data, (bytes, bytearray)):
            raise _check.bad("data must be bytes or str")
        query: dict[str, str] = {}
        if mode is not None:
            if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 0o7777:
                raise _check.bad("mode must be an integer between 0 and 0o7777")
            query["mode"] = format(mode, "04o")
        if chown is not None:
            query["chown"] = _check.opt_str(chown, "chown") or ""
        r = self._vm._client._t.request(
            "PUT", self._target(path, **query), bytes(data), headers={"Content-Type": "application/octet-stream"}
        )
        doc = _dict(r.json(), "a write answer")
        n = doc.get("bytes")
        return n if isinstance(n, int) else len(data)

    def list(self, path: str) -> list[FileEntry]:
        """The entries of directory ``path``, sorted by name."""
        r = self._vm._client._t.request("GET", self._target(path))
        if r.content_type != "application/json":
            raise InvalidArgumentError("invalid_argument", f"{path} is not a directory")
        return [FileEntry.from_json(e) for e in _list(r.json(), "entries")]

    def stat(self, path: str) -> FileEntry:
        """``path`` itself (a symlink is described, not followed)."""
        r = self._vm._client._t.request("GET", self._target(path, stat="1"))
        return FileEntry.from_json(_dict(r.json(), "a stat"))


class Ports:
    """Published ports (docs/api.md "Published ports")."""

    def __init__(self, vm: Vm) -> None:
        self._vm = vm

    def list(self) -> list[Port]:
        r = self._vm._client._t.call("GET", self._vm._path + "/ports")
        return [Port.from_json(p) for p in _list(r, "ports")]

    def publish(self, spec: str) -> Port:
        """Publishes ``"[HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|udp]"``."""
        if not isinstance(spec, str) or not spec:
            raise _check.bad("port spec must be a string like \"18080:8080\"")
        r = self._vm._client._t.call("POST", self._vm._path + "/ports", {"port": spec})
        return Port.from_json(_dict(r, "a port"))

    def unpublish(self, host_port: int, host_ip: str | None = None, protocol: str | None = None) -> str:
        """Stops publishing ``host_port``; returns what was removed ("127.0.0.1:18080/tcp")."""
        if isinstance(host_port, bool) or not isinstance(host_port, int) or not 1 <= host_port <= 65535:
            raise _check.bad("host_port must be an integer between 1 and 65535")
        q: dict[str, str] = {}
        if _check.opt_str(host_ip, "host_ip"):
            q["host_ip"] = str(host_ip)
        if _check.opt_str(protocol, "protocol"):
            q["protocol"] = str(protocol)
        target = f"{self._vm._path}/ports/{host_port}" + (f"?{urlencode(q)}" if q else "")
        r = self._vm._client._t.call("DELETE", target)
        return str(_dict(r, "a port removal").get("removed", ""))


class Session:
    """A guest session (docs/sessions.md); ``raw`` is the API's GuestSession."""

    def __init__(self, vm: Vm, raw: dict[str, Any]) -> None:
        self._vm = vm
        self.raw = raw

    def __repr__(self) -> str:
        return f"Session(name={self.name!r}, status={self.status!r})"

    @property
    def id(self) -> str:
        return str(self.raw.get("id", ""))

    @property
    def name(self) -> str:
        return str(self.raw.get("name", ""))

    @property
    def status(self) -> str:
        return str(self.raw.get("status", ""))

    @property
    def exit_code(self) -> int | None:
        c = self.raw.get("exit_code")
        return c if isinstance(c, int) else None

    def refresh(self) -> Session:
        self.raw = self._vm.sessions.get(self.id).raw
        return self

    def stop(self) -> Session:
        self.raw = self._vm.sessions.stop(self.id).raw
        return self

    def logs(self, follow: bool = False, timeout: float | None = None) -> SessionLogs:
        return self._vm.sessions.logs(self.id, follow=follow, timeout=timeout)

    def attach(self, timeout: float | None = None) -> SessionAttach:
        return self._vm.sessions.attach(self.id, timeout=timeout)


class SessionLogs:
    """Iterator of :class:`OutputChunk`; ``exit_code`` is set when the session's end was reached.

    ``timeout``: seconds to wait for each message (None: no limit), else
    :class:`BangerTimeoutError`.
    """

    def __init__(self, stream: Stream, timeout: float | None = None) -> None:
        self._stream = stream
        self._timeout = timeout
        self.exit_code: int | None = None
        self._done = False

    def __iter__(self) -> Iterator[OutputChunk]:
        return self

    def __next__(self) -> OutputChunk:
        while not self._done:
            msg = self._stream.next(timeout=self._timeout)
            if msg is None:
                self.close()
                break
            mtype, payload = msg
            if mtype == T_STDOUT:
                return OutputChunk("stdout", payload)
            if mtype == T_STDERR:
                return OutputChunk("stderr", payload)
            if mtype in (T_EXIT, T_RESULT):
                code = _obj(_json(payload) if payload else {}).get("code")
                if isinstance(code, int):
                    self.exit_code = code
                self.close()
        raise StopIteration

    def read_all(self) -> tuple[bytes, bytes]:
        """Everything (stdout, stderr) until the end."""
        out: list[bytes] = []
        err: list[bytes] = []
        for c in self:
            (out if c.stream == "stdout" else err).append(c.data)
        return b"".join(out), b"".join(err)

    def close(self) -> None:
        self._done = True
        self._stream.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SessionAttach(SessionLogs):
    """Output from now on (iterate :class:`OutputChunk`), and stdin for a session
    started with ``stdin=True`` (:meth:`write`, :meth:`close_stdin`)."""

    def write(self, data: bytes | str) -> None:
        self._stream.send_stdin(data.encode("utf-8") if isinstance(data, str) else bytes(data))

    def close_stdin(self) -> None:
        """Ends this attach's input (the session's own stdin stays open for later attaches)."""
        self._stream.send(T_STDIN_EOF)


class Sessions:
    def __init__(self, vm: Vm) -> None:
        self._vm = vm

    def _spath(self, ref: str, suffix: str = "") -> str:
        return f"/v1/sessions/{_q(_check.ref(ref, 'session'))}{suffix}?vm={_q(self._vm.id or self._vm.name)}"

    def create(
        self,
        cmd: list[str],
        name: str | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        user: str | None = None,
        tags: dict[str, str] | None = None,
        stdin: bool = False,
    ) -> Session:
        """Starts ``cmd`` as a session that outlives this call; returns it running."""
        body: dict[str, Any] = {"argv": _check.command(cmd), "stdin": bool(stdin)}
        if _check.opt_str(name, "name"):
            body["name"] = name
        if envs := _check.str_map(env, "env"):
            body["env"] = envs
        if _check.opt_str(cwd, "cwd"):
            body["cwd"] = cwd
        if _check.opt_str(user, "user"):
            body["user"] = user
        if t := _check.str_map(tags, "tags"):
            body["tags"] = t
        r = self._vm._client._t.call("POST", self._vm._path + "/sessions", body)
        return Session(self._vm, _dict(r, "a session"))

    def list(self) -> list[Session]:
        r = self._vm._client._t.call("GET", "/v1/sessions?vm=" + _q(self._vm.id or self._vm.name))
        return [Session(self._vm, s) for s in _list(r, "sessions")]

    def get(self, ref: str) -> Session:
        return Session(self._vm, _dict(self._vm._client._t.call("GET", self._spath(ref)), "a session"))

    def stop(self, ref: str) -> Session:
        return Session(self._vm, _dict(self._vm._client._t.call("POST", self._spath(ref, "/stop")), "a session"))

    def logs(self, ref: str, follow: bool = False, timeout: float | None = None) -> SessionLogs:
        """The session's output from its start (``follow``: until it ends) as :class:`OutputChunk` s."""
        sid = self.get(ref).id  # a name is resolved within this VM first
        target = f"/v1/sessions/{_q(sid)}/logs?follow={1 if follow else 0}"
        return SessionLogs(self._vm._client._t.stream(target, timeout=30), _check.timeout(timeout))

    def attach(self, ref: str, timeout: float | None = None) -> SessionAttach:
        """Follows the session's output from now on; forwards stdin to one started with ``stdin=True``."""
        sid = self.get(ref).id
        stream = self._vm._client._t.stream(f"/v1/sessions/{_q(sid)}/attach", timeout=30)
        return SessionAttach(stream, _check.timeout(timeout))


class Snapshots:
    def __init__(self, vm: Vm) -> None:
        self._vm = vm

    def create(self, name: str | None = None) -> Snapshot:
        """Saves the running VM (paused while saving); default name ``snap-<UTC time>``."""
        body: dict[str, Any] = {}
        if _check.opt_str(name, "name"):
            body["name"] = name
        return Snapshot.from_json(_dict(self._vm._client._t.call("POST", self._vm._path + "/snapshots", body), "a snapshot"))

    def list(self) -> list[Snapshot]:
        r = self._vm._client._t.call("GET", self._vm._path + "/snapshots")
        return [Snapshot.from_json(s) for s in _list(r, "snapshots")]

    def delete(self, name: str) -> bool:
        r = self._vm._client._t.call("DELETE", f"{self._vm._path}/snapshots/{_q(_check.ref(name, 'snapshot'))}")
        return bool(_dict(r, "a delete answer").get("deleted"))
