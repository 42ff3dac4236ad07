"""The YAML building blocks. Each is a plain ``nn.Module``; the decorator makes it usable by name.

Convention: channel blocks take ``(c_in, c_out, ...)`` and call their stride ``s`` so the builder can
set it to 1 on repeats. Arguments follow the seed's YAMLs where one existed.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from .layers import ConvBNAct, SqueezeExcite, check_positive_int, create_act, make_divisible
from .registry import register_module


@register_module("block")
class Conv(ConvBNAct):
    """``[n, Conv, [c_out, k, s, act]]``: standard conv-BN-act."""

    def __init__(self, c_in: int, c_out: int, k: int = 1, s: int = 1, act: str | None = "relu"):
        super().__init__(c_in, c_out, k, s, 1, act)


@register_module("block")
class DWConv(ConvBNAct):
    """``[n, DWConv, [c_out, k, s, act]]``: grouped conv with groups = gcd(c_in, c_out) (depthwise when equal)."""

    def __init__(self, c_in: int, c_out: int, k: int = 3, s: int = 1, act: str | None = "relu"):
        super().__init__(c_in, c_out, k, s, math.gcd(c_in, c_out), act)


class _Residual(nn.Module):
    """Adds the input back when shapes allow (stride 1, equal channels)."""

    use_res: bool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.use_res else y


@register_module("block")
class Bottleneck(_Residual):
    """``[n, Bottleneck, [c_out, s, e, act]]``: 1×1 reduce to ``c_out*e`` → 3×3 (stride s) → 1×1, residual."""

    def __init__(self, c_in: int, c_out: int, s: int = 1, e: float = 0.5, act: str = "relu"):
        super().__init__()
        c_mid = make_divisible(c_out * e)
        self.body = nn.Sequential(
            ConvBNAct(c_in, c_mid, 1, 1, act=act),
            ConvBNAct(c_mid, c_mid, 3, s, act=act),
            ConvBNAct(c_mid, c_out, 1, 1, act=None),
        )
        self.use_res = s == 1 and c_in == c_out


@register_module("block")
class InvertedResidualv2(_Residual):
    """``[n, InvertedResidualv2, [c_out, t, s, k]]``: MobileNetV2 block (expand ×t, depthwise, linear project)."""

    def __init__(self, c_in: int, c_out: int, t: float = 6, s: int = 1, k: int = 3):
        super().__init__()
        check_positive_int(s=s, k=k)
        c_mid = int(round(c_in * t))
        layers = [ConvBNAct(c_in, c_mid, 1, act="relu6")] if t != 1 else []
        layers += [ConvBNAct(c_mid, c_mid, k, s, g=c_mid, act="relu6"), ConvBNAct(c_mid, c_out, 1, act=None)]
        self.body = nn.Sequential(*layers)
        self.use_res = s == 1 and c_in == c_out


@register_module("block")
class InvertedResidualv3(_Residual):
    """``[n, InvertedResidualv3, [c_out, k, t, se, hs, s]]``: MobileNetV3 block (SE, h-swish optional)."""

    def __init__(self, c_in: int, c_out: int, k: int = 3, t: float = 4, se: int = 0, hs: int = 0, s: int = 1):
        super().__init__()
        act = "hswish" if hs else "relu"
        c_mid = make_divisible(c_in * t)
        layers = [ConvBNAct(c_in, c_mid, 1, act=act)] if c_mid != c_in else []
        layers.append(ConvBNAct(c_mid, c_mid, k, s, g=c_mid, act=act))
        if se:
            layers.append(SqueezeExcite(c_mid, 0.25, gate="hsigmoid"))
        layers.append(ConvBNAct(c_mid, c_out, 1, act=None))
        self.body = nn.Sequential(*layers)
        self.use_res = s == 1 and c_in == c_out


@register_module("block")
class MBConv(_Residual):
    """``[n, MBConv, [c_out, k, t, s, se]]``: EfficientNet block (SiLU, SE ratio of the input width)."""

    def __init__(self, c_in: int, c_out: int, k: int = 3, t: float = 4, s: int = 1, se: float = 0.25):
        super().__init__()
        c_mid = make_divisible(c_in * t)
        layers = [ConvBNAct(c_in, c_mid, 1, act="silu")] if t != 1 else []
        layers.append(ConvBNAct(c_mid, c_mid, k, s, g=c_mid, act="silu"))
        if se:
            layers.append(SqueezeExcite(c_mid, se * c_in / c_mid, act="silu"))
        layers.append(ConvBNAct(c_mid, c_out, 1, act=None))
        self.body = nn.Sequential(*layers)
        self.use_res = s == 1 and c_in == c_out


@register_module("block")
class FusedMBConv(_Residual):
    """``[n, FusedMBConv, [c_out, k, t, s]]``: EfficientNetV2 block (one k×k expand conv, 1×1 project)."""

    def __init__(self, c_in: int, c_out: int, k: int = 3, t: float = 4, s: int = 1):
        super().__init__()
        if t == 1:
            self.body = ConvBNAct(c_in, c_out, k, s, act="silu")
        else:
            c_mid = make_divisible(c_in * t)
            self.body = nn.Sequential(ConvBNAct(c_in, c_mid, k, s, act="silu"), ConvBNAct(c_mid, c_out, 1, act=None))
        self.use_res = s == 1 and c_in == c_out


@register_module("block")
class Fire(nn.Module):
    """``[n, Fire, [c_out, squeeze, s]]``: SqueezeNet fire (1×1 squeeze → 1×1 ‖ 3×3 expand, half each)."""

    def __init__(self, c_in: int, c_out: int, squeeze: int = 16, s: int = 1):
        super().__init__()
        if c_out % 2:
            raise ValueError(f"Fire needs an even c_out, got {c_out}")
        self.squeeze = ConvBNAct(c_in, squeeze, 1, s)
        self.expand1 = ConvBNAct(squeeze, c_out // 2, 1)
        self.expand3 = ConvBNAct(squeeze, c_out // 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze(x)
        return torch.cat([self.expand1(x), self.expand3(x)], 1)


@register_module("shape")
class MaxPool(nn.MaxPool2d):
    """``[n, MaxPool, [k, s, p]]``."""

    def __init__(self, k: int = 2, s: int | None = None, p: int = 0):
        super().__init__(k, s, p)


@register_module("shape")
class AvgPool(nn.AvgPool2d):
    """``[n, AvgPool, [k, s, p]]``."""

    def __init__(self, k: int = 2, s: int | None = None, p: int = 0):
        super().__init__(k, s, p)


@register_module("shape")
class GlobalAvgPool(nn.AdaptiveAvgPool2d):
    """``[1, GlobalAvgPool, []]``: N×C×H×W → N×C×1×1."""

    def __init__(self):
        super().__init__(1)


@register_module("shape")
class Flatten(nn.Flatten):
    """``[1, Flatten, []]``: N×C×1×1 → N×C."""

    def __init__(self):
        super().__init__(1)


@register_module("head")
class Linear(nn.Module):
    """``[n, Linear, [c_out, act, dropout]]``: dropout → fully connected → activation, on N×C features."""

    def __init__(self, c_in: int, c_out: int, act: str | None = None, dropout: float = 0.0):
        super().__init__()
        check_positive_int(c_in=c_in, c_out=c_out)
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.fc = nn.Linear(c_in, c_out)
        self.act = create_act(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.fc(self.drop(x)))
