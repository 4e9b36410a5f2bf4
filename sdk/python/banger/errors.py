"""Typed errors: every failure of the API is a :class:`BangerError`.

``code`` is the API's error code (``invalid_argument``, ``not_found``, ...,
or a guest file code such as ``permission``), ``message`` its one line, and
``status`` the HTTP status (None when there was no HTTP answer, e.g. the
daemon is not running or a stream broke).
"""

from __future__ import annotations

import json
from typing import Any


class BangerError(Exception):
    """Base class of every error the SDK raises."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, status={self.status!r})"


class InvalidArgumentError(BangerError, ValueError):
    """Bad input (400): names, sizes, paths, JSON; also checked client-side."""


class NotFoundError(BangerError):
    """No such VM, image, session, snapshot, port or guest file (404)."""


class ConflictError(BangerError):
    """Clashes with the current state (409): duplicate name, VM not running, ..."""


class UnavailableError(BangerError):
    """A dependency is missing or the daemon cannot be reached (503)."""


class BangerTimeoutError(BangerError):
    """A deadline passed (504, or the SDK's own timeout)."""


class InternalError(BangerError):
    """Anything else (500), or an answer the SDK cannot understand."""


_BY_CODE: dict[str, type[BangerError]] = {
    "invalid_argument": InvalidArgumentError,
    "invalid": InvalidArgumentError,
    "not_found": NotFoundError,
    "conflict": ConflictError,
    "unavailable": UnavailableError,
    "timeout": BangerTimeoutError,
    "internal": InternalError,
}

_BY_STATUS: dict[int, type[BangerError]] = {
    400: InvalidArgumentError,
    404: NotFoundError,
    409: ConflictError,
    503: UnavailableError,
    504: BangerTimeoutError,
    500: InternalError,
}


def make_error(code: str, message: str, status: int | None = None) -> BangerError:
    """The error class for ``code`` (else for ``status``), carrying the API's message."""
    cls = _BY_CODE.get(code) or (_BY_STATUS.get(status) if status is not None else None) or BangerError
    return cls(code, message, status)


def error_from_body(status: int, body: bytes) -> BangerError:
    """The error of a non-2xx answer whose body is ``{"error": {"code", "message"}}``."""
    try:
        doc: Any = json.loads(body.decode("utf-8"))
        err = doc["error"]
        return make_error(str(err["code"]), str(err["message"]), status)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        text = body.decode("utf-8", "replace").strip().splitlines()
        line = text[0] if text else f"HTTP {status}"
        code = {400: "invalid_argument", 404: "not_found", 409: "conflict", 503: "unavailable",
                504: "timeout"}.get(status, "internal")
        return make_error(code, line, status)


def error_from_frame(payload: bytes) -> BangerError:
    """The error of a stream's ``error`` message (JSON ``{"code", "message"}``)."""
    try:
        doc: Any = json.loads(payload.decode("utf-8"))
        return make_error(str(doc["code"]), str(doc["message"]))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return InternalError("internal", "malformed error message on the stream: "
                             + payload[:200].decode("utf-8", "replace"))
