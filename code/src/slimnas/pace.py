"""How fast this machine is, and a time plan for a run that must end on time (the demo).

A run planned in epochs takes twice as long on a machine twice slower. The demo is planned in seconds
instead: :func:`machine_pace` times a fixed few training steps (about a second) against the same steps on
the machine the demo's fixed costs were measured on, and :class:`TimePlan` splits what is left of the
wall-clock budget between the search, the retrain (``train --time-budget``: the retrain's own measured
pace then sets its epochs) and the fixed-cost tail (decompose, export, the summary table), whose
seconds scale with the pace. A budget too small for a useful result is said, not run.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch
import torch.nn as nn

from .errors import SlimnasError

# Measured on the 2-core x86_64 machine of bench/RESULTS.md (2026-11-30, a cold `make demo`): the probe's
# seconds per step, and what the demo spends outside the search's and the retrain's own clocks. The steps run
# in the demo's process (no imports of their own) since 2026-12-02: at pace 1.23 the search step then took
# 3 s more than its trials and the retrain 3 s more than its --time-budget; twice that, and more, is kept.
REFERENCE_STEP_S = 0.034
SEARCH_OVERHEAD_S = 10.0  # the search step around its --timeout: opening the study, decoding images at its sizes
TRAIN_OVERHEAD_S = 8.0  # the retrain around its --time-budget: decoding, thread probe, the test split's score
# The steps after the retrain, besides their fine-tuning epochs, at the reference pace. A cold demo on a noisier host
# (2026-12-07, pace 1.9-2.2 by the probe): decompose 8 s, a fine-tune's export + parity + INT8 trial + predictions
# 12-17 s, prune (its latency grid timed at 2 threads, a settle pause per candidate) 67 s, the exact rewrite and its
# export 17 s, the table 37 s.
DECOMPOSE_S = 5.0
EXPORT_S = 10.0  # a fine-tune step besides its epochs: loading, final score, export, parity, INT8 trial, predictions
TABLE_S = 25.0  # step 5: every candidate scored and timed on ORT (two settings), the shipped predictions
# of which each row of the table (exported, scored on val and test, timed): five rows took 37 s at pace 1.9-2.2, two
# rows 20 s at pace 2.57 (2026-12-07), ~4 s a row at the reference; a candidate that gives way takes its rows along
ROW_S = 4.0
PRUNE_S = 35.0  # the prune step: the latency grid timed on ORT
TAIL_S = DECOMPOSE_S + EXPORT_S + TABLE_S  # without the pruned candidates
# the pruned candidate and the exact rewrite: the prune step, two exports (the rewrite is a second prune with no timing)
PRUNE_TAIL_S = PRUNE_S + 2 * EXPORT_S + DECOMPOSE_S
# the steps after a fine-tune are estimated, not measured, and nothing after them gives way: a fifth more is kept
TAIL_MARGIN = 1.2
MIN_SEARCH_S = 20.0  # less is not a search: the start point alone
SEARCH_SHARE = 0.25  # of the free time, by default; the retrain gets the rest
# fewer leaves the demo's model far from trained (0.29 val macro-F1 at epoch 8 of 30); a retrain that goes on from
# the search trial's weights counts that trial's epochs too
MIN_RETRAIN_EPOCHS = 15
MAX_SEARCH_SHARE = 0.75  # a search given more (by hand) leaves the retrain too little to train its pick
UNCAPPED_EPOCHS = 1000  # the retrain's epoch cap when the time plan decides (train --time-budget ends on time)


def available_cores() -> int:
    """The cores this process may run on (a ``taskset`` or a container's CPU set), not the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class TooSlow(SlimnasError):
    """The time budget left is too small for a useful result on this machine."""


def probe_model() -> nn.Module:
    """A small fixed CNN of the kind slimnas searches: the yardstick of the training pace here and of the latency
    table's timings (``latency.table``)."""
    return nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1, groups=16),
                         nn.Conv2d(32, 64, 1), nn.BatchNorm2d(64), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(64, 88))


def machine_pace(steps: int = 20) -> float:
    """This machine's slowness against the reference: 1.0 there, 2.0 on a machine twice slower (never below 1).

    Times ``steps`` training steps (about a second) of a small fixed CNN at batch 64, 96 px, with torch's
    current threads, after two warm-up steps. The fastest step is compared with :data:`REFERENCE_STEP_S`:
    the minimum is what the machine can do, where a median also measures whoever shares it this second
    (the reference machine's median wandered by 25 % between runs, its minimum by 10 %; pinned to one core
    it measured 1.7-1.9x the reference).
    """
    g = torch.Generator().manual_seed(0)
    model, x = probe_model(), torch.randn(64, 3, 96, 96, generator=g)
    y = torch.randint(0, 88, (64,), generator=g)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    times = []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return max(1.0, min(times) / REFERENCE_STEP_S)


