"""The client: connect(), the daemon, VMs and the event stream."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from . import _check
from ._http import T_EVENT, Stream, Transport, default_socket_path
from .types import Event
from .vm import Vm, _dict, _json, _list

DEFAULT_TIMEOUT = 300.0


def connect(socket_path: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> Client:
    """A client of the daemon at ``socket_path``.

    Without one: ``BANGER_SOCKET``, else ``$BANGER_HOME/bangerd.sock``, else
    ``/var/lib/banger/bangerd.sock`` (root) or
    ``~/.local/share/banger/bangerd.sock``. Nothing is sent until the first
    call (``ping()`` checks the daemon answers). ``timeout``: seconds any
    plain request may take (a VM create boots it).
    """
    path = _check.opt_str(socket_path, "socket_path") or default_socket_path()
    return Client(path, _check.timeout(timeout) or DEFAULT_TIMEOUT)


class Client:
    def __init__(self, socket_path: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._t = Transport(socket_path, timeout)
        self.vms = Vms(self)

    @property
    def socket_path(self) -> str:
        return self._t.socket_path

    def __repr__(self) -> str:
        return f"Client(socket_path={self.socket_path!r})"

    def ping(self) -> dict[str, Any]:
        """The daemon's version, pid, home, backend and VM counts."""
        return _dict(self._t.call("GET", "/v1/ping", timeout=10), "a ping answer")

    def events(self, after: int | None = None) -> EventStream:
        """Every event after sequence number ``after`` (None: every one the daemon holds), then live.

        An iterator of :class:`Event` that runs until ``close()`` (or a ``with`` block ends).
        """
        start = _check.pos_int(after, "after", allow_zero=True) or 0
        return EventStream(self._t.stream(f"/v1/events/stream?after={start}", timeout=30))

    def close(self) -> None:
        """Nothing to release (one connection per request); for symmetry with ``with``."""

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Vms:
    def __init__(self, client: Client) -> None:
        self._client = client

    def create(
        self,
        name: str | None = None,
        image: str | None = None,
        vcpus: int | None = None,
        memory_mib: int | None = None,
        labels: dict[str, str] | None = None,
        ports: list[str] | None = None,
        work_disk_size_bytes: int | None = None,
        system_overlay_size_bytes: int | None = None,
        nat: bool | None = None,
        backend: str | None = None,
        no_start: bool = False,
        auto_remove: bool = False,
        ttl_ms: int | None = None,
        idle_suspend_ms: int | None = None,
        cold: bool = False,
        request_id: str | None = None,
    ) -> Vm:
        """Creates a VM and, unless ``no_start``, starts it (returns once its VMM runs).

        Names and labels are checked by the daemon (its message comes back as
        :class:`InvalidArgumentError`). ``request_id`` makes retries safe:
        the same id returns the same VM.
        """
        body: dict[str, Any] = {}
        if _check.opt_str(name, "name"):
            body["name"] = name
        if _check.opt_str(image, "image"):
            body["image"] = image
        if _check.pos_int(vcpus, "vcpus") is not None:
            body["vcpu_count"] = vcpus
        if _check.pos_int(memory_mib, "memory_mib") is not None:
            body["memory_mib"] = memory_mib
        if (lab := _check.str_map(labels, "labels")) is not None:
            body["labels"] = lab
        if (p := _check.str_list(ports, "ports")) is not None:
            body["ports"] = p
        if _check.pos_int(work_disk_size_bytes, "work_disk_size_bytes") is not None:
            body["work_disk_size_bytes"] = work_disk_size_bytes
        if _check.pos_int(system_overlay_size_bytes, "system_overlay_size_bytes") is not None:
            body["system_overlay_size_bytes"] = system_overlay_size_bytes
        if nat is not None:
            body["nat_enabled"] = bool(nat)
        if _check.opt_str(backend, "backend"):
            body["backend"] = backend
        if no_start:
            body["no_start"] = True
        if auto_remove:
            body["auto_remove"] = True
        if _check.pos_int(ttl_ms, "ttl_ms", allow_zero=True) is not None:
            body["ttl_ms"] = ttl_ms
        if _check.pos_int(idle_suspend_ms, "idle_suspend_ms", allow_zero=True) is not None:
            body["idle_suspend_ms"] = idle_suspend_ms
        if cold:
            body["cold"] = True
        if _check.opt_str(request_id, "request_id"):
            body["request_id"] = request_id
        return Vm(self._client, _dict(self._client._t.call("POST", "/v1/vms", body), "a VM"))

    def list(self, labels: dict[str, str] | None = None) -> list[Vm]:
        """Every VM, or those carrying every label of ``labels``."""
        target = "/v1/vms"
        if lab := _check.str_map(labels, "labels"):
            target += "?label=" + quote(",".join(f"{k}={v}" for k, v in lab.items()), safe="")
        return [Vm(self._client, v) for v in _list(self._client._t.call("GET", target), "vms")]

    def get(self, ref: str) -> Vm:
        """The VM named ``ref`` (a name, an id or an id prefix of at least 8 characters)."""
        return Vm(self._client, _dict(self._client._t.call("GET", "/v1/vms/" + quote(_check.ref(ref), safe="")), "a VM"))

    def delete(self, ref: str, missing_ok: bool = False) -> bool:
        """Deletes VM ``ref``; with ``missing_ok`` an unknown one returns False instead of raising."""
        target = "/v1/vms/" + quote(_check.ref(ref), safe="") + ("?missing_ok=true" if missing_ok else "")
        return bool(_dict(self._client._t.call("DELETE", target), "a delete answer").get("deleted"))


class EventStream:
    """Iterator of :class:`Event` over ``/v1/events/stream``; ``next(timeout)`` waits a bounded time."""

    def __init__(self, stream: Stream) -> None:
        self._stream = stream
        self._done = False
        self.last_seq = 0

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        ev = self.next()
        if ev is None:
            raise StopIteration
        return ev

    def next(self, timeout: float | None = None) -> Event | None:
        """The next event; None when the stream ended. Raises BangerTimeoutError after ``timeout`` s."""
        while not self._done:
            msg = self._stream.next(timeout=timeout)
            if msg is None:
                self.close()
                break
            mtype, payload = msg
            if mtype != T_EVENT:
                continue
            ev = Event.from_json(_dict(_json(payload), "an event"))
            self.last_seq = max(self.last_seq, ev.seq)
            return ev
        return None

    def close(self) -> None:
        self._done = True
        self._stream.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
