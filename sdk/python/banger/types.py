"""Values the API answers, as typed read-only objects (``raw`` keeps the whole JSON)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast


def _str(d: dict[str, Any], key: str) -> str:
    v = d.get(key)
    return v if isinstance(v, str) else ""


def _int(d: dict[str, Any], key: str) -> int:
    v = d.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


@dataclass(frozen=True)
class ExecResult:
    """What a command ended with: ``exit_code`` (128 + signal when killed) and its output."""

    exit_code: int
    stdout: bytes
    stderr: bytes
    signaled: bool = False
    signal: int = 0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def stdout_text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", "replace")


@dataclass(frozen=True)
class OutputChunk:
    """Output of a session's logs: ``stream`` is ``"stdout"`` or ``"stderr"``."""

    stream: str
    data: bytes


@dataclass(frozen=True)
class FileEntry:
    name: str
    type: str  # file | dir | symlink | other
    size: int
    mode: int
    mtime_ns: int
    uid: int
    gid: int
    link_target: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FileEntry:
        return cls(
            _str(d, "name"), _str(d, "type"), _int(d, "size"), _int(d, "mode"), _int(d, "mtime_ns"),
            _int(d, "uid"), _int(d, "gid"), _str(d, "link_target"), d,
        )


@dataclass(frozen=True)
class Port:
    """A published port (docs/api.md "Published ports")."""

    spec: str  # "127.0.0.1:18080:8080/tcp"
    host_ip: str
    host_port: int
    guest_port: int
    protocol: str
    listening: bool
    error: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Port:
        return cls(
            _str(d, "spec"), _str(d, "host_ip"), _int(d, "host_port"), _int(d, "guest_port"),
            _str(d, "protocol"), bool(d.get("listening")), _str(d, "error"), d,
        )


@dataclass(frozen=True)
class Snapshot:
    name: str
    id: str
    vm_id: str
    bytes_on_disk: int
    created_at: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Snapshot:
        return cls(_str(d, "name"), _str(d, "id"), _str(d, "vm_id"), _int(d, "bytes_on_disk"),
                   _str(d, "created_at"), d)


@dataclass(frozen=True)
class Event:
    """One event of the daemon's log (docs/api.md "Events")."""

    seq: int
    at: str
    type: str
    vm_id: str
    vm_name: str
    data: dict[str, Any]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Event:
        data = d.get("data")
        return cls(_int(d, "seq"), _str(d, "at"), _str(d, "type"), _str(d, "vm_id"), _str(d, "vm_name"),
                   cast(dict[str, Any], data) if isinstance(data, dict) else {}, d)
