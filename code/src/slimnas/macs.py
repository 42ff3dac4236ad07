"""MACs and parameters, counted by ptflops.

Two conventions:

- ``"aten"`` (default): every multiply-add of convolutions and matrix products (``aten.convolution``,
  ``aten.addmm``, ...), plus one add per output for a bias; nothing for BN, activations or pooling.
  This matches the numbers papers quote.
- ``"pytorch"``: ptflops' module-hook backend with activation modules ignored, the convention the
  lightweight-model competition used (it also counts BN, pooling and SE arithmetic).

ptflops leaves hooks on the modules it measures, so counting always runs on a deep copy.
"""

from __future__ import annotations

import copy
import io
from dataclasses import dataclass, field
from typing import Literal

import torch.nn as nn

from .errors import SlimnasError
from .shapes import conv_out_hw, input_shapes, pieces

Convention = Literal["aten", "pytorch"]

_ACTIVATIONS = [nn.ReLU, nn.ReLU6, nn.Hardswish, nn.SiLU, nn.GELU, nn.Sigmoid, nn.Hardsigmoid,
                nn.LeakyReLU, nn.PReLU, nn.ELU, nn.Tanh, nn.Mish]


@dataclass
class MacsReport:
    macs: int
    params: int
    convention: str
    input_size: tuple[int, int, int]
    rows: list[dict] = field(default_factory=list)  # name, module, macs, params per top-level unit

    def table(self) -> str:
        c, h, w = self.input_size
        lines = [f"{'layer':<16}{'module':<22}{'MACs':>14}{'params':>12}"]
        lines += [f"{r['name']:<16}{r['module']:<22}{r['macs']:>14,}{r['params']:>12,}" for r in self.rows]
        lines.append(f"{'total':<38}{self.macs:>14,}{self.params:>12,}   ({self.convention} MACs at {c}x{h}x{w})")
        return "\n".join(lines)


def _input_res(input_size: int | tuple, channels: int) -> tuple[int, int, int]:
    if isinstance(input_size, int):
        return (channels, input_size, input_size)
    if len(input_size) == 2:
        return (channels, *input_size)
    return tuple(input_size)


def _count(module: nn.Module, res: tuple[int, ...], convention: Convention) -> tuple[int, int]:
    from ptflops import get_model_complexity_info  # here, not above: it imports torchvision, timm and torch._dynamo
    # (1.5 s), which a command's --help or an early refusal never needs

    macs, params = get_model_complexity_info(
        module, res, print_per_layer_stat=False, as_strings=False, backend=convention, ost=io.StringIO(),
        ignore_modules=_ACTIVATIONS if convention == "pytorch" else [],
        # ptflops >= 0.7 also counts torch.nn.functional calls, which would re-count the ignored activations
        backend_specific_config={"count_functional": False} if convention == "pytorch" else {},
    )
    if macs is None:
        raise SlimnasError(f"ptflops could not count MACs of {type(module).__name__} at input {res}")
    return int(macs), int(params)


def count_macs(
    model: nn.Module,
    input_size: int | tuple = 96,
    convention: Convention = "aten",
    per_layer: bool = False,
    channels: int = 3,
) -> MacsReport:
    """Count MACs and params of ``model`` for one image of ``input_size`` (int, (H, W) or (C, H, W))."""
    if convention not in ("aten", "pytorch"):
        raise ValueError(f"unknown MACs convention {convention!r}; use 'aten' or 'pytorch'")
    res = _input_res(input_size, channels)
    model = copy.deepcopy(model).eval()
    macs, params = _count(model, res, convention)
    report = MacsReport(macs, params, convention, res)
    if per_layer:
        report.rows = _per_layer(model, res, convention)
    return report


def _per_layer(model: nn.Module, res: tuple[int, ...], convention: Convention) -> list[dict]:
    units = pieces(model, split_stages=False)
    shapes = input_shapes(model, units, res[1:], res[0])
    return [{"name": name, "module": type(unit).__name__, "macs": macs, "params": params}
            for name, unit in units if name in shapes  # a unit never called (an unused head) is left out
            for macs, params in [_count(copy.deepcopy(unit), shapes[name], convention)]]


def layer_macs(module: nn.Module, in_hw: tuple[int, int] | None) -> int:
    """Multiply-adds of a conv/linear, or a chain of them, for one input of spatial size ``in_hw``: the ``aten``
    count in closed form, for the decomposition's rank search, which prices hundreds of candidate layers
    where a ptflops pass each would take seconds (bias adds left out; ``tests/test_macs.py`` checks it
    against :func:`count_macs`)."""
    if isinstance(module, nn.Linear):
        return module.in_features * module.out_features
    if isinstance(module, nn.Conv2d):
        h, w = conv_out_hw(module, in_hw)
        kh, kw = module.kernel_size
        return h * w * module.out_channels * (module.in_channels // module.groups) * kh * kw
    total, hw = 0, in_hw
    for m in module:
        total += layer_macs(m, hw)
        if isinstance(m, nn.Conv2d):
            hw = conv_out_hw(m, hw)
    return total
