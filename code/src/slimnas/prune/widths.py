"""Per-group channel counts for a target, as HALP chooses them: price every width, then a knapsack.

A uniform ratio cuts every layer group alike, but a group's channels differ in what they cost and in what they
do: on ONNX Runtime's blocked kernels (16 channels a block with AVX-512) a 32-channel group cut by 10 % runs as
fast as before, and the same cut everywhere at multiples of 16 halves it. Here each group's narrower widths are
*priced* — the model with only that group cut, against the whole one: timed interleaved on the deployment target
for a latency target (:class:`Latency`), counted for a MACs target (:class:`Macs`) — and *costed* by the
importance of the channels they drop (or, given images, by how far the cut moves the model's answers:
:class:`Divergence`); a multiple-choice knapsack then finds the cheapest widths whose savings reach the target.
Savings of different groups do not quite add up (a layer between two cut groups saves less than the sum), so the
knapsack is asked for a ladder of savings and every choice is measured whole.

A latency target can be asked to hold at several settings at once (threads × batch): a cut that pays at batch 1
may not at batch 32, where a model is bound by memory rather than by per-call overhead. Each option is then priced
at every setting, its saving is the mean of its fractions of each setting's time, and a choice meets the target
only if it does so at the slowest-to-gain setting.
"""

from __future__ import annotations

import copy
import math
import statistics
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from ..latency.measure import DeployTarget, interleaved, timed_call
from ..latency.table import onnx_bytes
from ..macs import count_macs
from .model import layer_groups, prune_to_widths

FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)  # of a group's channels, each rounded to its width step
# the savings the knapsack is asked for, as multiples of what the target needs if savings added up exactly
LADDER = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0)
UNITS = 200  # the knapsack's resolution: the time to save in this many steps
WHOLE = ("whole 1", "whole 2", "whole 3")


@dataclass(frozen=True)
class Option:
    group: str
    width: int  # channels kept
    saving: float  # measured: the model with only this group cut, against the whole one (a fraction of its price)
    cost: float  # the share of its group's importance that the channels it drops hold, or a measured divergence


class Divergence:
    """What a cut costs, measured: the KL divergence of the cut model's class probabilities from the whole model's,
    averaged over ``images`` (a sensitivity analysis, as Distiller and NNCF run one). Unlike an importance score it
    is in one unit across layer groups: the norms of a stem's and a head's channels are not comparable, their effect
    on the answers is."""

    def __init__(self, model, images: torch.Tensor):
        self.images = images
        self.reference = self._log_probs(model)

    def _log_probs(self, model) -> torch.Tensor:
        model.eval()
        with torch.no_grad():
            return torch.cat([F.log_softmax(model(x), 1) for x in self.images.split(64)])

    def __call__(self, model) -> float:
        return F.kl_div(self._log_probs(model), self.reference, log_target=True, reduction="batchmean").item()

    def describe(self) -> str:
        return f"KL divergence from the whole model's answers on {len(self.images)} training images"


class Latency:
    """Prices in milliseconds, at each of ``runtimes`` (one per setting), each set of models timed interleaved;
    ``source``: the model the target is a fraction of."""

    unit = "ms"
    resolution = 0.02  # a saving below this fraction of the whole model's time is the timer's (sessions: ±1-1.5 %)

    def __init__(self, size: int, runtimes: Sequence[DeployTarget], source):
        self.size, self.runtimes, self.shape = size, tuple(runtimes), (3, size, size)
        self.settings = [r.describe() for r in self.runtimes]
        self.source = onnx_bytes(source, self.shape)

    def _times(self, files: dict, **rounds) -> dict[object, tuple[float, ...]]:
        per = [interleaved({k: timed_call(f, r, self.shape) for k, f in files.items()}, **rounds) for r in self.runtimes]
        return {k: tuple(t[k].ms for t in per) for k in files}

    def prices(self, models: dict) -> dict[object, tuple[float, ...]]:
        return self._times({k: onnx_bytes(m, self.shape) for k, m in models.items()}, min_rounds=10, max_rounds=20)

    def kept(self, models: dict) -> dict[object, tuple[float, ...]]:
        """Each model's time as a fraction of the source's at each setting, all timed in one interleaved loop with
        it per setting."""
        t = self._times({"source": self.source, **{k: onnx_bytes(m, self.shape) for k, m in models.items()}},
                        min_rounds=10, max_rounds=30)
        return {k: tuple(a / b for a, b in zip(t[k], t["source"])) for k in models}


