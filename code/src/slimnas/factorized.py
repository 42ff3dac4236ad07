"""Factorised layers: which convs and linears can be replaced by low-rank factors, the factor layers a
``(method, ranks)`` entry builds, and a **decomposition spec** (layer name -> method and ranks) applied to a model.

This is part of building a model, below both training and decomposition: a checkpoint of a decomposed
model is rebuilt from its YAML, this spec applied structurally, then its weights loaded. Fitting the
factors' weights (tensorly) is :mod:`slimnas.decompose`'s job, not this module's.

- ``tucker``: k×k conv → 1×1 (C_in→R_in) → k×k core (R_in→R_out, the original stride/padding/dilation)
  → 1×1 (R_out→C_out, the original bias). Tucker-2 over the channel modes (Kim et al. 2016).
- ``cp``: k×k conv → 1×1 (C_in→R) → k×1 depthwise → 1×k depthwise → 1×1 (R→C_out) (Lebedev et al. 2015).
- ``svd``: 1×1 conv or Linear → two layers through rank R (truncated SVD).
- ``separable``: depthwise k×k → k×1 depthwise → 1×k depthwise (rank 1 per channel).
"""

from __future__ import annotations

import difflib
from typing import Any

import torch.nn as nn

from .errors import ConfigError
from .shapes import conv_padding

METHODS = ("tucker", "cp", "svd", "separable")


def kind(layer: nn.Module) -> str:
    """``conv`` (k×k, groups 1), ``pointwise`` (1×1, groups 1), ``depthwise``, ``linear`` or ``other``
    (what no method here reproduces exactly: see :func:`unsupported`)."""
    if unsupported(layer):
        return "other"
    if type(layer) is nn.Linear:
        return "linear"
    if type(layer) is nn.Conv2d:
        if layer.groups == 1:
            return "pointwise" if layer.kernel_size == (1, 1) else "conv"
        if layer.groups == layer.in_channels == layer.out_channels:
            return "depthwise"
    return "other"


def unsupported(layer: nn.Module) -> str | None:
    """Why a conv or linear cannot be replaced by factor layers that compute the same thing, or ``None``.

    Only plain ``nn.Conv2d`` / ``nn.Linear`` are decomposed: a subclass may change the weight or the
    padding in ``forward`` (timm's ``Conv2dSame`` pads at run time, ``StdConv2d`` standardises the
    weight), and factors fitted to the stored weight would then compute something else, silently.
    """
    if isinstance(layer, (nn.Conv2d, nn.Linear)) and type(layer) not in (nn.Conv2d, nn.Linear):
        return (f"a {type(layer).__name__} is not a plain {'Conv2d' if isinstance(layer, nn.Conv2d) else 'Linear'}: "
                f"its forward changes the weight or the padding, so factors of the stored weight would not "
                f"compute the same")
    if type(layer) is nn.Conv2d:
        if isinstance(layer.padding, str) and layer.padding != "valid":
            if any(s != 1 for s in layer.stride) or any(d * (k - 1) % 2 for k, d in zip(layer.kernel_size, layer.dilation)):
                return f"padding={layer.padding!r} with an even kernel or a stride pads asymmetrically"
        if layer.padding_mode != "zeros":
            return f"padding_mode={layer.padding_mode!r}: only zero padding is reproduced by the factor convs"
        if layer.groups > 1 and not layer.groups == layer.in_channels == layer.out_channels:
            return (f"a grouped conv (groups={layer.groups}) is already factorised by its groups; only dense "
                    f"(groups 1) and depthwise convs are decomposed")
    return None


FITS = {"tucker": {"conv"}, "cp": {"conv"}, "svd": {"pointwise", "linear"}, "separable": {"depthwise"}}
DEFAULT_METHOD = {"conv": "tucker", "pointwise": "svd", "linear": "svd", "depthwise": "separable"}


def rank_limits(layer: nn.Module, method: str) -> list[int]:
    """The largest meaningful value of each rank of ``method`` on ``layer``."""
    if method == "tucker":
        return [layer.out_channels, layer.in_channels]
    if method == "cp":
        kh, kw = layer.kernel_size
        return [layer.out_channels * layer.in_channels * kh * kw]  # any R is valid; this is the trivial bound
    if method == "svd":
        c_out, c_in = (layer.out_features, layer.in_features) if isinstance(layer, nn.Linear) else (layer.out_channels, layer.in_channels)
        return [min(c_out, c_in)]
    return []


