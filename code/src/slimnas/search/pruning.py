"""Stopping weak trials early in a multi-objective (F1 vs MACs) study.

Optuna's pruners need ``trial.report``, which multi-objective studies refuse. Here each trial records its
validation F1 after every epoch (user attr ``f1_curve``); at epoch ``k`` a running trial stops when a
finished trial with no more MACs had a clearly higher F1 at the same epoch. That trial already dominates
it at equal training, so the runner is very unlikely to reach the Pareto front. The same rule serves the
single-objective competition score, which improves with lower MACs and higher F1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from optuna.trial import FrozenTrial, TrialState


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
        trained = [t for t in finished if t.state == TrialState.COMPLETE and len(t.user_attrs.get("f1_curve", ())) >= epoch]
        if len(trained) < self.min_trials:
            return None
        beaten = [t for t in trained
                  if key in t.user_attrs and t.user_attrs[key] <= cost
                  and t.user_attrs["f1_curve"][epoch - 1] >= f1 + self.margin]
        return min(beaten, key=lambda t: t.user_attrs[key], default=None)
