"""The training loop: AdamW/SGD, cosine schedule with warm-up, AMP on CUDA, best checkpoint by macro-F1.

``fit`` writes, in ``out``: ``best.pt`` and ``last.pt`` (checkpoints), ``metrics.csv`` (one row per
epoch), ``results.json``, ``confusion_matrix.csv`` and ``per_class.csv`` (of the best epoch).
``on_epoch(epoch, row)`` lets a caller watch or stop training (a search raises ``optuna.TrialPruned``).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
import torch.nn as nn
from tqdm import tqdm

from ..errors import ConfigError, SlimnasError
from ..io import write_csv, write_json
from ..checkpoint import load_checkpoint, load_weights, save_checkpoint
from .losses import build_loss, teacher_loss
from .metrics import balanced_nll, confusion_matrix, macro_f1, per_class
from .threads import LAYOUTS, fastest_setup

if TYPE_CHECKING:  # timm is imported where it is used (see start_run)
    from timm.utils import ModelEmaV3


class TrainingDiverged(SlimnasError):
    """The loss became NaN or infinite."""


@dataclass
class TrainConfig:
    epochs: int = 30  # with time_budget: at most this many
    # seconds of training (validation included): after every epoch the run plans as many epochs as fit at the
    # measured pace, and the cosine ends on min_lr there. For comparisons at equal wall-clock (a small model
    # gets more epochs than a big one).
    time_budget: float | None = None
    optimizer: str = "adamw"  # adamw | sgd
    lr: float = 6e-3  # with batch 32; on dev 3e-3 lost 0.046 macro-F1 and 1e-2 was no different (bench/dev_defaults.py)
    weight_decay: float = 0.05
    momentum: float = 0.9
    warmup_epochs: float = 1.0
    min_lr: float = 1e-5
    grad_clip: float | None = 5.0
    # weight EMA (timm's ModelEmaV3 with its warm-up, so a short run averages over its last stretch); 0: off.
    # Validation, the best checkpoint and the export use the averaged weights.
    ema_decay: float = 0.0
    # best.pt is the latest epoch whose val macro-F1 is within this of the best so far: with 1-3 val images per
    # rare label, F1 wobbles by ~0.02 between epochs of a plateau, and under a decaying lr the later epoch is the
    # better bet (measured: up to +0.03 test F1 over the single best val epoch). 0: the single best val epoch.
    select_tol: float = 0.02
    # the refit once the settings are chosen: train on train + val, and best.pt is the last epoch. Val is no longer
    # held out (its F1 is still logged, and chooses nothing), so score such a run on a test split.
    final_fit: bool = False
    # MixUp / CutMix (torchvision's, one of the two per batch when both are on): the Beta(alpha, alpha) of each;
    # 0: off. Targets become label mixtures, so the loss must be cross-entropy.
    mixup: float = 0.0
    cutmix: float = 0.0
    teacher: str | None = None  # a checkpoint to distil from (same labels; any input size)
    # weights to start from (a checkpoint of this architecture on these labels, e.g. the search trial that chose
    # it): a new run, with its own optimiser, schedule and seeded batches, as timm's --initial-checkpoint
    initial_checkpoint: str | None = None
    kd_alpha: float = 0.5  # weight of the teacher's softened outputs in the loss
    kd_temperature: float = 4.0
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # CPU threads; 0: measure 1 against one per core on the model itself and keep the faster
    # tensor memory layout on the CPU: "channels_last" (NHWC: oneDNN's fast path, 1.5-2.5x per step here),
    # "contiguous" (NCHW) or "auto": timed with the threads, the faster kept (results.json: memory_layout)
    layout: str = "auto"
    amp: bool = True  # mixed precision, CUDA only
    progress: bool = True


def check_train_config(cfg: TrainConfig) -> None:
    """Refuse settings that cannot train, before any data is read."""
    if isinstance(cfg.epochs, bool) or not isinstance(cfg.epochs, int) or cfg.epochs < 1:
        raise SlimnasError(f"epochs must be an integer >= 1, got {cfg.epochs!r}")
    if not 0 <= cfg.kd_alpha <= 1 or not cfg.kd_temperature > 0:
        raise SlimnasError(f"distillation needs 0 <= kd_alpha <= 1 and kd_temperature > 0, got {cfg.kd_alpha}, "
                           f"{cfg.kd_temperature}")
    if cfg.teacher is not None:
        load_checkpoint(cfg.teacher)  # a missing or unreadable teacher fails now, not after the data is made
    if cfg.mixup < 0 or cfg.cutmix < 0:
        raise SlimnasError(f"mixup and cutmix are Beta alphas >= 0 (0: off), got {cfg.mixup}, {cfg.cutmix}")
    if cfg.time_budget is not None and not cfg.time_budget > 0:
        raise SlimnasError(f"time_budget must be > 0 seconds, got {cfg.time_budget!r}")
    if not 0 <= cfg.select_tol < 1:
        raise SlimnasError(f"select_tol must be in [0, 1), got {cfg.select_tol!r}")
    if not 0 <= cfg.ema_decay < 1:
        raise SlimnasError(f"ema_decay must be in [0, 1) (0: off), got {cfg.ema_decay!r}")
    if not cfg.lr > 0 or cfg.weight_decay < 0 or cfg.warmup_epochs < 0 or cfg.min_lr < 0:
        raise SlimnasError(f"need lr > 0 and weight_decay, warmup_epochs, min_lr >= 0; got lr {cfg.lr}, "
                           f"weight_decay {cfg.weight_decay}, warmup_epochs {cfg.warmup_epochs}, min_lr {cfg.min_lr}")
    if isinstance(cfg.threads, bool) or not isinstance(cfg.threads, int) or cfg.threads < 0:
        raise SlimnasError(f"threads must be an integer >= 0 (0: measure), got {cfg.threads!r}")
    if cfg.layout not in ("auto", *LAYOUTS):
        raise SlimnasError(f"unknown layout {cfg.layout!r}; use auto, {' or '.join(LAYOUTS)}")
    if cfg.optimizer not in ("adamw", "sgd"):
        raise SlimnasError(f"unknown optimizer {cfg.optimizer!r}; use 'adamw' or 'sgd'")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.backends.cudnn.benchmark = False


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SlimnasError(f"device {name!r} requested but CUDA is not available; use --device cpu")
    return torch.device(name)


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    # no weight decay on norms and biases, as in timm's param_groups_weight_decay
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=True)
    raise SlimnasError(f"unknown optimizer {cfg.optimizer!r}; use 'adamw' or 'sgd'")


@torch.no_grad()
def predict(model: nn.Module, loader, device: torch.device, criterion: nn.Module | None = None,
            return_nll: bool = False):
    """(mean loss, true labels, predicted labels) over ``loader``; with ``return_nll`` also each image's
    negative log-likelihood of its true label (plain softmax, whatever the training loss)."""
    model.eval()
    losses, ys, preds, nlls = [], [], [], []
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device)
        with torch.autocast(device.type, enabled=device.type == "cuda"):
            logits = model(x)
        if criterion is not None:
            losses.append(float(criterion(logits.float(), y)) * len(y))
        if return_nll:
            nlls.append(nn.functional.cross_entropy(logits.float(), y, reduction="none").cpu())
        ys.append(y.cpu())
        preds.append(logits.argmax(1).cpu())
    y_true, y_pred = torch.cat(ys).numpy(), torch.cat(preds).numpy()
    loss = sum(losses) / max(len(y_true), 1) if losses else float("nan")
    if return_nll:
        return loss, y_true, y_pred, torch.cat(nlls).numpy()
    return loss, y_true, y_pred


def set_threads(model: nn.Module, data, threads: int, layout: str, verbose: bool) -> tuple[int, str]:
    """Use ``threads`` CPU threads and the memory ``layout``, each measured fastest for this model and batch
    right now when 0 / "auto"; returns both. The model is moved to the layout; the caller brings the batches.

    Bit-identical reruns need the same pair: results.json records it (``cpu_threads``, ``memory_layout``).
    """
    cfg = data.cfg
    n, layout, medians = fastest_setup(model, (cfg.batch_size, 3, cfg.img_size, cfg.img_size), len(data.classes),
                                       threads, layout)
    torch.set_num_threads(n)
    model.to(memory_format=LAYOUTS[layout])
    if verbose and medians:
        timed = ", ".join(f"{k} thread{'s' * (k > 1)} {lay}: {v * 1e3:.0f} ms" for (k, lay), v in medians.items())
        print(f"training on {n} CPU thread{'s' * (n > 1)}, {layout} (measured per step: {timed})", flush=True)
    return n, layout


def make_mixing(cfg: TrainConfig, num_classes: int, loss: str):
    """torchvision's MixUp and/or CutMix as set in ``cfg`` (one of them per batch), or None when both are off."""
    from torchvision.transforms import v2  # timm and torchvision are imported where used: ~2 s that a --help,
    # an early refusal or the deploy-side commands never need

    chosen = ([v2.MixUp(alpha=cfg.mixup, num_classes=num_classes)] if cfg.mixup else []) + \
             ([v2.CutMix(alpha=cfg.cutmix, num_classes=num_classes)] if cfg.cutmix else [])
    if chosen and loss != "ce":
        raise ConfigError(f"mixup/cutmix mix the labels, which needs the 'ce' loss; the data YAML sets loss: {loss}")
    return v2.RandomChoice(chosen) if chosen else None


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig, epochs: int, steps_per_epoch: int):
    """Linear warm-up, then a cosine that lands on ``min_lr`` at the last step of ``epochs``."""
    from timm.scheduler import CosineLRScheduler

    total = epochs * steps_per_epoch
    warmup = min(int(cfg.warmup_epochs * steps_per_epoch), total // 2)  # a short run still gets its cosine
    # warm-up comes out of the cosine's length (warmup_prefix), so the last step lands on min_lr
    return CosineLRScheduler(optimizer, t_initial=max(total - warmup, 1), lr_min=cfg.min_lr, warmup_t=warmup,
                             warmup_lr_init=cfg.lr * 0.01, warmup_prefix=True, t_in_epochs=False)


def plan_epochs(budget: float, ends: list[float], cap: int, planned: int | None = None) -> int:
    """How many epochs fit ``budget`` seconds, given the elapsed seconds at the end of each epoch so far.

    The pace is that of the epochs after the first (which also pays for start-up), once there are any; the
    plan never drops below the epochs already run, so a run over its budget stops now. A current plan that
    ends within 1 % over the budget to two epochs under it is kept, so the cosine is not re-drawn for noise.
    """
    done = len(ends)
    pace = max(ends[0] if done == 1 else (ends[-1] - ends[0]) / (done - 1), 1e-3)
    if planned is not None:
        end = ends[-1] + (planned - done) * pace
        if budget - 2 * pace <= end <= budget * 1.01 or (planned == cap and end <= budget * 1.01):
            return planned
    return max(done, min(cap, done + int((budget - ends[-1]) // pace)))


@dataclass
class TrainResult:
    selected_f1: float  # val macro-F1 of the epoch in best.pt: the latest within select_tol of the best, not the max
    selected_epoch: int
    epochs_run: int
    seconds: float
    out: Path


@dataclass
class _Run:
    """What the loop carries from epoch to epoch (and ``last.pt`` carries across a resume)."""

    optimizer: torch.optim.Optimizer
    scheduler: object
    ema: ModelEmaV3 | None
    epochs: int  # planned; a time budget re-plans it after every epoch
    steps_per_epoch: int
    history: list = field(default_factory=list)
    selected_f1: float = -1.0  # the F1 and epoch of the weights in best.pt
    selected_epoch: int = -1
    top_f1: float = -1.0  # the highest val F1 of any epoch
    start_epoch: int = 0


def fit(model: nn.Module, data, cfg: TrainConfig, out: str | Path, model_cfg: dict, metrics: dict | None = None,
        resume: str | Path | None = None, on_epoch: Callable[[int, dict], None] | None = None,
        verbose: bool = True, train_loss: Callable | None = None, decomposition: dict | None = None,
        channels: dict | None = None, before_first_save: Callable[[], None] | None = None) -> TrainResult:
    """Train ``model`` on ``data`` (a :class:`DataBundle`); see the module docstring for the files written.

    ``train_loss(model, x, y, criterion)`` replaces the plain ``criterion(model(x), y)``; by default it is
    distillation from ``cfg.teacher`` when one is set. ``decomposition`` and ``channels`` are stored in the
    checkpoints of a decomposed or pruned model so they load again. ``before_first_save()`` runs just before the first file is written,
    so a run that fails in its first epoch leaves ``out`` as it was.
    """
    out = Path(out)
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    model.to(device)
    threads, layout = set_threads(model, data, cfg.threads, cfg.layout, verbose) if device.type == "cpu" else (None, None)
    if cfg.final_fit:
        data = data.with_val_in_train()
    train_loader, val_loader = data.loaders(seed=cfg.seed)  # the training seed orders batches and augments
    weight = data.class_weights().to(device) if data.cfg.class_weights else None
    criterion = build_loss(data.cfg.loss, weight, data.cfg.label_smoothing, data.cfg.focal_gamma).to(device)
    if train_loss is None and cfg.teacher:
        train_loss = teacher_loss(cfg.teacher, data, device, cfg.kd_alpha, cfg.kd_temperature)
        if verbose:
            print(f"distilling from {cfg.teacher} (kd_alpha {cfg.kd_alpha:g}, kd_temperature {cfg.kd_temperature:g})")
    run = start_run(model, cfg, max(len(train_loader), 1), resume)
    ckpt_common = {"model_cfg": model_cfg, "classes": data.classes, "preprocessing": data.cfg.preprocessing,
                   "decomposition": decomposition, "channels": channels}
    step = make_step(model, run, cfg, criterion, train_loss, make_mixing(cfg, len(data.classes), data.cfg.loss), device,
                     LAYOUTS[layout or "contiguous"])
    t0 = time.perf_counter() - (run.history[-1]["seconds"] if run.history else 0.0)
    epoch = run.start_epoch
    while epoch < run.epochs:
        train_loss_mean = train_one_epoch(step, train_loader, epoch, run.epochs, cfg.progress)
        scored = run.ema.module if run.ema else model  # the weights validated, checkpointed and exported
        row, f1, y_true, y_pred = validate(scored, val_loader, device, criterion, epoch, train_loss_mean, run, t0)
        run.history.append(row)
        if cfg.time_budget:  # the plan follows the measured pace, so a run that slows down still ends on time
            replan(run, cfg, epoch, verbose)
        run.top_f1 = max(run.top_f1, f1)
        if before_first_save is not None and epoch == run.start_epoch:
            before_first_save()
        improved = cfg.final_fit or f1 >= run.top_f1 - cfg.select_tol
        if improved:
            run.selected_f1, run.selected_epoch = f1, epoch + 1
            save_selected(out, scored, ckpt_common, metrics, run, data.classes, y_true, y_pred)
        save_last(out, model, scored, ckpt_common, metrics, run, f1, epoch)
        if verbose:
            print(f"epoch {epoch + 1:>3}/{run.epochs}  loss {row['train_loss']:.3f}  val_loss {row['val_loss']:.3f}  "
                  f"val_f1 {f1:.4f}  acc {row['val_acc']:.3f}{'  *' if improved else ''}", flush=True)
        if on_epoch is not None:
            on_epoch(epoch + 1, row)
        epoch += 1
    return finish(out, run, cfg, data, metrics, threads, layout, time.perf_counter() - t0)


def start_run(model: nn.Module, cfg: TrainConfig, steps_per_epoch: int, resume: str | Path | None) -> _Run:
    """Optimizer, schedule and weight EMA for a new run, or as ``resume`` (a ``last.pt``) left them."""
    from timm.utils import ModelEmaV3

    optimizer = make_optimizer(model, cfg)
    ema = ModelEmaV3(model, decay=cfg.ema_decay, use_warmup=True) if cfg.ema_decay else None
    run = _Run(optimizer, make_scheduler(optimizer, cfg, cfg.epochs, steps_per_epoch), ema, cfg.epochs, steps_per_epoch)
    if not resume:
        return run
    ckpt = load_checkpoint(resume)
    state = ckpt.get("train_state")
    if state is None:
        raise SlimnasError(f"{resume}: has no training state to resume from (use last.pt)")
    if (ema is not None) != ("model" in state):
        raise SlimnasError(f"{resume}: was trained {'with' if 'model' in state else 'without'} weight EMA; "
                           f"resume it with the same ema_decay")
    load_weights(model, state.get("model", ckpt["state_dict"]), str(resume))
    if ema is not None:
        load_weights(ema.module, ckpt["state_dict"], str(resume))
    optimizer.load_state_dict(state["optimizer"])
    run.start_epoch, run.selected_f1, run.selected_epoch = state["epoch"] + 1, state["best_f1"], state["best_epoch"]
    run.history, run.top_f1 = state["history"], state.get("top_f1", state["best_f1"])
    if cfg.time_budget and "planned_epochs" in state:  # the latest plan stands until the next epoch re-plans
        run.epochs = min(cfg.epochs, state["planned_epochs"])
        run.scheduler = make_scheduler(optimizer, cfg, run.epochs, steps_per_epoch)
    print(f"resuming from {resume} at epoch {run.start_epoch}")
    return run


def make_step(model: nn.Module, run: _Run, cfg: TrainConfig, criterion: nn.Module, train_loss: Callable | None,
              mix, device: torch.device, layout: torch.memory_format = torch.contiguous_format
              ) -> Callable[[torch.Tensor, torch.Tensor, int, int], float]:
    """One optimisation step on a batch: ``step(x, y, epoch, i) -> loss``; AMP on CUDA, the EMA updated; the batch
    in the model's memory ``layout``."""
    use_amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    def step(x: torch.Tensor, y: torch.Tensor, epoch: int, i: int) -> float:
        x, y = x.to(device, non_blocking=True).contiguous(memory_format=layout), y.to(device, non_blocking=True)
        if mix is not None:
            x, y = mix(x, y)
        with torch.autocast(device.type, enabled=use_amp):
            loss = train_loss(model, x, y, criterion) if train_loss else criterion(model(x), y)
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"loss became {loss.item()} at epoch {epoch + 1}, step {i + 1}; "
                                   f"lower the learning rate (now {cfg.lr})")
        run.optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if cfg.grad_clip:
            scaler.unscale_(run.optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        scaler.step(run.optimizer)
        scaler.update()
        done = epoch * run.steps_per_epoch + i + 1
        run.scheduler.step_update(done)
        if run.ema is not None:
            run.ema.update(model, step=done)
        return loss.item()

    step.model = model
    return step


def train_one_epoch(step, loader, epoch: int, epochs: int, progress: bool) -> float:
    """One pass over ``loader`` with ``step`` (see :func:`make_step`); returns the mean training loss."""
    step.model.train()
    running, seen = 0.0, 0
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{epochs}", leave=False, disable=not progress)
    for i, (x, y) in enumerate(bar):
        running, seen = running + step(x, y, epoch, i) * len(y), seen + len(y)
        bar.set_postfix(loss=f"{running / seen:.3f}")
    return running / max(seen, 1)


def validate(scored: nn.Module, loader, device: torch.device, criterion: nn.Module, epoch: int, train_loss: float,
             run: _Run, t0: float) -> tuple[dict, float, np.ndarray, np.ndarray]:
    """The epoch's ``metrics.csv`` row, its val macro-F1 unrounded, and the val labels and predictions."""
    val_loss, y_true, y_pred, nll = predict(scored, loader, device, criterion, return_nll=True)
    f1 = macro_f1(y_true, y_pred)
    row = {"epoch": epoch + 1, "train_loss": round(train_loss, 5), "val_loss": round(val_loss, 5),
           "val_f1": round(f1, 5), "val_bnll": round(balanced_nll(y_true, nll), 5),
           "val_acc": round(float((y_true == y_pred).mean()), 5),
           "lr": run.optimizer.param_groups[0]["lr"], "seconds": round(time.perf_counter() - t0, 2)}
    return row, f1, y_true, y_pred


def replan(run: _Run, cfg: TrainConfig, epoch: int, verbose: bool) -> None:
    """Re-plan the epoch count from the measured pace; a new plan re-draws the cosine to end on time."""
    planned = plan_epochs(cfg.time_budget, [r["seconds"] for r in run.history], cfg.epochs, run.epochs if epoch else None)
    if planned == run.epochs:
        return
    run.epochs = planned
    run.scheduler = make_scheduler(run.optimizer, cfg, planned, run.steps_per_epoch)
    run.scheduler.step_update((epoch + 1) * run.steps_per_epoch)
    if verbose:
        print(f"time budget {cfg.time_budget:g} s: {run.history[-1]['seconds']:.1f} s after {epoch + 1} epoch(s) "
              f"-> {planned} epochs", flush=True)


def save_selected(out: Path, scored: nn.Module, common: dict, metrics: dict | None, run: _Run, classes, y_true,
                  y_pred) -> None:
    """``best.pt`` and the confusion matrix and per-class table of the epoch it holds."""
    save_checkpoint(out / "best.pt", scored, **common,
                    metrics={**(metrics or {}), "val_f1": run.selected_f1, "epoch": run.selected_epoch})
    write_csv(out / "confusion_matrix.csv", ["true\\pred", *classes],
              [[c, *r] for c, r in zip(classes, confusion_matrix(y_true, y_pred, len(classes)).tolist())])
    write_csv(out / "per_class.csv", ["label", "precision", "recall", "f1", "support"], per_class(y_true, y_pred, classes))


def save_last(out: Path, model: nn.Module, scored: nn.Module, common: dict, metrics: dict | None, run: _Run,
              f1: float, epoch: int) -> None:
    """``last.pt`` (what ``--resume`` continues from) and ``metrics.csv``, after every epoch."""
    # state_dict holds the scored weights (the EMA when on); train_state the raw ones training goes on from
    raw = {"model": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}} if run.ema else {}
    save_checkpoint(out / "last.pt", scored, **common, metrics={**(metrics or {}), "val_f1": f1},
                    train_state={"optimizer": run.optimizer.state_dict(), "epoch": epoch, "best_f1": run.selected_f1,
                                 "planned_epochs": run.epochs, "best_epoch": run.selected_epoch, "top_f1": run.top_f1,
                                 "history": run.history, **raw})
    write_csv(out / "metrics.csv", list(run.history[-1]), [list(r.values()) for r in run.history])


def finish(out: Path, run: _Run, cfg: TrainConfig, data, metrics: dict | None, threads, layout, seconds: float
           ) -> TrainResult:
    """``results.json``, and the result; a run in which no epoch finished is :class:`TrainingDiverged`."""
    top_f1 = run.top_f1
    write_json(out / "results.json", {"selected_val_f1": run.selected_f1, "selected_epoch": run.selected_epoch,
                                      "top_val_f1": top_f1, "best_val_f1": run.selected_f1,
                                      "best_epoch": run.selected_epoch,  # the old names, for one release
                                      "val_held_out": not cfg.final_fit,
                                      "epochs": len(run.history), "planned_epochs": run.epochs,
                                      "train_seconds": round(seconds, 1), "cpu_threads": threads,
                                      "memory_layout": layout, **(metrics or {}),
                                      "train": {k: v for k, v in asdict(cfg).items() if k != "progress"},
                                      "data": data.cfg.to_dict()})
    if not math.isfinite(run.selected_f1) or run.selected_epoch < 0:
        raise TrainingDiverged("no epoch finished")
    return TrainResult(run.selected_f1, run.selected_epoch, len(run.history), seconds, out)
