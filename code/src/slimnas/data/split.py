"""Stratified splits that work with classes of only a few images (MVTec defect labels have 2–15)."""

from __future__ import annotations

import warnings
from collections import defaultdict

import numpy as np


def stratified_split(labels: list[int], val_fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """Indices (train, val): each class gives ``round(fraction·n)`` images to val, at least one when it has two."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    rng = np.random.default_rng(seed)
    by_class = defaultdict(list)
    for i, y in enumerate(labels):
        by_class[y].append(i)
    train, val = [], []
    for y in sorted(by_class):
        idx = rng.permutation(by_class[y]).tolist()
        n_val = min(max(round(val_fraction * len(idx)), 1 if len(idx) > 1 else 0), len(idx) - 1)
        val += idx[:n_val]
        train += idx[n_val:]
    return sorted(train), sorted(val)


def stratified_kfold(labels: list[int], n_folds: int, fold: int, seed: int = 0) -> tuple[list[int], list[int]]:
    """Indices (train, val) of fold ``fold`` of ``n_folds`` (sklearn's StratifiedKFold, shuffled)."""
    from sklearn.model_selection import StratifiedKFold

    if not 0 <= fold < n_folds:
        raise ValueError(f"fold must be in [0, {n_folds}), got {fold}")
    with warnings.catch_warnings():  # classes smaller than n_folds are expected here
        warnings.simplefilter("ignore", UserWarning)
        splits = list(StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(np.zeros(len(labels)), labels))
    train, val = splits[fold]
    return train.tolist(), val.tolist()
