"""Config dataclasses from YAML: unknown keys and wrong types are refused with the file and key named."""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import fields
from typing import Any, TypeVar

from .errors import ConfigError

T = TypeVar("T")


def _type_ok(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, h) for h in typing.get_args(hint))
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, origin or hint)


def from_dict(cls: type[T], data: Any, source: str) -> T:
    """Build dataclass ``cls`` from a YAML mapping, checking keys and (simple) types."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of settings, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in fields(cls) if f.name != "source"]
    for key, value in data.items():
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(known)})"
            raise ConfigError(f"{source}: unknown setting {key!r}{hint}")
        if not _type_ok(value, hints[key]):
            raise ConfigError(f"{source}: setting {key!r} must be {_type_name(hints[key])}, got {value!r}")
    return cls(**data, **({"source": source} if "source" in {f.name for f in fields(cls)} else {}))


def _type_name(hint: Any) -> str:
    return str(hint).replace("typing.", "").replace("<class '", "").replace("'>", "")
