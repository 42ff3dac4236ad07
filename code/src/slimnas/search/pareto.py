"""Pareto dominance on (F1, cost): higher F1 and lower cost are better. The one definition the search's
pruners, its front and the benches share."""

from __future__ import annotations

from typing import Sequence


def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """``a`` is at least as good as ``b`` on both (F1, cost) and better on one."""
    return a[0] >= b[0] and a[1] <= b[1] and tuple(a) != tuple(b)


def non_dominated_fronts(points: Sequence[tuple[float, float]]) -> list[list[int]]:
    """Indices of ``points`` (F1 higher is better, cost lower is better) split into successive Pareto fronts."""
    left, fronts = list(range(len(points))), []
    while left:
        front = [i for i in left if not any(dominates(points[j], points[i]) for j in left)]
        fronts.append(front)
        left = [i for i in left if i not in front]
    return fronts
