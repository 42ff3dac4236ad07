"""Fine-tuning a (decomposed or pruned) checkpoint: freezing options and knowledge distillation from a teacher.

Freeze modes (``--freeze``):

- ``none``: train everything;
- ``convs``: train only convolution weights (BN scales/shifts and the head stay as they are);
- ``factors``: keep the decomposition's outer factors (the projections fitted by tensorly) fixed and
  train the cores, BN and the head, which recovers accuracy with the fewest free parameters.

Distillation from a teacher checkpoint: see :func:`slimnas.train.losses.distillation_loss`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch.nn as nn

from ..data.config import DataConfig
from ..errors import ConfigError
from ..checkpoint import model_from_checkpoint
from .evaluate import build_data_for, split_f1
from .loop import TrainConfig, TrainResult, fit, resolve_device, seed_everything

FREEZE_MODES = ("none", "convs", "factors")
# Chosen on dev (bench/prune_accuracy.py --dev, bench/decompose_accuracy.py --dev): after 150 s of distilled
# fine-tuning, 3e-3 lost 0.56 pt of dev macro-F1 on a pruned model and 1.66 on a decomposed one, 1e-3 2.88 and 6.26.
FINETUNE_LR = 3e-3


def freeze(model: nn.Module, mode: str, decomposition: dict | None) -> int:
    """Set ``requires_grad`` per ``mode``; returns the number of trainable parameters."""
    if mode not in FREEZE_MODES:
        raise ConfigError(f"unknown freeze mode {mode!r} (use {', '.join(FREEZE_MODES)})")
    for p in model.parameters():
        p.requires_grad_(mode != "convs")
    if mode == "convs":
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.requires_grad_(True)
    elif mode == "factors":
        if not decomposition:
            raise ConfigError("--freeze factors needs a decomposed checkpoint (this one has no decomposition)")
        for name in decomposition:
            seq = model.get_submodule(name)
            outer = [seq[0], seq[-1]] if len(seq) > 2 else [seq[0]]  # svd/separable: keep the second factor free
            for m in outer:
                m.weight.requires_grad_(False)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def finetune(weight: str | Path, out: str | Path, data: str | Path | DataConfig | None = None,
             cfg: TrainConfig | None = None, teacher: str | Path | None = None, freeze_mode: str = "none",
             alpha: float = 0.5, temperature: float = 4.0, verbose: bool = True) -> dict:
    """Fine-tune ``weight`` on ``data`` (at the checkpoint's input size); returns F1 before/after and paths."""
    cfg = cfg or TrainConfig(epochs=10, lr=FINETUNE_LR, warmup_epochs=0)
    model, ckpt = model_from_checkpoint(weight)
    bundle = build_data_for(weight, data, ckpt)
    device = resolve_device(cfg.device)
    before = split_f1(model, bundle, "val", device)
    cfg = dataclasses.replace(cfg, teacher=str(teacher) if teacher else None, kd_alpha=alpha, kd_temperature=temperature)
    seed_everything(cfg.seed)
    trainable = freeze(model, freeze_mode, ckpt.get("decomposition"))
    if verbose:
        print(f"fine-tuning {weight}: val macro-F1 before {before:.4f}; {trainable:,} trainable parameters "
              f"(freeze {freeze_mode})")
    metrics = {k: v for k, v in ckpt.get("metrics", {}).items() if k in ("macs", "params", "macs_convention",
                                                                         "macs_undecomposed", "params_undecomposed")}
    result: TrainResult = fit(model, bundle, cfg, out, ckpt["model"], metrics={**metrics, "val_f1_before": before},
                              verbose=verbose, decomposition=ckpt.get("decomposition"),
                              channels=ckpt.get("channels"))
    if verbose:
        print(f"val macro-F1 {before:.4f} -> {result.selected_f1:.4f} (epoch {result.selected_epoch}) -> {Path(out) / 'best.pt'}")
    return {"f1_before": before, "f1_after": result.selected_f1, "checkpoint": Path(out) / "best.pt", "bundle": bundle}
