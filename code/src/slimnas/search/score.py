"""The lightweight-model competition's score (lower is better): ``MACs / MACs_ref + f1_term(F1)``, with MACs
counted as ptflops' pytorch backend counts them (activations ignored). Participants used MACs_ref 13,863,553
and F1_ref 0.8342 (a second pair, 13,878,369 / 0.8367, also circulated: both are flags)."""

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
