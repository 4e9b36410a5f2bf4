"""banger: a Python client of bangerd (standard library only).

    import banger
    client = banger.connect()
    vm = client.vms.create(name="demo")
    print(vm.exec(["echo", "hello"]).stdout_text)
    vm.delete()
"""

from .client import Client, EventStream, Vms, connect
from .errors import (
    BangerError,
    BangerTimeoutError,
    ConflictError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
)
from .types import Event, ExecResult, FileEntry, OutputChunk, Port, Snapshot
from .vm import ConsoleStream, Files, Ports, Session, SessionAttach, SessionLogs, Sessions, Snapshots, Vm

__version__ = "0.1.0"

__all__ = [
    "BangerError",
    "BangerTimeoutError",
    "Client",
    "ConflictError",
    "ConsoleStream",
    "Event",
    "EventStream",
    "ExecResult",
    "FileEntry",
    "Files",
    "InternalError",
    "InvalidArgumentError",
    "NotFoundError",
    "OutputChunk",
    "Port",
    "Ports",
    "Session",
    "SessionAttach",
    "SessionLogs",
    "Sessions",
    "Snapshot",
    "Snapshots",
    "UnavailableError",
    "Vm",
    "Vms",
    "connect",
]
