"""Stopping weak trials early in a multi-objective (F1 vs cost) study.

Optuna's pruners need ``trial.report``, which multi-objective studies refuse. Here each trial records its
ranking score after every epoch (user attr ``score_curve``, higher is better: minus the class-balanced val NLL,
or the val macro-F1, see :data:`RANK_BY`), and a pruner reads the curves of the other trials:

- :class:`RungPruner` (the default): asynchronous successive halving (ASHA, Li et al. 2020) made
  two-objective. Rungs sit at ``epochs / η^k``; a trial reaching a rung goes on only if it is in the top
  ``1/η`` of every trial that reached that rung, ranked by non-dominated sorting on (F1 so far, cost) and,
  within a front, by crowding distance (NSGA-II), so the front's ends and spread go on first. Weak
  candidates stop after a few epochs and the saved time goes to more candidates and to longer training
  of the promising ones.
- :class:`DominancePruner`: at epoch ``k`` a running trial stops when a finished trial with no more cost
  had a clearly higher F1 at the same epoch. It stops fewer trials, so each one is trained longer.

Both serve the single-objective competition score too (it improves with lower MACs and higher F1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

from optuna.trial import FrozenTrial, TrialState

from .pareto import non_dominated_fronts

PRUNERS = ("asha", "dominance", "none")
RANK_BY = ("val_nll", "val_f1")  # what a trial's score is: minus its class-balanced val NLL, or its val macro-F1


def score_curve(attrs: dict) -> list[float]:
    """A trial's per-epoch ranking score (higher is better), or its val F1 curve in a study from before scores."""
    return attrs.get("score_curve") or attrs.get("f1_curve") or []


def scores(rank_by: str, f1_curve: Sequence[float], nll_curve: Sequence[float]) -> list[float]:
    """The score curve ``rank_by`` ranks by, from a trial's val macro-F1 and class-balanced val NLL per epoch."""
    return list(f1_curve) if rank_by == "val_f1" else [-v for v in nll_curve]


def shown(score: float) -> str:
    """A score as the metric it is (a negative score is a negated NLL)."""
    return f"val NLL {-score:.3f}" if score < 0 else f"F1 {score:.3f}"


@dataclass(frozen=True)
class DominancePruner:
    after_epoch: int = 2  # never stop a trial before this many epochs (early F1 is noise)
    min_trials: int = 3  # finished, trained trials needed before anything is stopped
    margin: float = 0.02  # a rival must lead by this much F1

    def rival(self, finished: Iterable[FrozenTrial], cost: float, epoch: int, f1: float,
              key: str = "macs") -> FrozenTrial | None:
        """The finished trial that dominates (``cost``, ``f1`` at ``epoch``), or ``None`` to go on; ``key``
        names the cost attribute (``macs`` or ``latency_ms``)."""
        if epoch < self.after_epoch:
            return None
        trained = [t for t in finished if t.state == TrialState.COMPLETE and len(score_curve(t.user_attrs)) >= epoch]
        if len(trained) < self.min_trials:
            return None
        beaten = [t for t in trained
                  if key in t.user_attrs and t.user_attrs[key] <= cost
                  and score_curve(t.user_attrs)[epoch - 1] >= f1 + self.margin]
        return min(beaten, key=lambda t: t.user_attrs[key], default=None)

    def verdict(self, others: Sequence[FrozenTrial], cost: float, curve: Sequence[float], epochs: int,
                key: str = "macs") -> str | None:
        """Why the trial with per-epoch F1 ``curve`` and ``cost`` should stop now, or ``None`` to go on."""
        epoch = len(curve)
        rival = self.rival(others, cost, epoch, curve[-1], key)
        if rival is None:
            return None
        at = f"{rival.user_attrs['macs'] / 1e6:.2f} M MACs" if key == "macs" else f"{rival.user_attrs[key]:.3f} ms"
        return (f"epoch {epoch}: {shown(curve[-1])} dominated by trial {rival.number} "
                f"({shown(score_curve(rival.user_attrs)[epoch - 1])} at {at})")


@dataclass(frozen=True)
class RungPruner:
    reduction: int = 3  # η: a third of the trials at a rung go on to the next
    min_epochs: int = 2  # the first rung is never earlier than this (F1 after one warm-up epoch is noise)

    def rungs(self, epochs: int) -> list[int]:
        """The epochs at which a trial of ``epochs`` epochs is ranked (ascending; the last one is not a rung)."""
        out, k = set(), 1
        while (rung := math.ceil(epochs / self.reduction ** k)) >= self.min_epochs and rung < epochs:
            out.add(rung)
            if rung == self.min_epochs:
                break
            k += 1
        return sorted(out)

    def verdict(self, others: Sequence[FrozenTrial], cost: float, curve: Sequence[float], epochs: int,
                key: str = "macs") -> str | None:
        epoch = len(curve)
        if epoch not in self.rungs(epochs):
            return None
        # every other trial that got this far, whatever its state now (running, stopped or finished)
        rivals = [(max(score_curve(t.user_attrs)[:epoch]), t.user_attrs[key]) for t in others
                  if key in t.user_attrs and len(score_curve(t.user_attrs)) >= epoch
                  and "duplicate_of" not in t.user_attrs]  # a re-proposed candidate is not a second rival
        points = [(max(curve), cost), *rivals]
        order = promotion_order(points)
        keep = max(1, len(points) // self.reduction)
        place = order.index(0) + 1
        if place <= keep:
            return None
        name = "F1" if max(curve) >= 0 else "val NLL"
        return (f"rung at epoch {epoch}: {shown(max(curve))} ranks {place} of {len(points)} on ({name}, "
                f"{'MACs' if key == 'macs' else 'latency'}); the top {keep} go on")


def promotion_order(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of (F1, cost) ``points``, best first: by non-dominated front, then by crowding distance within
    a front (the ends first, so the cheapest and the most accurate go on), then by F1."""
    fronts = non_dominated_fronts(points)
    order = []
    for front in fronts:
        crowd = crowding(points, front)
        order += sorted(front, key=lambda i: (-crowd[i], -points[i][0], points[i][1], i))
    return order


def crowding(points: Sequence[tuple[float, float]], front: Sequence[int]) -> dict[int, float]:
    """NSGA-II crowding distance of each index in ``front`` (the two ends of each objective: infinite)."""
    dist = {i: 0.0 for i in front}
    for axis in (0, 1):
        ranked = sorted(front, key=lambda i: points[i][axis])
        span = points[ranked[-1]][axis] - points[ranked[0]][axis]
        dist[ranked[0]] = dist[ranked[-1]] = math.inf
        for lo, mid, hi in zip(ranked, ranked[1:], ranked[2:]):
            if span > 0:
                dist[mid] += (points[hi][axis] - points[lo][axis]) / span
    return dist
