"""Choosing ranks: by spectrum energy, by VBMF, or per layer under a global MACs target."""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize_scalar


def unfold(w: np.ndarray, mode: int) -> np.ndarray:
    return np.moveaxis(w, mode, 0).reshape(w.shape[mode], -1)


def tail_energy(matrix: np.ndarray) -> np.ndarray:
    """``tail[r]``: the share of ``matrix``'s squared spectrum beyond rank ``r`` (``tail[0] == 1``)."""
    s2 = np.linalg.svd(matrix, compute_uv=False) ** 2
    return np.concatenate([[1.0], 1.0 - np.cumsum(s2) / max(s2.sum(), 1e-300)]).clip(0.0, 1.0)


class Spectra:
    """Closed-form squared relative errors of one weight's factorisations, from its unfoldings' spectra.

    Truncated SVD: the tail energy exactly (Eckart–Young). Tucker-2 (HOSVD): at most the sum of the two
    channel modes' tails (De Lathauwer et al. 2000), and the decomposition fitted afterwards only does
    better. CP rank R has multilinear rank <= (R, R), so the Tucker tails at (R, R) are a lower bound.
    Two SVDs per layer replace one iterative decomposition per candidate rank (minutes on a resnet18).
    """

    def __init__(self, weight: np.ndarray):
        w = weight if weight.ndim == 4 else weight[:, :, None, None]
        self.out, self.inp = tail_energy(unfold(w, 0)), tail_energy(unfold(w, 1))

    def _tail(self, tails: np.ndarray, r: int) -> float:
        return float(tails[min(r, len(tails) - 1)])

    def error2(self, method: str, ranks: list[int]) -> float:
        if method == "svd":
            return self._tail(self.out, ranks[0])
        if method == "tucker":
            return min(1.0, self._tail(self.out, ranks[0]) + self._tail(self.inp, ranks[1]))
        if method == "cp":
            return max(self._tail(self.out, ranks[0]), self._tail(self.inp, ranks[0]))
        raise ValueError(f"no closed-form error for {method!r}")


def energy_rank(matrix: np.ndarray, keep: float) -> int:
    """The smallest rank whose singular values keep ``keep`` (0–1] of the squared-spectrum energy."""
    s2 = np.linalg.svd(matrix, compute_uv=False) ** 2
    return int(np.searchsorted(np.cumsum(s2) / s2.sum(), keep - 1e-12) + 1)


def _tau(x: np.ndarray, alpha: float) -> np.ndarray:
    return 0.5 * (x - (1 + alpha) + np.sqrt((x - (1 + alpha)) ** 2 - 4 * alpha))


def _evb_objective(sigma2, L, M, s, residual, xubar):
    H, alpha = len(s), L / M
    x = s ** 2 / (M * sigma2)
    z1, z2 = x[x > xubar], x[x <= xubar]
    tau_z1 = _tau(z1, alpha)
    return (np.sum(z2 - np.log(z2)) + np.sum(z1 - tau_z1) + np.sum(np.log((tau_z1 + 1) / z1))
            + alpha * np.sum(np.log(tau_z1 / alpha + 1)) + residual / (M * sigma2) + (L - H) * np.log(sigma2))


def evbmf_rank(matrix: np.ndarray) -> int:
    """The rank the empirical variational Bayes matrix factorisation keeps (Nakajima et al. 2013).

    The noise variance is estimated too, so no threshold is needed: the analytic global solution keeps
    the singular values above ``sqrt(M σ² (1 + τ̄)(1 + α/τ̄))``. Used for CNN ranks by Kim et al. 2016.
    """
    y = matrix if matrix.shape[0] <= matrix.shape[1] else matrix.T
    L, M = y.shape
    s = np.linalg.svd(y, compute_uv=False)
    H = L
    alpha = L / M
    tauubar = 2.5129 * math.sqrt(alpha)
    xubar = (1 + tauubar) * (1 + alpha / tauubar)
    residual = 0.0
    eh_ub = int(min(math.ceil(L / (1 + alpha)) - 1, H)) - 1
    upper = (np.sum(s ** 2) + residual) / (L * M)
    lower = max(s[eh_ub + 1] ** 2 / (M * xubar), np.mean(s[eh_ub + 1:] ** 2) / M) if eh_ub + 1 < H else upper * 1e-6
    sigma2 = minimize_scalar(_evb_objective, args=(L, M, s, residual, xubar), bounds=(lower, upper),
                             method="bounded").x
    threshold = math.sqrt(M * sigma2 * (1 + tauubar) * (1 + alpha / tauubar))
    return max(1, int(np.sum(s > threshold)))


def greedy_under_budget(options: dict[str, list[tuple[int, float]]], fixed_macs: int, target: float) -> dict[str, int]:
    """Pick one option per layer so the total MACs is at most ``target``, adding as little error as possible.

    ``options[layer]`` lists ``(macs, error)`` from the original (index 0: full MACs, no error) to the
    cheapest; ``fixed_macs`` is what no option changes. Greedy marginal analysis: repeatedly take, over all
    layers, the move to a cheaper option with the least added error per MAC saved (looking past the next
    option, so the moves follow each layer's lower convex hull) until the budget holds. Returns the index
    chosen per layer; if even the cheapest options miss the target, those are returned.
    """
    choice = {name: 0 for name in options}
    total = fixed_macs + sum(o[0][0] for o in options.values())
    while total > target:
        best, best_cost = None, math.inf
        for name, opts in options.items():
            i = choice[name]
            for j in range(i + 1, len(opts)):
                saved = opts[i][0] - opts[j][0]
                if saved > 0:
                    cost = max(opts[j][1] - opts[i][1], 0.0) / saved
                    if cost < best_cost:
                        best, best_cost = (name, j), cost
        if best is None:
            break
        name, j = best
        total -= options[name][choice[name]][0] - options[name][j][0]
        choice[name] = j
    return choice