class Macs:
    """Prices in MACs, counted in ``convention``; ``source_macs``: the model the target is a fraction of."""

    unit = "MACs"
    resolution = 0.0  # counted exactly

    def __init__(self, size: int, convention: str, source_macs: int):
        self.size, self.convention, self.source_macs = size, convention, source_macs
        self.settings = [f"MACs ({convention})"]

    def prices(self, models: dict) -> dict[object, tuple[float]]:
        return {k: (float(count_macs(m, self.size, convention=self.convention).macs),) for k, m in models.items()}

    def kept(self, models: dict) -> dict[object, tuple[float]]:
        return {k: (v[0] / self.source_macs,) for k, v in self.prices(models).items()}


def widths_to_price(channels: int, step: int) -> list[int]:
    """The narrower widths of a group of ``channels`` worth pricing: each of :data:`FRACTIONS` cut, rounded down to
    a multiple of ``step``, at least one step."""
    return sorted({max(step, int(channels * (1 - f)) // step * step) for f in FRACTIONS} - {channels}, reverse=True)


def price(model, size: int, classes: int, criterion: str, meter, step: int,
          judge: Divergence | None = None) -> tuple[dict[str, int], list[Option]]:
    """Every width of every layer group of ``model``, each cut alone, priced by ``meter`` with the whole model; its
    saving is the mean over the meter's settings of the fraction of the whole model's price it saves, and a width
    that saves no more than the meter can resolve is not an option. Its cost: ``judge`` of the cut model, else the
    share of its group's importance it drops. Returns (each group's channels, the options)."""
    groups = layer_groups(model, size, classes, criterion)
    cuts = {(g, w): prune_to_widths(copy.deepcopy(model), size, {g: w}, classes, criterion)
            for g, scores in groups.items() for w in widths_to_price(len(scores), step)}
    # the whole model three times over, first, amid and last in the loop: the median of its three prices is the
    # reference (one timing at 2 threads, batch 1 sat 7 % above every cut of the model, whatever the cut)
    keys = list(cuts)
    half = len(keys) // 2
    t = meter.prices({WHOLE[0]: model, **{k: cuts[k] for k in keys[:half]}, WHOLE[1]: model,
                      **{k: cuts[k] for k in keys[half:]}, WHOLE[2]: model})
    whole = [statistics.median(t[k][i] for k in WHOLE) for i in range(len(t[WHOLE[0]]))]
    saved = {k: statistics.fmean(1 - x / w for x, w in zip(t[k], whole)) for k in keys}
    useful = [k for k in keys if saved[k] > meter.resolution]
    cost = {(g, w): judge(cuts[(g, w)]) if judge else float(groups[g].sort().values[:len(groups[g]) - w].sum())
            for g, w in useful}
    options = [Option(g, w, saved[(g, w)], cost[(g, w)]) for g, w in useful]
    return {g: len(scores) for g, scores in groups.items()}, options


def knapsack(options: list[Option], need: float) -> dict[str, int]:
    """The widths, at most one per group, whose savings add up to ``need`` at the least cost (a group not named
    stays whole); if no choice saves that much, the one that saves the most. Options that saved nothing measurable
    are never worth their cost and are left out."""
    useful = [o for o in options if o.saving > 0]
    if need <= 0 or not useful:
        return {}
    unit = need / UNITS
    by_group: dict[str, list[Option]] = {}
    for o in useful:
        by_group.setdefault(o.group, []).append(o)
    # best[j]: the cheapest (cost, choice) found that saves at least j units (capped at UNITS)
    best: list[tuple[float, dict[str, int]] | None] = [None] * (UNITS + 1)
    best[0] = (0.0, {})
    for group, opts in by_group.items():
        step = list(best)  # this group whole
        for j, have in enumerate(best):
            if have is None:
                continue
            for o in opts:
                k = min(UNITS, j + math.floor(o.saving / unit))
                cost = have[0] + o.cost
                if step[k] is None or cost < step[k][0]:
                    step[k] = (cost, {**have[1], group: o.width})
        best = step
    if best[UNITS] is not None:
        return best[UNITS][1]
    return {g: max(opts, key=lambda o: o.saving).width for g, opts in by_group.items()}  # the most there is


def choose_widths(model, size: int, classes: int, criterion: str, meter, target: float, step: int,
                  whole_kept: float = 1.0, judge: Divergence | None = None) -> tuple[dict[str, int], object, dict]:
    """The least costly widths found that bring ``model`` to at most ``target`` × the source's price at every
    setting of ``meter``, else the cheapest-running found. The knapsack is asked for a ladder of savings around what
    the target needs (savings do not add up exactly, and each was priced alone), and ``meter`` measures every
    distinct choice whole, in one loop with the source: timed apart, a 2-thread batch-1 run drifts more between
    loops than the steps differ. ``whole_kept``: ``model``'s price as a fraction of the source's at the setting where
    it is largest (1: ``model`` is the source's model; the widened one differs). ``judge``: costs measured
    (:class:`Divergence`), each choice's too, whole; else importance shares, a choice's the sum of its options'.
    Returns (widths, the pruned model, a record: each group's channels, the priced options, every choice measured,
    and the fraction of the groups' channels removed as ``ratio``)."""
    channels, options = price(model, size, classes, criterion, meter, step, judge)
    need = 1 - target / whole_kept  # a fraction of ``model``'s price
    choices = [{}]  # the model as it is (widened: may be enough alone)
    for factor in LADDER:
        widths = knapsack(options, need * factor)
        if widths not in choices:
            choices.append(widths)
    pruned = [prune_to_widths(copy.deepcopy(model), size, w, classes, criterion) for w in choices]
    kept_at = meter.kept(dict(enumerate(pruned)))
    kept = {i: max(k) for i, k in kept_at.items()}  # the setting that gains least decides
    cost = [judge(m) if judge else sum(o.cost for o in options if w.get(o.group) == o.width)
            for w, m in zip(choices, pruned)]
    # within the meter's resolution counts as met: in a cold demo a choice that timed 0.606 against a target of 0.6
    # lost to one of twice its importance cost that timed 0.511 (which then lost 0.44 val macro-F1 in 4 epochs)
    enough = [i for i in range(len(choices)) if kept[i] <= target * (1 + meter.resolution)]
    pick = min(enough, key=lambda i: cost[i]) if enough else min(range(len(choices)), key=lambda i: kept[i])
    total = sum(channels.values())
    record = {"ratio": round(sum(channels[g] - w for g, w in choices[pick].items()) / total, 4) if total else 0.0,
              "widths": choices[pick], "kept": round(kept[pick], 4),
              "kept_at": [round(k, 4) for k in kept_at[pick]], "cost": round(cost[pick], 5),
              "channels": channels, "whole_kept": round(whole_kept, 4), "step": step, "unit": meter.unit,
              "cost_of": judge.describe() if judge else "the share of each group's importance dropped",
              "settings": meter.settings, "saving": "mean fraction of the whole model's price over the settings",
              "options": [{"group": o.group, "width": o.width, "saving": round(o.saving, 5), "cost": round(o.cost, 5)}
                          for o in options],
              "choices": [{"widths": w, "kept": round(kept[i], 4), "kept_at": [round(k, 4) for k in kept_at[i]],
                           "cost": round(cost[i], 5)}
                          for i, w in enumerate(choices)]}
    return choices[pick], pruned[pick], record