@dataclass
class TimePlan:
    """Seconds of a wall-clock budget, from a start that may precede this process (``make demo``'s venv)."""

    total_s: float
    started: float  # time.time() at the start of the budget
    pace: float = 1.0
    tail_s: float = TAIL_S  # the steps after the retrain, at the reference pace (fine-tuning epochs aside)

    def left(self) -> float:
        return self.total_s - (time.time() - self.started)

    def free(self) -> float:
        """Seconds left for the search and the retrain once every fixed cost (at this pace) is set aside."""
        return self.left() - (SEARCH_OVERHEAD_S + TRAIN_OVERHEAD_S + self.tail_s) * self.pace

    def search_seconds(self, share: float = SEARCH_SHARE) -> float:
        """The search's ``--timeout``: ``share`` of what is left once every fixed cost is set aside."""
        seconds = share * self.free()
        if seconds < MIN_SEARCH_S:
            raise TooSlow(f"this machine (pace {self.pace:.1f}x the reference) has {self.left():.0f} s of the "
                          f"{self.total_s / 60:g}-minute budget left, too little for a search and a retrain that "
                          f"would mean anything; give more time with --minutes (about "
                          f"{self.needed_minutes():.0f} here)")
        return seconds

    def check_search(self, seconds: float) -> None:
        """Refuse a search budget given by hand that leaves the retrain too little, before the search runs."""
        if seconds > MAX_SEARCH_SHARE * self.free():
            raise TooSlow(f"a {seconds:g} s search leaves the retrain too little of the {self.total_s / 60:g}-minute "
                          f"plan ({self.free():.0f} s are left for both on this machine once the fixed-cost steps "
                          f"are set aside); give more --minutes (about "
                          f"{self.needed_minutes(seconds / MAX_SEARCH_SHARE):.0f}) or a smaller --search-budget")

    def retrain_seconds(self, epoch_s: float, ft_epochs: int = 0, min_epochs: int | None = None,
                        ft_floor: int = 0, warm_epochs: int = 0) -> float:
        """The retrain's ``--time-budget``: all that is left but the tail (and ``ft_epochs`` of fine-tuning at
        ``epoch_s``, the search's measured seconds per epoch of the chosen model). Refused if that is fewer than
        ``min_epochs`` (the user's ``--epochs``) or :data:`MIN_RETRAIN_EPOCHS` epochs (less the ``warm_epochs`` the
        weights it starts from were trained already) even once the fine-tunes
        give way, down to ``ft_floor`` epochs in all (one each): they take what is left when they run
        (:meth:`finetune_seconds`), and a candidate fine-tuned too little is not shipped, where a retrain too short
        leaves nothing worth compressing."""
        need = max(min_epochs or 0, MIN_RETRAIN_EPOCHS - warm_epochs)
        asked = f"--epochs {min_epochs}" if min_epochs else ""
        warm = f" after the {warm_epochs} it trained in the search" if warm_epochs and need != min_epochs else ""
        for ft in (ft_epochs, min(ft_floor, ft_epochs)):
            seconds = self.left() - (TRAIN_OVERHEAD_S + self.tail_s) * self.pace - ft * epoch_s
            if seconds >= need * epoch_s:
                return seconds
        raise TooSlow(f"this machine trains the chosen model at {epoch_s:.1f} s an epoch; of the "
                      f"{self.total_s / 60:g}-minute budget, {max(seconds, 0):.0f} s remain for the retrain once "
                      f"the fixed-cost steps are set aside (pace {self.pace:.1f}x the reference): "
                      f"{max(seconds, 0) / epoch_s:.0f} epochs, fewer than the {need} "
                      f"{'asked for by ' + asked if need == min_epochs else 'a useful result needs'}"
                      f"{warm}; give more "
                      f"time with --minutes (finished steps are reused)")

    def finetune_seconds(self, fixed_after_s: float, finetunes_left: int) -> float:
        """A fine-tune's ``--time-budget`` (its ``--epochs`` stay the cap): an equal share, among the
        ``finetunes_left`` fine-tunes (this one included), of what is left once the fixed costs still to come
        (``fixed_after_s`` at the reference pace, this step's own export included) are set aside. On plan, that is
        more than its epochs need; behind it (a step slower than its estimate, a pace probe that caught a quiet
        second), the fine-tunes pay for it, not the deadline. The loop still trains one epoch at least."""
        return max((self.left() - TAIL_MARGIN * fixed_after_s * self.pace) / max(finetunes_left, 1), 1.0)

    def needed_minutes(self, free_s: float = MIN_SEARCH_S / SEARCH_SHARE) -> float:
        """A budget that would leave ``free_s`` for the search and the retrain (by default: the search its
        minimum at its share), at this pace."""
        return self.total_s / 60 + (free_s - self.free()) / 60
