"""Create or resume a study, run trials (in one process or several), and write the outputs.

The study lives in an Optuna storage: by default ``runs/<study>/study.db`` (SQLite); any Optuna URL
works (``postgresql://…``, ``mysql://…``), and a path ending in ``.log`` is a journal file. Running again
with the same study name resumes it: completed trials are kept, new ones are added.

Crash safety: on database storages each running trial writes a heartbeat every ``heartbeat`` seconds. A
trial whose worker died (SIGKILL, a lost machine, the OOM killer) stops beating; after twice that
interval the next trial start marks it FAIL and enqueues it again with the same parameters
(``RetryHeartbeatStaleTrialCallback``), so a crash costs one trial's work, never a finished trial. Journal files
have no heartbeat: a killed trial there stays RUNNING and is not retried.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import multiprocessing as mp
import time
import warnings

import optuna

from ..data.config import load_data_config, prepare_data
from ..errors import ConfigError, SlimnasError
from ..io import made_dirs
from ..latency.measure import DeployTarget
from ..latency.table import LatencyTable
from ..model import build_model
from ..pace import available_cores
from ..train.loop import TrainConfig
from .objective import Budget, Objective, single_thread
from .pruning import DominancePruner, RungPruner
from .report import trained, trial_note, write_report
from .revalidate import revalidate
from .config import DIRECTIONS, SearchConfig
from .space import load_search_space
from .storage import make_storage as open_storage, storage_source, storage_url

def make_storage(cfg: SearchConfig):
    default = f"sqlite:///{(cfg.run_dir / 'study.db').as_posix()}"
    return open_storage(storage_url(cfg.storage, default), cfg.heartbeat, cfg.retries, storage_source(cfg.storage))


def make_sampler(cfg: SearchConfig, worker: int = 0) -> optuna.samplers.BaseSampler:
    seed = cfg.seed + worker  # workers must not propose the same candidates
    if cfg.sampler == "tpe":
        warnings.filterwarnings("ignore", "Argument ``group``", optuna.exceptions.ExperimentalWarning)
        # group: blocks sample different knobs (a conditional space), which plain multivariate TPE would ignore
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True,
                                          n_startup_trials=8)
    if cfg.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=max(8, min(cfg.n_trials // 3, 50)))
    if cfg.sampler == "random":  # the control a guided search must beat (bench/road_goal.py)
        return optuna.samplers.RandomSampler(seed=seed)
    raise ConfigError(f"unknown sampler {cfg.sampler!r} (use 'tpe', 'nsga2' or 'random')")


def open_study(cfg: SearchConfig, worker: int = 0) -> optuna.Study:
    cfg.check()
    with made_dirs(cfg.run_dir):  # a storage that does not open leaves no empty run folder
        study = optuna.create_study(study_name=cfg.study, storage=make_storage(cfg),
                                    sampler=make_sampler(cfg, worker), directions=DIRECTIONS[cfg.mode],
                                    load_if_exists=True)
    wanted = [optuna.study.StudyDirection.MAXIMIZE if d == "maximize" else optuna.study.StudyDirection.MINIMIZE
              for d in DIRECTIONS[cfg.mode]]
    if study.directions != wanted:
        raise ConfigError(f"study {cfg.study!r} exists with {len(study.directions)} objective(s); "
                          f"--mode {cfg.mode} needs {len(wanted)}: use another --study name")
    if "search" not in study.user_attrs:
        study.set_user_attr("search", {k: v for k, v in dataclasses.asdict(cfg).items() if k != "storage"})
    return study


def make_objective(cfg: SearchConfig) -> Objective:
    data_cfg = load_data_config(cfg.data)
    epochs = cfg.trial_epochs(data_cfg)
    pruner = {"asha": RungPruner(cfg.reduction),
              "dominance": DominancePruner(after_epoch=cfg.prune_after or max(2, math.ceil(epochs / 4))),
              "none": None}[cfg.pruner]
    return Objective(space=load_search_space(cfg.space), data_cfg=data_cfg,
                     train_cfg=TrainConfig(epochs=epochs, seed=cfg.seed, device=cfg.device, progress=False),
                     out=cfg.run_dir, budget=Budget(cfg.max_macs, cfg.max_params, cfg.max_latency_ms), mode=cfg.mode,
                     macs_ref=cfg.macs_ref, f1_ref=cfg.f1_ref, pruner=pruner, convention=cfg.convention,
                     cost=cfg.cost_key, rank_by=cfg.rank_by, latency=LatencyTable(DeployTarget(cfg.latency_threads, cfg.latency_batch)))


class Deadline:
    """Stop starting trials once ``seconds`` of search have passed *and* the study holds a trained model.

    Replaces Optuna's ``timeout``, which can end a search with nothing trained (a cold start, a run of
    over-budget candidates). The clock leaves out the objective's data preparation (decoding the images
    at a new input size), so a slow disk or busy machine does not eat the search budget.
    """

    def __init__(self, seconds: float | None, objective: Objective):
        self.seconds, self.objective, self.start = seconds, objective, time.perf_counter()
        self._said = False

    def elapsed(self) -> float:
        return time.perf_counter() - self.start - self.objective.prep_seconds

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if self.seconds is not None and self.elapsed() >= self.seconds:
            if trained(study):
                study.stop()
            elif not self._said:
                self._said = True
                print(f"search budget of {self.seconds:g} s used, but no candidate has been trained yet: "
                      f"going on until one is", flush=True)


def _optimize(cfg: SearchConfig, worker: int, target: int) -> None:
    """One worker: pull trials until the study holds ``target`` trials or the deadline passes."""
    study = open_study(cfg, worker)
    objective = make_objective(cfg)
    if cfg.n_workers > 1:  # the workers share the cores; one worker alone measures its fastest count
        objective.train_cfg.threads = max(1, available_cores() // cfg.n_workers)
    stop = optuna.study.MaxTrialsCallback(target, states=None)  # counts running trials too: no overshoot
    study.optimize(objective, n_trials=cfg.n_trials, catch=(Exception,),
                   callbacks=[stop, Deadline(cfg.timeout, objective), log_trial])


def log_trial(study: optuna.Study, t: optuna.trial.FrozenTrial) -> None:
    """One line per finished trial (Optuna's own log lines are silenced: they print every parameter)."""
    a = t.user_attrs
    macs = f"{a['macs'] / 1e6:7.3f} M MACs" if "macs" in a else " " * 14
    ms = f"{a['latency_ms']:7.3f} ms" if "latency_ms" in a else " " * 10
    f1 = f"F1 {a['f1']:.4f}" if "f1" in a else " " * 9
    note = trial_note(t)
    print(f"trial {t.number:>4} {t.state.name:<8} {f1}  {macs} {ms}  {a.get('epochs', 0):>2} ep "
          f"{a.get('seconds', 0):>6.1f} s  {note}", flush=True)


def _worker_main(cfg: SearchConfig, worker: int, target: int) -> None:
    optuna.logging.set_verbosity(logging.WARNING)
    _optimize(cfg, worker, target)


def run_search(cfg: SearchConfig) -> optuna.Study:
    """Run ``cfg.n_trials`` more trials on ``cfg.n_workers`` processes; write the outputs even on Ctrl-C.

    Everything is checked first (flags, space, data YAML), then the data is prepared (generated if need
    be) before the search's clock starts. Raises :class:`SearchError` if the study ends with no trained model.
    """
    optuna.logging.set_verbosity(logging.WARNING)
    cfg.check()
    load_search_space(cfg.space)  # fail on a bad space before any process starts or any data is made
    data_cfg = load_data_config(cfg.data)
    prepare_data(data_cfg)
    epochs = cfg.trial_epochs(data_cfg)
    if cfg.objective == "latency" or cfg.max_latency_ms:
        calibrate_latency(cfg)
    study = open_study(cfg)
    so_far = len(study.trials)
    target = so_far + cfg.n_trials
    start = [] if study.trials else load_search_space(cfg.space).start
    for params in start:  # a new study trains the space's start points first (they count among --trials)
        study.enqueue_trial(params)
    limits = ([f"{cfg.max_macs:g} MACs ({cfg.convention} convention)"] if cfg.max_macs else []) + \
        ([f"{cfg.max_latency_ms:g} ms"] if cfg.max_latency_ms else [])
    runtime = DeployTarget(cfg.latency_threads, cfg.latency_batch).describe()
    print(f"study {cfg.study!r}: {so_far} trials so far, adding {cfg.n_trials} on {cfg.n_workers} worker(s), "
          f"{epochs} epochs each{f' ({cfg.steps} steps)' if cfg.steps else ''}"
          f"{f', stopped at rungs {RungPruner(cfg.reduction).rungs(epochs)} unless in the top 1/{cfg.reduction}' if cfg.pruner == 'asha' else ''}"
          f"; F1 vs {'MACs' if cfg.objective == 'macs' else 'latency'} (latency predicted "
          f"for {runtime}); budget {' and '.join(limits) or 'none'}"
          f"{f', {cfg.timeout:g} s' if cfg.timeout else ''}{f'; {len(start)} start point(s) first' if start else ''}"
          f" -> {cfg.run_dir}", flush=True)
    procs = [mp.get_context("spawn").Process(target=_worker_main, args=(cfg, w, target), name=f"slimnas-worker{w}")
             for w in range(1, cfg.n_workers)]
    try:
        for p in procs:
            p.start()
        _optimize(cfg, 0, target)
        for p in procs:
            p.join()
        if cfg.revalidate:  # outside --timeout: the final pick, not the search
            revalidate(open_study(cfg), cfg, cfg.revalidate, cfg.revalidate_splits)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join()
        study = open_study(cfg)
        if study.trials:
            write_report(study, cfg)
    if not trained(study):
        raise SearchError(nothing_trained(study, cfg))
    return study


def calibrate_latency(cfg: SearchConfig, n_models: int = 8) -> None:
    """Fit the latency table to whole models of the space on the runtime, once per runtime and CPU
    (outside the search's clock: the latency drives the search, so it must be calibrated first)."""
    objective = make_objective(cfg)
    table = objective.latency
    if table.calibrated:
        return
    t0 = time.perf_counter()
    print(f"latency: calibrating the table for {table.runtime.describe()} on {n_models} random models "
          f"(once; cached in {table.path})", flush=True)
    configs = objective.space.random_configs(n_models, seed=cfg.seed + 1000)
    with single_thread():
        fit = table.calibrate([(build_model(c, num_classes=len(objective.classes)).eval(), c.input_size) for c in configs])
    table.save()
    print(f"latency: calibrated in {time.perf_counter() - t0:.0f} s (ms = overhead + {fit['fit'][0]:.3f} x blocks "
          f"+ {fit['fit'][1] * 1e3:.2f} us x pieces)", flush=True)


class SearchError(SlimnasError):
    """The search ended without a trained model."""


def nothing_trained(study: optuna.Study, cfg: SearchConfig) -> str:
    """Why no trial was trained, in one line: all over budget, all failed, or all stopped."""
    trials = study.trials
    rejected = [t for t in trials if "rejected" in t.user_attrs]
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    where = f"see {cfg.run_dir / 'trials.csv'}"
    if rejected and len(rejected) == len(trials):
        if cfg.max_latency_ms and any("latency" in t.user_attrs["rejected"] for t in rejected):
            fastest = min(t.user_attrs.get("latency_ms", float("inf")) for t in rejected)
            return (f"all {len(trials)} candidates were over the budget (--max-latency-ms {cfg.max_latency_ms:g}"
                    f"{f', --max-macs {cfg.max_macs:g}' if cfg.max_macs else ''}; the fastest took {fastest:.3f} ms), "
                    f"so none was trained: raise the budget or narrow the space ({where})")
        cheapest = min(t.user_attrs["macs"] for t in rejected)
        return (f"all {len(trials)} candidates were over the budget (--max-macs {cfg.max_macs:g}, {cfg.convention} "
                f"MACs; the cheapest had {cheapest:,.0f}), so none was trained: raise --max-macs or narrow the "
                f"space ({where})")
    if failed:
        return f"no candidate was trained: {len(failed)} of {len(trials)} trials failed, the first with: " \
               f"{failed[0].user_attrs.get('fail_reason', 'no reason recorded')} ({where})"
    return f"no candidate was trained in {len(trials)} trials ({where})"
