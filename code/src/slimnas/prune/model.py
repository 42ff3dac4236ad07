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
import functools
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


def widen_depthwise(model: nn.Module) -> list[str]:
    """Rewrite, in place and exactly, every grouped conv with a channel multiplier k (groups = C_in, C_out = k·C_in:
    the tiny space's ``DWConv`` 8 -> 16) that follows a conv → BN → activation: that producer gets each output
    channel k times over, and the grouped conv becomes a true depthwise one (C_out groups) reading its copy. The
    function is the same to the last bit, but ONNX Runtime's blocked kernels run a depthwise conv and not a grouped
    one: on the tiny space's start point (112 px) the grouped conv ran in the plain layout between two reorders,
    66 % of the time at batch 32 with the stem for 31 % of the MACs, and widened the whole model ran 1.35-1.47x
    as fast (1-2 threads, batch 1 and 32). Torch-Pruning can then also prune that layer group (it cannot rank a
    multiplier's input channels). Returns the grouped convs' module names."""
    from ..modules.layers import ConvBNAct

    names = {m: n for n, m in model.named_modules()}
    widened = []
    for seq in model.modules():
        kids = list(seq.children()) if isinstance(seq, nn.Sequential) else []
        for a, b in zip(kids, kids[1:]):
            if not (isinstance(a, ConvBNAct) and isinstance(b, ConvBNAct)) or a.conv.groups != 1:
                continue
            c_in, c_out = b.conv.in_channels, b.conv.out_channels
            if b.conv.groups != c_in or c_out <= c_in or c_out % c_in:
                continue
            source = torch.arange(c_in).repeat_interleave(c_out // c_in)  # output j of group g reads channel g
            with torch.no_grad():
                a.conv.weight = nn.Parameter(a.conv.weight[source].clone())
                if a.conv.bias is not None:
                    a.conv.bias = nn.Parameter(a.conv.bias[source].clone())
                for attr in ("weight", "bias", "running_mean", "running_var"):
                    t = getattr(a.bn, attr)
                    copied = t[source].clone()
                    setattr(a.bn, attr, nn.Parameter(copied) if isinstance(t, nn.Parameter) else copied)
            a.conv.out_channels = a.bn.num_features = c_out
            b.conv.in_channels = b.conv.groups = c_out
            widened.append(names[b.conv])
    return widened


def classifier_layers(model: nn.Module, num_classes: int) -> list[nn.Module]:
    """The layers whose outputs are the logits: pruning them would drop classes."""
    last = [m for m in model.modules() if (isinstance(m, nn.Linear) and m.out_features == num_classes)
            or (isinstance(m, nn.Conv2d) and m.out_channels == num_classes)]
    return last[-1:]


def prune_channels(model: nn.Module, input_size: int, ratio: float, num_classes: int, criterion: str = "magnitude",
                   round_to: int | None = ROUND_TO) -> nn.Module:
    """``model`` with ``ratio`` of each layer group's channels removed (in place; returns it)."""
    if not 0 <= ratio <= MAX_RATIO:
        raise ConfigError(f"pruning ratio must be in [0, {MAX_RATIO}], got {ratio:g}")
    if ratio == 0:
        return model
    model.eval()
    example = torch.randn(1, 3, input_size, input_size)
    pruner = _pruner_class()(model, example, importance=importance(criterion), pruning_ratio=ratio,
                             ignored_layers=classifier_layers(model, num_classes), round_to=round_to)
    pruner.step()
    return model


def layer_groups(model: nn.Module, input_size: int, num_classes: int, criterion: str = "magnitude") -> dict[str, torch.Tensor]:
    """Every layer group Torch-Pruning would prune, by the name of its root layer (the one whose output channels
    it is, as Torch-Pruning roots it): the importance of each of its channels as a share of the group's, so that
    cutting any group to half its importance costs 0.5 (a channel of a 16-channel group is worth more than one of
    192: each is a larger part of what its layers can represent). Groups the criterion cannot rank are left out."""
    import torch_pruning as tp

    model.eval()
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=torch.randn(1, 3, input_size, input_size))
    names, rank = {m: n for n, m in model.named_modules()}, importance(criterion)
    groups = {}
    for group in graph.get_all_groups(ignored_layers=classifier_layers(model, num_classes),
                                      root_module_types=(nn.Conv2d, nn.Linear)):
        scores = rank(group)
        if scores is not None and len(scores) > 1:
            scores = scores.detach().float()
            groups[names[group[0].dep.target.module]] = scores / scores.sum().clamp_min(1e-12)
    return groups


def prune_to_widths(model: nn.Module, input_size: int, widths: dict[str, int], num_classes: int,
                    criterion: str = "magnitude") -> nn.Module:
    """``model`` with each layer group named in ``widths`` (by its root layer, as :func:`layer_groups` names it)
    cut to that many channels, its least important ones removed (in place; returns it)."""
    ratios = {}
    for name, kept in widths.items():
        root = model.get_submodule(name)
        channels = root.out_channels if isinstance(root, nn.Conv2d) else root.out_features
        if not 1 <= kept <= channels:
            raise ConfigError(f"{name}: cannot keep {kept} of its {channels} channels")
        if kept < channels:  # Torch-Pruning keeps int(channels * (1 - ratio)): the half makes that exactly `kept`
            ratios[root] = 1 - (kept + 0.5) / channels
    if not ratios:
        return model
    model.eval()
    pruner = _pruner_class()(model, torch.randn(1, 3, input_size, input_size), importance=importance(criterion),
                             pruning_ratio=0.0, pruning_ratio_dict=ratios,
                             ignored_layers=classifier_layers(model, num_classes), round_to=None)
    pruner.step()
    return model


@functools.cache  # one class, made on first use: torch_pruning is imported only when pruning
def _pruner_class():
    import torch_pruning as tp

    class AtLeastOneBlock(tp.pruner.MetaPruner):
        """Torch-Pruning's pruner, but a layer group that ``round_to`` would round down to no channel keeps one
        block of ``round_to`` instead of all of them. Torch-Pruning 1.6 rounds the kept count down and then skips
        a group it would empty, so pruning more kept more: on the tiny space's start point, multiples of 8 kept
        44 % of the MACs at ratio 0.7 and 84 % at 0.9, and a bisection on the ratio stopped at the wrong end."""

        def _round_to(self, n_pruned, current_channels, round_to):
            keep = max(current_channels - n_pruned, round_to)
            return max(current_channels - (keep - keep % round_to), 0)

    return AtLeastOneBlock


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
