"""The search's settings: one dataclass that the CLI fills, checked before any data is read or study opened."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from ..cli import check_output_dir
from ..data.config import split_source
from ..errors import ConfigError
from .pruning import PRUNERS, RANK_BY
from .score import F1_REF, MACS_REF
from .storage import check_storage, storage_source, storage_url

DIRECTIONS = {"pareto": ["maximize", "minimize"], "score": ["minimize"]}


@dataclasses.dataclass
class SearchConfig:
    space: str = "default"  # a packaged search space by name, or a YAML file
    data: str | None = None  # None: the embedded synthetic default
    study: str = "search"
    out: str = "runs"  # outputs go to <out>/<study>/
    storage: str | None = None
    n_trials: int = 20
    timeout: float | None = None  # seconds, per worker
    n_workers: int = 1
    epochs: int = 8
    steps: int | None = None  # optimisation steps of a fully trained trial instead of epochs (small data gets more epochs)
    sampler: str = "tpe"  # tpe | nsga2 | random
    mode: str = "pareto"  # pareto | score
    max_macs: float | None = 20e6
    macs_convention: str | None = None  # aten | pytorch; None: pytorch in score mode (the competition's), else aten
    max_params: float | None = None
    objective: str = "macs"  # the cost axis of the pareto mode: macs | latency (ms on the runtime below)
    max_latency_ms: float | None = None  # gate on the predicted latency, like max_macs
    latency_threads: int = 1  # the deployment runtime the latency is measured for (ONNX Runtime CPU)
    latency_batch: int = 1
    macs_ref: float = MACS_REF
    f1_ref: float = F1_REF
    # what ranks trials at the pruner's rungs and picks the recommendation (pareto mode): val_f1, or val_nll, the
    # class-balanced val NLL (smooth where macro-F1 on 1-3 val images per label jumps). On dev (bench/search_fidelity.py
    # --dev, 2 search seeds) neither ranked the retrained top 10 better (mean Kendall τ 0.14 by F1, 0.10 by NLL), so
    # val F1 stays. The study's objective and its front are val macro-F1 against cost either way.
    rank_by: str = "val_f1"
    # the space's start point stays the recommendation unless a trial trained as far beats its val F1 by more than
    # this, scaled up for the number of rivals (report.rival_margin): the gain one rival *as good as* the start point
    # reaches 5 % of the time by chance. On dev (bench/start_margin.py) the start point's 6-epoch trial scored val
    # macro-F1 0.189 ± 0.031 over 10 seeds (init, data order, augmentation): z·√2·sd = 0.072. Dev also ranks the start
    # point first of 7 candidates refit for 240 s (bench/start_point.py), and one seed's 6-epoch trials order those 7
    # at Kendall τ 0.33-0.81: leaving it on a smaller gain trades the best candidate for noise. On a smaller val split
    # the start trial's own noise (report.keep_start) raises it. 0: off.
    start_margin: float = 0.07
    pruner: str = "asha"  # asha: successive halving by non-dominated rank | dominance | none (see search.pruning)
    reduction: int = 3  # asha: a third of the trials at each rung go on
    prune_after: int | None = None  # dominance: first epoch a trial may stop (None: a quarter of the epochs, >= 2)
    seed: int = 0
    device: str = "auto"
    heartbeat: int = 30  # seconds between a running trial's heartbeats (database storages); 0: off
    retries: int = 1  # times a trial lost with its worker is run again
    revalidate: int = 0  # after the search: this many best front trials trained again on other hold-out splits
    revalidate_splits: int = 2  # ... on this many more splits; the recommendation goes by the mean F1

    @property
    def run_dir(self) -> Path:
        return Path(self.out) / self.study

    def trial_epochs(self, data_cfg) -> int:
        """Epochs of a fully trained trial: ``epochs``, or enough epochs of the data's train split for ``steps``."""
        if not self.steps:
            return self.epochs
        _, train_idx, _ = split_source(data_cfg)
        per_epoch = max(1, len(train_idx) // data_cfg.batch_size)  # the train loader drops the last partial batch
        return max(1, math.ceil(self.steps / per_epoch))

    @property
    def cost_key(self) -> str:
        """The trial attribute the pareto mode minimises."""
        return "latency_ms" if self.objective == "latency" else "macs"

    @property
    def convention(self) -> str:
        """How MACs are counted (gate, objective, outputs): the competition counted with ptflops' pytorch backend."""
        return self.macs_convention or ("pytorch" if self.mode == "score" else "aten")

    def check(self) -> None:
        """Refuse settings that cannot run, before any data is read or any study opened."""
        for name in ("n_trials", "n_workers", "epochs"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be an integer >= 1, got {v!r}")
        if self.steps is not None and (isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1):
            raise ConfigError(f"--steps must be an integer >= 1, got {self.steps!r}")
        for name in ("max_macs", "max_params", "timeout", "max_latency_ms"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be > 0 (or left out for no limit), got {v:g}")
        if not 0 <= self.start_margin < 1:
            raise ConfigError(f"--start-margin must be in [0, 1) (0: off), got {self.start_margin}")
        if self.rank_by not in RANK_BY:
            raise ConfigError(f"unknown --rank-by {self.rank_by!r} (use {', '.join(RANK_BY)})")
        if self.pruner not in PRUNERS:
            raise ConfigError(f"unknown pruner {self.pruner!r} (use {', '.join(PRUNERS)})")
        for name, low in (("revalidate", 0), ("revalidate_splits", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ConfigError(f"--{name.replace('_', '-')} must be an integer >= {low}, got {v!r}")
        if isinstance(self.reduction, bool) or not isinstance(self.reduction, int) or self.reduction < 2:
            raise ConfigError(f"--reduction must be an integer >= 2, got {self.reduction!r}")
        if self.mode not in DIRECTIONS:
            raise ConfigError(f"unknown mode {self.mode!r} (use 'pareto' or 'score')")
        if self.objective not in ("macs", "latency"):
            raise ConfigError(f"unknown objective {self.objective!r} (use 'macs' or 'latency')")
        if self.mode == "score" and self.objective != "macs":
            raise ConfigError("--mode score is the competition's MACs score; use --objective latency with --mode pareto")
        if self.latency_threads < 1 or self.latency_batch < 1:
            raise ConfigError(f"--latency-threads and --latency-batch must be >= 1, got {self.latency_threads}, "
                              f"{self.latency_batch}")
        if self.convention not in ("aten", "pytorch"):
            raise ConfigError(f"unknown MACs convention {self.convention!r} (use 'aten' or 'pytorch')")
        check_output_dir(self.out, "--out")
        if storage_url(self.storage, ""):
            check_storage(storage_url(self.storage, ""), storage_source(self.storage))
        if not self.macs_ref > 0 or not 0 < self.f1_ref <= 1:
            raise ConfigError(f"--macs-ref must be > 0 and --f1-ref in (0, 1], got {self.macs_ref:g}, {self.f1_ref:g}")
