"""Macro-F1 (the task's metric), confusion matrix and per-class scores."""

from __future__ import annotations

import csv

import numpy as np


def macro_f1(y_true, y_pred) -> float:
    """sklearn's macro-F1 over the labels present in truth or prediction (the competition's metric)."""
    from sklearn.metrics import f1_score  # imported when scored: sklearn & scipy take ~1 s to import

    return float(f1_score(y_true, y_pred, average="macro", zero_division=0))


def read_confusion(path) -> np.ndarray:
    """The counts of a ``confusion_matrix.csv`` as training writes it: a header row, then a label and its counts."""
    with open(path, newline="") as f:
        return np.array([[int(v) for v in row[1:]] for row in list(csv.reader(f))[1:]], dtype=np.int64)


def macro_f1_sd(confusion, draws: int = 400, seed: int = 0) -> float:
    """Bootstrap sd of the macro-F1 behind ``confusion`` (rows true, columns predicted): the scored images drawn
    again with replacement ``draws`` times. How far the score moves with which few images of each label happen to
    be scored: large when rare labels have 1-3 images, as in a small val split."""
    c = np.asarray(confusion, dtype=np.float64)
    n = int(c.sum())
    if n == 0:
        return 0.0
    samples = np.random.default_rng(seed).multinomial(n, (c / n).ravel(), size=draws).reshape(draws, *c.shape)
    hits = np.diagonal(samples, axis1=1, axis2=2)
    both = samples.sum(2) + samples.sum(1)  # per label: its images plus its predictions (2tp + fp + fn)
    present = both > 0  # sklearn's macro average: the labels present in truth or prediction
    f1 = np.where(present, 2 * hits / np.maximum(both, 1), 0.0)
    return float(np.std(f1.sum(1) / present.sum(1)))


def balanced_nll(y_true, nll) -> float:
    """Class-balanced negative log-likelihood: each label's mean NLL, averaged over the labels present.

    Weighs every label as macro-F1 does (a label of 2 val images counts as much as one of 200), but moves
    smoothly with the model's confidence, where macro-F1 on 1-3 images per label jumps by whole images.
    """
    y_true, nll = np.asarray(y_true), np.asarray(nll, dtype=np.float64)
    labels = np.unique(y_true)
    if not len(labels):
        return float("nan")
    return float(np.mean([nll[y_true == c].mean() for c in labels]))


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted."""
    idx = np.asarray(y_true) * num_classes + np.asarray(y_pred)
    return np.bincount(idx, minlength=num_classes**2).reshape(num_classes, num_classes)


def per_class(y_true, y_pred, classes: list[str]) -> list[tuple[str, float, float, float, int]]:
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=range(len(classes)), zero_division=0)
    return [(c, round(float(p[i]), 4), round(float(r[i]), 4), round(float(f[i]), 4), int(s[i]))
            for i, c in enumerate(classes)]
