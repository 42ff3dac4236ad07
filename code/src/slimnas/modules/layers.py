"""Small shared pieces: activations by name, conv-BN-act, squeeze-excite, channel rounding."""

from __future__ import annotations

import torch
import torch.nn as nn

_ACTIVATIONS = {
    "relu": lambda: nn.ReLU(inplace=True),
    "relu6": lambda: nn.ReLU6(inplace=True),
    "hswish": lambda: nn.Hardswish(inplace=True),
    "silu": lambda: nn.SiLU(inplace=True),
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
    "hsigmoid": nn.Hardsigmoid,
    "identity": nn.Identity,
    "none": nn.Identity,
}


def create_act(act: str | None) -> nn.Module:
    """An activation module from its name (``None`` means identity)."""
    key = "none" if act is None else str(act).lower()
    if key not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {act!r} (known: {', '.join(sorted(_ACTIVATIONS))})")
    return _ACTIVATIONS[key]()


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor`` without going more than 10 % below it."""
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def check_positive_int(**values: object) -> None:
    for k, v in values.items():
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ValueError(f"{k} must be a positive integer, got {v!r}")


class ConvBNAct(nn.Sequential):
    """k×k conv (no bias) → BatchNorm → activation, 'same' padding for odd k."""

    def __init__(self, c_in: int, c_out: int, k: int = 1, s: int = 1, g: int = 1, act: str | None = "relu"):
        check_positive_int(c_in=c_in, c_out=c_out, k=k, s=s, g=g)
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, s, k // 2, groups=g, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.act = create_act(act)


class SqueezeExcite(nn.Module):
    """Channel attention (Hu et al.): global pool → reduce → expand → gate."""

    def __init__(self, c: int, rd_ratio: float = 0.25, act: str = "relu", gate: str = "sigmoid", divisor: int = 8):
        super().__init__()
        c_rd = make_divisible(c * rd_ratio, divisor)
        self.fc1 = nn.Conv2d(c, c_rd, 1)
        self.act = create_act(act)
        self.fc2 = nn.Conv2d(c_rd, c, 1)
        self.gate = create_act(gate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.fc2(self.act(self.fc1(s))))
