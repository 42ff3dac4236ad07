"""Choosing ranks: by spectrum energy, by VBMF, or per layer under a global MACs target."""

from __future__ import annotations

import math
import warnings

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
    better. CP: the error after a few ALS sweeps from :func:`cp_start`, where the final fit starts too (ALS
    never raises the error, so the fit ends at or below it); on kernels over ``CP_FIT_SIZE`` entries, the
    error of the start itself (:func:`cp_bounds`), which is looser. Either way an upper bound, where a lower
    bound (0 at any rank >= min(C_out, C_in)) made CP look free. Two SVDs per layer replace one iterative
    decomposition per candidate rank for SVD and Tucker (minutes on a resnet18).
    """

    def __init__(self, weight: np.ndarray):
        self.w = weight if weight.ndim == 4 else weight[:, :, None, None]
        self.out, self.inp = tail_energy(unfold(self.w, 0)), tail_energy(unfold(self.w, 1))
        self._cp: dict[int, float] = {}

    def _tail(self, tails: np.ndarray, r: int) -> float:
        return float(tails[min(r, len(tails) - 1)])

    def error2(self, method: str, ranks: list[int]) -> float:
        if method == "svd":
            return self._tail(self.out, ranks[0])
        if method == "tucker":
            return min(1.0, self._tail(self.out, ranks[0]) + self._tail(self.inp, ranks[1]))
        if method == "cp":
            r = ranks[0]
            if r not in self._cp:
                self._cp[r] = cp_fit_error2(self.w, r, CP_SWEEPS) if self.w.size <= CP_FIT_SIZE else \
                    self._tail(cp_bounds(self.w), r)
            return self._cp[r]
        raise ValueError(f"no closed-form error for {method!r}")


CP_SWEEPS = 15  # ALS sweeps that price a CP rank: on a 16x16x3x3 kernel at rank 16 the start's bound is 0.75,
# 15 sweeps 0.36 and the full fit 0.35 (relative error, decaying spectrum)
CP_FIT_SIZE = 300_000  # kernels up to 128x256x3x3 are priced by sweeps; larger ones by the start's bound


def cp_fit_error2(w: np.ndarray, rank: int, sweeps: int) -> float:
    """Squared relative error of a rank-``rank`` CP of ``w`` after ``sweeps`` ALS sweeps from :func:`cp_start`."""
    import tensorly as tl
    from tensorly.cp_tensor import CPTensor, cp_to_tensor
    from tensorly.decomposition import parafac

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tensorly's note on normalised starts
        cp = parafac(tl.tensor(w), rank=rank, init=CPTensor(cp_start(w, rank)), n_iter_max=sweeps, tol=0.0,
                     normalize_factors=True)
    return float(((w - cp_to_tensor(cp)) ** 2).sum() / max(float((w ** 2).sum()), 1e-300))


def _rank1(t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """A rank-1 approximation ``s·a⊗b⊗c`` of a 3-way ``t`` (C×k×k), by two SVDs: (a, b, c, s). Not the best
    rank-1, but one whose error is known exactly, which is what a bound needs."""
    u, sv, vt = np.linalg.svd(t.reshape(t.shape[0], -1), full_matrices=False)
    u2, s2, vt2 = np.linalg.svd(vt[0].reshape(t.shape[1], t.shape[2]))
    return u[:, 0], u2[:, 0], vt2[0], float(sv[0] * s2[0])


def cp_construction(w: np.ndarray, rank: int, mode: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """A rank-``rank`` CP of a C_out×C_in×k×k ``w`` (weights, [out, in, h, w] factors): the first ``rank`` terms
    σ_r·u_r·v_rᵀ of the SVD of mode ``mode``'s unfolding, each v_r (the other channel mode × k × k) replaced
    by its rank-1 approximation (:func:`_rank1`)."""
    u, sv, vt = np.linalg.svd(unfold(w, mode), full_matrices=False)
    other = w.shape[1 - mode]
    cols = {0: [], 1: [], 2: [], 3: []}
    weights = []
    for r in range(min(rank, len(sv))):
        a, b, c, s = _rank1(vt[r].reshape(other, w.shape[2], w.shape[3]))
        cols[mode].append(u[:, r])
        cols[1 - mode].append(a)
        cols[2].append(b)
        cols[3].append(c)
        weights.append(sv[r] * s)
    factors = [np.stack(cols[i], axis=1) for i in range(4)]
    return np.array(weights), factors


def cp_bounds(w: np.ndarray) -> np.ndarray:
    """``bound[R]``: an upper bound of rank-R CP's squared relative error (``bound[0] == 1``), the error of
    :func:`cp_construction` on the better channel mode. With u_r orthonormal the error splits into the SVD
    tail beyond R plus each kept term's rank-1 loss: Σ_{r>R} σ_r² + Σ_{r<=R} σ_r² (1 − ρ_r), ρ_r the share
    of v_r's energy its rank-1 approximation keeps. Never 0 unless the construction is exact, where the
    channel-mode tails (a lower bound) are 0 at any rank >= min(C_out, C_in)."""
    total = max(float((w ** 2).sum()), 1e-300)
    best = None
    for mode in (0, 1):
        _, sv, vt = np.linalg.svd(unfold(w, mode), full_matrices=False)
        other = w.shape[1 - mode]
        kept = np.array([_rank1(vt[r].reshape(other, w.shape[2], w.shape[3]))[3] ** 2 for r in range(len(sv))])
        # error at rank R: the tail beyond R plus, for r <= R, sigma_r^2 (1 - rho_r) with rho_r = kept_r (|v_r| = 1)
        loss = sv ** 2 * (1.0 - kept)
        bound = np.concatenate([[total], (sv ** 2).sum() - np.cumsum(sv ** 2) + np.cumsum(loss)]) / total
        if best is not None:  # the modes have different ranks: past its last term a construction stays put
            n = max(len(best), len(bound))
            best, bound = (np.pad(b, (0, n - len(b)), mode="edge") for b in (best, bound))
            bound = np.minimum(best, bound)
        best = bound
    return best.clip(0.0, 1.0)


def cp_start(w: np.ndarray, rank: int, seed: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    """The CP fit's starting point: :func:`cp_construction` on the mode whose bound is lower at ``rank``, with
    small random terms past the ranks it has. ALS only lowers the error from there, so the fitted error is at
    most :func:`cp_bounds`'s."""
    mode = min((0, 1), key=lambda m: _construction_error2(w, rank, m))
    weights, factors = cp_construction(w, rank, mode)
    missing = rank - len(weights)
    if missing > 0:
        rng = np.random.default_rng(seed)
        scale = 1e-3 * np.sqrt(max(float((w ** 2).sum()), 1e-300) / max(rank, 1)) ** 0.25
        factors = [np.concatenate([f, rng.normal(scale=scale, size=(f.shape[0], missing))], axis=1) for f in factors]
        weights = np.concatenate([weights, np.ones(missing)])
    return weights, factors


def _construction_error2(w: np.ndarray, rank: int, mode: int) -> float:
    weights, factors = cp_construction(w, rank, mode)
    approx = np.einsum("r,ar,br,cr,dr->abcd", weights, *factors)
    return float(((w - approx) ** 2).sum())


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
