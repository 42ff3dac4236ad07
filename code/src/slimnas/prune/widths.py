"""Per-group channel counts for a target, as HALP chooses them: price every width, then a knapsack.

A uniform ratio cuts every layer group alike, but a group's channels differ in what they cost and in what they
do: on ONNX Runtime's blocked kernels (16 channels a block with AVX-512) a 32-channel group cut by 10 % runs as
fast as before, and the same cut everywhere at multiples of 16 halves it. Here each group's narrower widths are
*priced* — the model with only that group cut, against the whole one: timed interleaved on the deployment target
for a latency target (:class:`Latency`), counted for a MACs target (:class:`Macs`) — and *costed* by the
importance of the channels they drop; a multiple-choice knapsack then finds the cheapest widths whose savings
reach the target. Savings of different groups do not quite add up (a layer between two cut groups saves less than
the sum), so the knapsack is asked for a ladder of savings and every choice is measured whole.
"""

from __future__ import annotations

import copy
import math
import statistics
from dataclasses import dataclass

from ..latency.measure import DeployTarget, interleaved
from ..latency.table import model_call
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
    saving: float  # measured: the model with only this group cut, against the whole one (ms or MACs)
    cost: float  # the share of its group's importance that the channels it drops hold


class Latency:
    """Prices in milliseconds on ``runtime``, each set of models timed interleaved; ``source``: one call of the
    model the target is a fraction of."""

    unit = "ms"
    resolution = 0.02  # a saving below this fraction of the whole model's time is the timer's (sessions: ±1-1.5 %)

    def __init__(self, size: int, runtime: DeployTarget, source):
        self.size, self.runtime, self.source = size, runtime, source

    def prices(self, models: dict) -> dict:
        t = interleaved({k: model_call(m, self.size, self.runtime) for k, m in models.items()}, min_rounds=10,
                        max_rounds=20)
        return {k: v.ms for k, v in t.items()}

    def kept(self, models: dict) -> dict:
        """Each model's time as a fraction of the source's, all timed in one interleaved loop with it."""
        t = interleaved({"source": self.source, **{k: model_call(m, self.size, self.runtime) for k, m in models.items()}},
                        min_rounds=10, max_rounds=30)
        return {k: t[k].ms / t["source"].ms for k in models}


class Macs:
    """Prices in MACs, counted in ``convention``; ``source_macs``: the model the target is a fraction of."""

    unit = "MACs"
    resolution = 0.0  # counted exactly

    def __init__(self, size: int, convention: str, source_macs: int):
        self.size, self.convention, self.source_macs = size, convention, source_macs

    def prices(self, models: dict) -> dict:
        return {k: float(count_macs(m, self.size, convention=self.convention).macs) for k, m in models.items()}

    def kept(self, models: dict) -> dict:
        return {k: v / self.source_macs for k, v in self.prices(models).items()}


def widths_to_price(channels: int, step: int) -> list[int]:
    """The narrower widths of a group of ``channels`` worth pricing: each of :data:`FRACTIONS` cut, rounded down to
    a multiple of ``step``, at least one step."""
    return sorted({max(step, int(channels * (1 - f)) // step * step) for f in FRACTIONS} - {channels}, reverse=True)


def price(model, size: int, classes: int, criterion: str, meter, step: int) -> tuple[dict[str, int], list[Option], float]:
    """Every width of every layer group of ``model``, each cut alone, priced by ``meter`` with the whole model; a
    width that saves no more than the meter can resolve is not an option. Returns (each group's channels, the
    options, the whole model's price)."""
    groups = layer_groups(model, size, classes, criterion)
    cuts = {(g, w): prune_to_widths(copy.deepcopy(model), size, {g: w}, classes, criterion)
            for g, scores in groups.items() for w in widths_to_price(len(scores), step)}
    # the whole model three times over, first, amid and last in the loop: the median of its three prices is the
    # reference (one timing at 2 threads, batch 1 sat 7 % above every cut of the model, whatever the cut)
    keys = list(cuts)
    half = len(keys) // 2
    t = meter.prices({WHOLE[0]: model, **{k: cuts[k] for k in keys[:half]}, WHOLE[1]: model,
                      **{k: cuts[k] for k in keys[half:]}, WHOLE[2]: model})
    whole = statistics.median(t[k] for k in WHOLE)
    options = [Option(g, w, whole - t[(g, w)], float(groups[g].sort().values[:len(groups[g]) - w].sum()))
               for g, w in cuts if whole - t[(g, w)] > meter.resolution * whole]
    return {g: len(scores) for g, scores in groups.items()}, options, whole


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
                  whole_kept: float = 1.0) -> tuple[dict[str, int], object, dict]:
    """The least costly widths found that bring ``model`` to at most ``target`` × the source's price, else the
    cheapest-running found. The knapsack is asked for a ladder of savings around what the target needs (savings do
    not add up exactly, and each was priced alone), and ``meter`` measures every distinct choice whole, in one loop
    with the source: timed apart, a 2-thread batch-1 run drifts more between loops than the steps differ.
    ``whole_kept``: ``model``'s price as a fraction of the source's (1: ``model`` is the source's model; the widened
    one differs). Returns (widths, the pruned model, a record: each group's channels, the priced options, every
    choice measured, and the fraction of the groups' channels removed as ``ratio``)."""
    channels, options, whole = price(model, size, classes, criterion, meter, step)
    need = whole * (1 - target / whole_kept)
    choices = [{}]  # the model as it is (widened: may be enough alone)
    for factor in LADDER:
        widths = knapsack(options, need * factor)
        if widths not in choices:
            choices.append(widths)
    pruned = [prune_to_widths(copy.deepcopy(model), size, w, classes, criterion) for w in choices]
    kept = meter.kept(dict(enumerate(pruned)))
    cost = [sum(o.cost for o in options if w.get(o.group) == o.width) for w in choices]
    # within the meter's resolution counts as met: in a cold demo a choice that timed 0.606 against a target of 0.6
    # lost to one of twice its importance cost that timed 0.511 (which then lost 0.44 val macro-F1 in 4 epochs)
    enough = [i for i in range(len(choices)) if kept[i] <= target * (1 + meter.resolution)]
    pick = min(enough, key=lambda i: cost[i]) if enough else min(range(len(choices)), key=lambda i: kept[i])
    total = sum(channels.values())
    record = {"ratio": round(sum(channels[g] - w for g, w in choices[pick].items()) / total, 4) if total else 0.0,
              "widths": choices[pick], "kept": round(kept[pick], 4), "cost": round(cost[pick], 3),
              "channels": channels, "whole_kept": round(whole_kept, 4), "step": step, "unit": meter.unit,
              "options": [{"group": o.group, "width": o.width, "saving": round(o.saving, 5), "cost": round(o.cost, 3)}
                          for o in options],
              "choices": [{"widths": w, "kept": round(kept[i], 4), "cost": round(cost[i], 3)}
                          for i, w in enumerate(choices)]}
    return choices[pick], pruned[pick], record
