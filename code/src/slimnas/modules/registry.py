"""The registry of YAML building blocks.

A block is registered with a *kind* that tells the model builder how to wire it; the builder never
branches on block names:

- ``"block"``: ``cls(c_in, c_out, *args)``. The YAML's first argument is the output width (scaled by
  ``width_multiple``); repeats after the first get ``c_in = c_out`` and stride ``s = 1``.
- ``"head"``: ``cls(c_in, c_out, *args)`` on a flat feature vector; the width is not scaled (it is a
  class count or a deliberate hidden size).
- ``"shape"``: ``cls(*args)``; changes the spatial shape only, channels pass through.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Callable, Literal

import torch.nn as nn

Kind = Literal["block", "head", "shape"]


@dataclass(frozen=True)
class ModuleSpec:
    name: str
    cls: type[nn.Module]
    kind: Kind


_MODULES: dict[str, ModuleSpec] = {}


def register_module(kind: Kind, name: str | None = None) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator: make ``cls`` usable as ``[repeat, Name, [args]]`` in a model YAML."""

    def wrap(cls: type[nn.Module]) -> type[nn.Module]:
        key = name or cls.__name__
        if key in _MODULES:
            raise ValueError(f"module {key!r} is already registered")
        _MODULES[key] = ModuleSpec(key, cls, kind)
        return cls

    return wrap


def get_module(name: str) -> ModuleSpec:
    """Look up a block; an unknown name raises ``KeyError`` with the closest registered names."""
    try:
        return _MODULES[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), _MODULES, n=3)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise KeyError(f"unknown module {name!r}{hint} (known: {', '.join(sorted(_MODULES))})") from None


def list_modules() -> list[str]:
    return sorted(_MODULES)
