"""Shapes: a model as a chain of pieces, the input shape each piece sees (one forward pass with hooks), and a
convolution's padding and output size.

Used wherever a model is looked at piece by piece: the per-layer MACs table, the latency table (a model's
latency is priced block by block) and the decomposition (each layer's input size fixes its MACs).
"""

from __future__ import annotations

from typing import Iterable

import torch
import torch.nn as nn


def pieces(model: nn.Module, split_stages: bool = True) -> list[tuple[str, nn.Module]]:
    """A slimnas model's YAML entries (``backbone.i``) or a timm model's children; with ``split_stages``, an entry
    that is a plain ``nn.Sequential`` of several blocks (repeats, a timm stage) is split into its blocks."""
    backbone = getattr(model, "backbone", None)
    top = ([(f"backbone.{n}", m) for n, m in backbone.named_children()] if isinstance(backbone, nn.Sequential)
           else list(model.named_children()))
    if not split_stages:
        return top
    out = []
    for name, m in top:
        if type(m) is nn.Sequential and len(m) > 1:  # repeats / stages; blocks like ConvBNAct stay whole
            out += [(f"{name}.{i}", b) for i, b in m.named_children()]
        else:
            out.append((name, m))
    return out


def input_shapes(model: nn.Module, named: Iterable[tuple[str, nn.Module]], input_size: int | tuple,
                 channels: int = 3) -> dict[str, tuple]:
    """The input shape (batch left out) of each named module on one forward pass of a
    ``channels``×``input_size``² image, in the order they are first called; a module never called is missing."""
    res = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    shapes: dict[str, tuple] = {}
    hooks = []
    for name, m in named:
        def hook(_m, args, name=name):  # a pre-hook that returned a value would replace the input
            if name not in shapes and args and isinstance(args[0], torch.Tensor):
                shapes[name] = tuple(args[0].shape[1:])
        hooks.append(m.register_forward_pre_hook(hook))
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, channels, *res))
    finally:
        for h in hooks:
            h.remove()
        model.train(was)
    return shapes


def conv_padding(conv: nn.Conv2d) -> tuple[int, int]:
    """Numeric padding (``'same'`` at stride 1 with odd effective kernels is symmetric, ``'valid'`` is 0)."""
    if conv.padding == "valid":
        return (0, 0)
    if conv.padding == "same":
        return tuple(d * (k - 1) // 2 for k, d in zip(conv.kernel_size, conv.dilation))
    return conv.padding


def conv_out_hw(conv: nn.Conv2d, in_hw: tuple[int, int]) -> tuple[int, int]:
    """The output's spatial size for an input of ``in_hw``."""
    return tuple((n + 2 * p - d * (k - 1) - 1) // st + 1
                 for n, k, st, p, d in zip(in_hw, conv.kernel_size, conv.stride, conv_padding(conv), conv.dilation))
