"""Scoring a model or a checkpoint on the validation split or, when the data ships answers, the test split."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from ..data.config import DataBundle, DataConfig, build_data, dataset_path, load_data_config
from ..data.sources import SEALED_ENV, sealed
from ..errors import ConfigError
from ..checkpoint import load_checkpoint, model_from_checkpoint
from .loop import predict, resolve_device
from .metrics import macro_f1

SPLITS = ("val", "test")


def build_data_for(weight: str | Path, data: str | Path | DataConfig | None, ckpt: dict | None = None) -> DataBundle:
    """The data at the checkpoint's input size, checked to have the checkpoint's classes."""
    ckpt = ckpt or load_checkpoint(weight)
    data_cfg = data if isinstance(data, DataConfig) else load_data_config(data)
    bundle = build_data(dataclasses.replace(data_cfg, img_size=int(ckpt["preprocessing"]["input_size"])))
    if bundle.classes != ckpt["classes"]:
        raise ConfigError(f"{weight}: its {len(ckpt['classes'])} classes differ from the data's {len(bundle.classes)}")
    return bundle


def split_loader(bundle: DataBundle, split: str) -> DataLoader:
    if split == "val":
        return bundle.loaders()[1]
    if split == "test":
        test = bundle.labelled_test()
        if test is None:
            root = dataset_path(bundle.cfg)
            if sealed(root):
                raise ConfigError(f"{root}: its test answers are sealed (${SEALED_ENV}): this run chooses, so it "
                                  f"scores dev or val, never the test split it will report on")
            raise ConfigError(f"{bundle.cfg.source}: this data has no test answers (test_labels.csv); use split 'val'")
        return DataLoader(test, bundle.cfg.batch_size, shuffle=False)
    raise ConfigError(f"unknown split {split!r} (known: {', '.join(SPLITS)})")


def split_f1(model: nn.Module, bundle: DataBundle, split: str = "val", device: torch.device | None = None) -> float:
    device = device or resolve_device("auto")
    _, y, p = predict(model.to(device), split_loader(bundle, split), device)
    return macro_f1(y, p)


def checkpoint_predictions(weight: str | Path, data: str | Path | DataConfig | None = None,
                           split: str = "test") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """True and predicted label indices of the checkpoint ``weight`` on ``split`` of ``data``, and its classes."""
    model, ckpt = model_from_checkpoint(weight)
    device = resolve_device("auto")
    _, y, p = predict(model.to(device), split_loader(build_data_for(weight, data, ckpt), split), device)
    return y, p, ckpt["classes"]


def checkpoint_f1(weight: str | Path, data: str | Path | DataConfig | None = None, split: str = "test") -> float:
    """Macro-F1 of the checkpoint ``weight`` on ``split`` of ``data`` (default: the embedded synthetic data)."""
    y, p, _ = checkpoint_predictions(weight, data, split)
    return macro_f1(y, p)