def fraction_limits(layer: nn.Module, method: str) -> list[int]:
    """What a rank *fraction* is a fraction of: the full rank, except for CP, whose rank has no useful
    upper bound; there 1.0 is the break-even rank, where the factors cost as many weights as the kernel."""
    if method == "cp":
        kh, kw = layer.kernel_size
        c_out, c_in = layer.out_channels, layer.in_channels
        return [max(1, c_out * c_in * kh * kw // (c_out + c_in + kh + kw))]
    return rank_limits(layer, method)


def _conv(c_in, c_out, k, stride=1, padding=0, dilation=1, groups=1, bias=False) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias)


def shell(layer: nn.Module, method: str, ranks: list[int]) -> nn.Sequential:
    """The replacement's structure, with untrained weights."""
    has_bias = layer.bias is not None
    if method == "tucker":
        r_out, r_in = ranks
        return nn.Sequential(_conv(layer.in_channels, r_in, 1),
                             _conv(r_in, r_out, layer.kernel_size, layer.stride, conv_padding(layer), layer.dilation),
                             _conv(r_out, layer.out_channels, 1, bias=has_bias))
    if method == "cp":
        (r,) = ranks
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = layer.kernel_size, layer.stride, conv_padding(layer), layer.dilation
        return nn.Sequential(_conv(layer.in_channels, r, 1),
                             _conv(r, r, (kh, 1), (sh, 1), (ph, 0), (dh, 1), groups=r),
                             _conv(r, r, (1, kw), (1, sw), (0, pw), (1, dw), groups=r),
                             _conv(r, layer.out_channels, 1, bias=has_bias))
    if method == "svd":
        (r,) = ranks
        if isinstance(layer, nn.Linear):
            return nn.Sequential(nn.Linear(layer.in_features, r, bias=False), nn.Linear(r, layer.out_features, bias=has_bias))
        return nn.Sequential(_conv(layer.in_channels, r, 1, layer.stride, conv_padding(layer)),
                             _conv(r, layer.out_channels, 1, bias=has_bias))
    if method == "separable":
        c = layer.in_channels
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = layer.kernel_size, layer.stride, conv_padding(layer), layer.dilation
        return nn.Sequential(_conv(c, c, (kh, 1), (sh, 1), (ph, 0), (dh, 1), groups=c),
                             _conv(c, c, (1, kw), (1, sw), (0, pw), (1, dw), groups=c, bias=has_bias))
    raise ValueError(f"unknown method {method!r} (known: {', '.join(METHODS)})")


def decomposable(model: nn.Module) -> dict[str, nn.Module]:
    """Every conv / linear layer some method fits, by qualified name."""
    return {n: m for n, m in model.named_modules() if kind(m) in DEFAULT_METHOD}


def _ranks(value: Any, limits: list[int], where: str, fraction_of: list[int] | None = None) -> list[int]:
    """Explicit ranks (1..limit), or a fraction (0, 1] of each ``fraction_of`` (default: the limits)."""
    if isinstance(value, float) and not isinstance(value, bool) and 0 < value <= 1:
        return [max(1, round(value * lim)) for lim in fraction_of or limits]
    vals = value if isinstance(value, list) else [value]
    if len(vals) != len(limits) or not all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
        raise ConfigError(f"{where}: ranks must be {len(limits)} integer(s) or a fraction in (0, 1], got {value!r}")
    for v, lim in zip(vals, limits):
        if v <= 0 or v > lim:
            raise ConfigError(f"{where}: rank {v} is out of range (1..{lim} for this layer)")
    return list(vals)


def resolve_spec(model: nn.Module, rank_cfg: dict, source: str = "rank_cfg") -> dict[str, dict]:
    """Check ``rank_cfg`` against ``model`` and return the spec with explicit integer ranks."""
    layers = dict(model.named_modules())
    spec = {}
    for name, entry in rank_cfg.items():
        where = f"{source}: layer {name!r}"
        if name not in layers:
            hint = difflib.get_close_matches(name, decomposable(model), 1)
            raise ConfigError(f"{where}: no such layer" + (f"; did you mean {hint[0]!r}?" if hint else ""))
        layer = layers[name]
        k = kind(layer)
        if k not in DEFAULT_METHOD:
            raise ConfigError(f"{where}: cannot be decomposed: " + (unsupported(layer) or
                              f"a {type(layer).__name__} is not a conv or linear layer"))
        if not isinstance(entry, dict):
            entry = {"ranks": entry}
        unknown = set(entry) - {"method", "ranks"}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)} (known: method, ranks)")
        method = entry.get("method", DEFAULT_METHOD[k])
        if method not in METHODS:
            raise ConfigError(f"{where}: unknown method {method!r} (known: {', '.join(METHODS)})")
        if k not in FITS[method]:
            fits = [m for m in METHODS if k in FITS[m]]
            raise ConfigError(f"{where}: {method} does not fit a {k} layer (use {' or '.join(fits)})")
        limits = rank_limits(layer, method)
        ranks = _ranks(entry.get("ranks", 1.0), limits, where, fraction_limits(layer, method)) if limits else []
        spec[name] = {"method": method, "ranks": ranks}
    return spec


def replace_layer(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, attr = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, attr, new)


def apply_decomposition(model: nn.Module, spec: dict[str, dict]) -> nn.Module:
    """Replace the layers in ``spec`` by their (untrained) factorised structure: for loading checkpoints."""
    for name, entry in resolve_spec(model, spec, "decomposition spec").items():
        replace_layer(model, name, shell(model.get_submodule(name), entry["method"], entry["ranks"]))
    return model
