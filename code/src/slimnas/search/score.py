"""The lightweight-model competition's score (lower is better), see ``shared/mvtec_facts.md``."""

from __future__ import annotations

MACS_REF = 13_863_553
F1_REF = 0.8342


def f1_term(f1: float, f1_ref: float = F1_REF) -> float:
    if f1 < 0.5:
        return 1.0
    if f1 < f1_ref:
        return 1.0 - f1 / f1_ref
    return 0.5 * (1.0 - f1 / f1_ref)


def competition_score(macs: float, f1: float, macs_ref: float = MACS_REF, f1_ref: float = F1_REF) -> float:
    """``MACs / MACs_ref + score_F1``: 1.0 for a model at the reference MACs that misses F1 0.5."""
    return macs / macs_ref + f1_term(f1, f1_ref)
