"""Client-side argument checks: obvious mistakes fail before any request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from .errors import InvalidArgumentError


def bad(message: str) -> InvalidArgumentError:
    return InvalidArgumentError("invalid_argument", message)


def ref(value: Any, what: str = "vm") -> str:
    if not isinstance(value, str) or not value:
        raise bad(f"{what} reference must be a non-empty string")
    return value


def opt_str(value: Any, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise bad(f"{what} must be a string")
    return value


def pos_int(value: Any, what: str, allow_zero: bool = False) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        raise bad(f"{what} must be a {'non-negative' if allow_zero else 'positive'} integer")
    return value


def str_map(value: Any, what: str) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise bad(f"{what} must be a mapping of strings to strings")
    items = cast(Mapping[object, object], value).items()
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in items):
        raise bad(f"{what} must be a mapping of strings to strings")
    return cast(dict[str, str], dict(items))


def str_list(value: Any, what: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise bad(f"{what} must be a list of strings")
    seq = cast(Sequence[object], value)
    if not all(isinstance(v, str) for v in seq):
        raise bad(f"{what} must be a list of strings")
    return cast(list[str], list(seq))


def command(value: Any) -> list[str]:
    if isinstance(value, str):
        raise bad("cmd must be a list of strings (argv), e.g. [\"sh\", \"-c\", \"...\"], not one string")
    out = str_list(value, "cmd")
    if out is None:
        raise bad("cmd must be a list of strings")
    if any("\0" in a for a in out):
        raise bad("cmd arguments must not contain NUL bytes")
    return out


def timeout(value: Any, what: str = "timeout") -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise bad(f"{what} must be a positive number of seconds")
    return float(value)


def guest_path(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise bad("guest path must be an absolute path (starting with /)")
    if "\0" in value:
        raise bad("guest path must not contain NUL bytes")
    return value
