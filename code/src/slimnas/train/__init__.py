"""Training: one call from a model YAML and a data YAML to a checkpoint and its metrics."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..data.config import DataConfig, build_data, load_data_config
from ..io import write_yaml
from ..macs import count_macs
from ..model import ModelConfig, build_model, layer_table, load_model_config
from .checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from .loop import TrainConfig, TrainingDiverged, TrainResult, fit, seed_everything

__all__ = ["TrainConfig", "TrainResult", "TrainingDiverged", "fit", "increment_path", "load_checkpoint",
           "model_from_checkpoint", "save_checkpoint", "train"]


def increment_path(path: str | Path) -> Path:
    """``runs/train/exp`` → the first of ``exp``, ``exp2``, ``exp3``, ... that does not exist yet."""
    path = Path(path)
    if not path.exists():
        return path
    n = 2
    while path.with_name(f"{path.name}{n}").exists():
        n += 1
    return path.with_name(f"{path.name}{n}")


def train(model: str | Path | ModelConfig, data: str | Path | DataConfig | None, out: str | Path,
          cfg: TrainConfig | None = None, resume: str | Path | None = None, verbose: bool = True) -> TrainResult:
    """Build the data and the model, count MACs, train, and write everything into ``out``."""
    cfg = cfg or TrainConfig()
    data_cfg = data if isinstance(data, DataConfig) else load_data_config(data)
    model_cfg = model if isinstance(model, ModelConfig) else load_model_config(model)
    if model_cfg.input_size and model_cfg.input_size != data_cfg.img_size:
        if verbose:
            print(f"model {model_cfg.source} was designed for {model_cfg.input_size}px: img_size "
                  f"{data_cfg.img_size} -> {model_cfg.input_size}")
        data_cfg = dataclasses.replace(data_cfg, img_size=model_cfg.input_size)
    bundle = build_data(data_cfg)
    seed_everything(cfg.seed)  # weight init is part of what the seed fixes
    net = build_model(model_cfg, num_classes=len(bundle.classes), input_size=data_cfg.img_size)
    macs = count_macs(net, data_cfg.img_size, per_layer=verbose)
    if verbose:
        print(layer_table(net))
        print(macs.table())
        print(f"data: {data_cfg.kind} {len(bundle.classes)} classes, {len(bundle.train)} train / {len(bundle.val)} val "
              f"images at {data_cfg.img_size}px")
    out = Path(out)
    write_yaml(out / "model.yaml", model_cfg.to_dict())
    write_yaml(out / "data.yaml", data_cfg.to_dict())
    result = fit(net, bundle, cfg, out, model_cfg.to_dict(), resume=resume,
                 metrics={"macs": macs.macs, "params": macs.params, "macs_convention": macs.convention})
    if verbose:
        print(f"best val macro-F1 {result.best_f1:.4f} (epoch {result.best_epoch}) at {macs.macs / 1e6:.2f} M MACs, "
              f"{macs.params / 1e3:.1f} k params, {result.seconds:.0f} s -> {out / 'best.pt'}")
    return result
