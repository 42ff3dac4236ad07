"""Structured channel pruning with Torch-Pruning: which channels go, and how many, for a MACs or latency target.

Torch-Pruning's dependency graph (DepGraph) finds every layer a channel touches — the depthwise conv and BN
behind a 1×1 expansion, both sides of a residual add, an SE block's squeeze and excite — and removes the
channel from all of them at once, so no hand-written rule per block is needed here. Each layer group keeps
the same fraction of its channels (``ratio``) ranked by a standard importance criterion; the ratio is the
smallest that meets the target, found by bisection: on MACs counted exactly, or on the whole model timed
on ONNX Runtime interleaved with the original (fewer MACs is not faster, so a latency target measures).
"""

from __future__ import annotations

import copy
from typing import Callable

import torch
import torch.nn as nn

from ..errors import ConfigError

# Channel counts stay multiples of 8 unless a latency target measures otherwise: ONNX Runtime's blocked conv
# kernels work in channel blocks. Pruning 30 % of the channels to counts of any size ran 0.92x as fast as the
# whole model on the tiny space's start point and 0.54x on mobilenetv3_small_like, to multiples of 8 1.17x and
# 1.33x (1 thread, batch 1; python bench/prune_latency.py).
ROUND_TO = 8
CRITERIA = ("magnitude", "bn")  # L2 norm of each channel's weights across its group; BatchNorm scale |γ|
MAX_RATIO = 0.9  # never remove more than this fraction of a layer group's channels


def importance(criterion: str):
    import torch_pruning as tp

    if criterion == "magnitude":
        return _RankableOnly(tp.importance.GroupMagnitudeImportance(p=2))
    if criterion == "bn":
        return _RankableOnly(tp.importance.BNScaleImportance())
    raise ConfigError(f"unknown pruning criterion {criterion!r} (use {', '.join(CRITERIA)})")


class _RankableOnly:
    """An importance that leaves whole the layer groups it cannot rank. Torch-Pruning 1.6 fails (IndexError) to
    rank the input channels of a grouped conv with a channel multiplier (DWConv 8 -> 16, groups 8); returning
    ``None`` tells the pruner to skip that group, so everything around it is still pruned."""

    def __init__(self, inner):
        self.inner = inner

    def __call__(self, group):
        try:
            return self.inner(group)
        except IndexError:
            return None


def classifier_layers(model: nn.Module, num_classes: int) -> list[nn.Module]:
    """The layers whose outputs are the logits: pruning them would drop classes."""
    last = [m for m in model.modules() if (isinstance(m, nn.Linear) and m.out_features == num_classes)
            or (isinstance(m, nn.Conv2d) and m.out_channels == num_classes)]
    return last[-1:]


def prune_channels(model: nn.Module, input_size: int, ratio: float, num_classes: int, criterion: str = "magnitude",
                   round_to: int | None = ROUND_TO) -> nn.Module:
    """``model`` with ``ratio`` of each layer group's channels removed (in place; returns it)."""
    import torch_pruning as tp

    if not 0 <= ratio <= MAX_RATIO:
        raise ConfigError(f"pruning ratio must be in [0, {MAX_RATIO}], got {ratio:g}")
    if ratio == 0:
        return model
    model.eval()
    example = torch.randn(1, 3, input_size, input_size)
    pruner = tp.pruner.MetaPruner(model, example, importance=importance(criterion), pruning_ratio=ratio,
                                  ignored_layers=classifier_layers(model, num_classes), round_to=round_to)
    pruner.step()
    return model


def smallest_ratio(model: nn.Module, cost: Callable[[nn.Module], float], target: float, prune: Callable,
                   steps: int = 8) -> tuple[float, nn.Module, float]:
    """The smallest ratio (to 2^-steps of MAX_RATIO) whose pruned copy of ``model`` costs at most ``target``, by
    bisection (cost falls as the ratio grows). Returns (ratio, pruned copy, its cost); ratio 0 if the
    model already meets it; ``MAX_RATIO`` and its cost if nothing does (the caller says so)."""
    def at(ratio: float) -> tuple[nn.Module, float]:
        pruned = prune(copy.deepcopy(model), ratio)
        return pruned, cost(pruned)

    whole = cost(model)
    if whole <= target:
        return 0.0, copy.deepcopy(model), whole
    lo, hi = 0.0, MAX_RATIO
    best = (MAX_RATIO, *at(MAX_RATIO))
    if best[2] > target:
        return best
    for _ in range(steps):
        mid = (lo + hi) / 2
        pruned, c = at(mid)
        if c <= target:
            hi, best = mid, (mid, pruned, c)
        else:
            lo = mid
    return best
