"""One trial: sample an architecture, gate it on MACs/params, train it, score it.

What each trial records (user attrs, visible in optuna-dashboard): ``model`` (the model YAML as data),
``macs``, ``params``, ``gate_ms`` (time to build and count), ``f1`` (best val macro-F1), ``f1_curve``
and ``bnll_curve`` (val macro-F1 and class-balanced val NLL per epoch), ``score_curve`` (what the pruner
ranks by, higher is better), ``nll`` (the lowest val NLL), ``epochs``, ``seconds`` (wall time), and ``rejected`` / ``pruned`` / ``fail_reason``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import time
from pathlib import Path

import optuna
import torch

from ..data.config import DataBundle, DataConfig, build_data, list_data
from ..errors import ConfigError
from ..io import write_yaml
from ..macs import count_macs
from ..model import build_model
from ..latency.table import LatencyTable
from ..train.loop import TrainConfig, fit, seed_everything
from ..train.metrics import macro_f1_sd, read_confusion
from .pruning import DominancePruner, RungPruner, scores
from .score import F1_REF, MACS_REF, competition_score
from .space import SearchSpace


@dataclasses.dataclass
class Budget:
    max_macs: float | None = 20e6  # the competition's gate: candidates above 2e7 MACs never train
    max_params: float | None = None
    max_latency_ms: float | None = None  # predicted on the deployment runtime

    def violations(self, macs: float, params: float, latency_ms: float | None = None) -> dict[str, float]:
        """Relative excess per limit (> 0 means over budget), as Optuna constraint values."""
        out = {}
        if self.max_macs:
            out["macs"] = macs / self.max_macs - 1.0
        if self.max_params:
            out["params"] = params / self.max_params - 1.0
        if self.max_latency_ms and latency_ms is not None:
            out["latency"] = latency_ms / self.max_latency_ms - 1.0
        return out


@contextlib.contextmanager
def single_thread():
    """Tiny one-image forwards run fastest on one thread (and do not stall on a busy machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def gate_count(model_cfg, num_classes: int, convention: str = "aten"):
    """Build a candidate and count its MACs: the whole cost of the budget gate (tens of ms).

    The MACs count's forward pass doubles as the shape check; only when it fails is the model built
    again with the entry-by-entry dry run, whose error names the YAML entry at fault.
    """
    with single_thread():
        net = build_model(model_cfg, num_classes=num_classes)
        try:
            return net, count_macs(net, model_cfg.input_size, convention=convention)
        except Exception:
            build_model(model_cfg, num_classes=num_classes, input_size=model_cfg.input_size)
            raise


def trial_folder(run_dir: Path, number: int) -> Path:
    """Where trial ``number`` writes its model YAML and, once trained, its checkpoints."""
    return Path(run_dir) / "trials" / f"{number:04d}"


@dataclasses.dataclass
class Objective:
    space: SearchSpace
    data_cfg: DataConfig
    train_cfg: TrainConfig
    out: Path
    budget: Budget = dataclasses.field(default_factory=Budget)
    mode: str = "pareto"  # pareto: (max F1, min MACs) | score: min competition score
    macs_ref: float = MACS_REF
    f1_ref: float = F1_REF
    pruner: RungPruner | DominancePruner | None = dataclasses.field(default_factory=RungPruner)
    convention: str = "aten"  # how MACs are counted, for the gate and the objective
    cost: str = "macs"  # what the pareto mode minimises: macs | latency_ms
    rank_by: str = "val_f1"  # what ranks trials at the pruner's rungs (search.pruning.RANK_BY)
    latency: LatencyTable | None = None  # predicts each candidate's latency on the deployment runtime
    prep_seconds: float = 0.0  # time spent decoding images (kept off the search's clock)
    _bundles: dict = dataclasses.field(default_factory=dict, repr=False)

    def bundle(self, img_size: int, batch_size: int | None) -> DataBundle:
        """The data at ``img_size`` (decoded once per size and reused by later trials)."""
        if img_size not in self._bundles:
            t0 = time.perf_counter()
            print(f"data: decoding the images at {img_size} px (once per input size)", flush=True)
            self._bundles[img_size] = build_data(dataclasses.replace(self.data_cfg, img_size=img_size))
            self.prep_seconds += time.perf_counter() - t0
        b = self._bundles[img_size]
        return b if not batch_size else dataclasses.replace(b, cfg=dataclasses.replace(b.cfg, batch_size=int(batch_size)))

    def values(self, f1: float, attrs: dict):
        if self.mode == "score":
            return competition_score(attrs["macs"], f1, self.macs_ref, self.f1_ref)
        return f1, attrs[self.cost]

    def __call__(self, trial: optuna.Trial):
        t0 = time.perf_counter()
        model_cfg, hparams = self.space.sample(trial)
        trial_dir = trial_folder(self.out, trial.number)
        model_dict = model_cfg.to_dict()
        trial.set_user_attr("model", model_dict)
        write_yaml(trial_dir / "model.yaml", model_dict)
        try:
            seed_everything(self.train_cfg.seed)
            net, report = gate_count(model_cfg, len(self.classes), self.convention)
        except ConfigError as e:  # the space produced something unbuildable: a bug in the space, not the study
            trial.set_user_attr("fail_reason", str(e))
            raise
        trial.set_user_attr("macs", report.macs)
        trial.set_user_attr("params", report.params)
        latency_ms = self.predict_latency(net, model_cfg.input_size)
        if latency_ms is not None:
            trial.set_user_attr("latency_ms", round(latency_ms, 5))
        gate_ms = (time.perf_counter() - t0) * 1e3
        trial.set_user_attr("gate_ms", round(gate_ms, 1))
        violations = self.budget.violations(report.macs, report.params, latency_ms)
        for key, v in violations.items():
            trial.set_constraint(key, v)
        if any(v > 0 for v in violations.values()):
            over = ", ".join(f"{k} {v:+.0%}" for k, v in violations.items() if v > 0)
            trial.set_user_attr("rejected", f"over budget ({over}); not trained")
            return self.values(0.0, trial.user_attrs)  # infeasible: kept out of the front by its constraint
        twin = self.twin(trial, model_dict, hparams)
        if twin is not None:  # the sampler proposed a candidate already trained: reuse its result
            for key in ("f1", "f1_sd", "nll", "f1_curve", "bnll_curve", "score_curve", "epochs"):
                if key in twin.user_attrs:
                    trial.set_user_attr(key, twin.user_attrs[key])
            trial.set_user_attr("duplicate_of", twin.number)
            return self.values(twin.user_attrs["f1"], trial.user_attrs)
        trial.set_user_attr("hparams", hparams)
        return self._train(trial, net, model_cfg, model_dict, hparams, report, trial_dir, t0)

    def predict_latency(self, net, input_size: int) -> float | None:
        """ms on the deployment runtime from the latency table (new blocks are timed once, then cached);
        ``None`` when no table is set, or the model's pieces cannot be exported alone."""
        if self.latency is None:
            return None
        try:
            with single_thread():
                ms = self.latency.predict(net, input_size)["ms"]
            self.latency.save()
            return ms
        except Exception as e:  # noqa: BLE001 - the latency is extra information unless it is the objective
            if self.cost == "latency_ms" or self.budget.max_latency_ms:
                raise ConfigError(f"cannot predict the latency of this candidate: {type(e).__name__}: {e}") from None
            return None

    @staticmethod
    def twin(trial: optuna.Trial, model_dict: dict, hparams: dict) -> optuna.trial.FrozenTrial | None:
        """An earlier trained trial with exactly this architecture and these training settings."""
        for t in trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            a = t.user_attrs
            if ("f1" in a and "duplicate_of" not in a and a.get("hparams") == hparams
                    and {**a.get("model", {}), "name": None} == {**model_dict, "name": None}):
                return t
        return None

    @functools.cached_property
    def classes(self) -> list[str]:
        """The label names, read from the listing alone so the budget gate decodes no image."""
        return list_data(self.data_cfg).classes

    def _train(self, trial, net, model_cfg, model_dict, hparams, report, trial_dir, t0):
        bundle = self.bundle(model_cfg.input_size, hparams.get("batch_size"))
        tcfg = dataclasses.replace(self.train_cfg, progress=False,
                                   **{k: v for k, v in hparams.items() if k != "batch_size"})
        curve: list[float] = []
        bnll: list[float] = []

        def on_epoch(epoch: int, row: dict) -> None:
            curve.append(row["val_f1"])
            bnll.append(row["val_bnll"])
            score = scores(self.rank_by, curve, bnll)
            trial.set_user_attr("f1_curve", curve)
            trial.set_user_attr("bnll_curve", bnll)
            trial.set_user_attr("score_curve", score)
            trial.set_user_attr("nll", min(bnll))
            trial.set_user_attr("epochs", epoch)
            if self.pruner is None:
                return
            others = [t for t in trial.study.get_trials(deepcopy=False) if t.number != trial.number]
            why = self.pruner.verdict(others, trial.user_attrs[self.cost], score, tcfg.epochs, self.cost)
            if why is not None:
                trial.set_user_attr("pruned", why)
                raise optuna.TrialPruned(why)

        try:
            result = fit(net, bundle, tcfg, trial_dir, model_dict, on_epoch=on_epoch, verbose=False,
                         metrics={"macs": report.macs, "params": report.params, "macs_convention": report.convention})
        except optuna.TrialPruned:
            raise
        except Exception as e:  # diverged, out of memory, bad image...: recorded, and the study goes on
            trial.set_user_attr("fail_reason", f"{type(e).__name__}: {e}")
            raise
        finally:
            trial.set_user_attr("seconds", round(time.perf_counter() - t0, 1))
            del net
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        trial.set_user_attr("f1", result.selected_f1)
        # how far that F1 moves with which val images are scored (report.keep_start's noise on the user's data)
        trial.set_user_attr("f1_sd", round(macro_f1_sd(read_confusion(trial_dir / "confusion_matrix.csv")), 5))
        return self.values(result.selected_f1, trial.user_attrs)
