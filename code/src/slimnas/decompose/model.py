"""Decompose a whole model: resolve a rank_cfg against its layers, replace them, report per layer.

A **rank_cfg** maps a layer's qualified name to what to do with it::

    backbone.1.conv: {method: tucker, ranks: [16, 24]}   # explicit
    backbone.3.conv: {method: cp, ranks: [32]}
    backbone.5.conv: 0.5                                 # a fraction of each dimension, default method
    backbone.5.fc: {method: svd, ranks: 0.25}

The resolved form (every rank an int) is the **decomposition spec** saved in checkpoints and written
next to every decomposed model, so it can be edited and replayed with ``--rank_cfg``.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import torch.nn as nn
import yaml

from ..errors import ConfigError
from ..io import parse_problem
from ..factorized import DEFAULT_METHOD, decomposable, kind, rank_limits, replace_layer, shell
from ..macs import layer_macs
from ..shapes import input_shapes
from .methods import decompose, n_params, relative_error, separable_energy
from .ranks import Spectra, energy_rank, evbmf_rank, greedy_under_budget, unfold


def input_sizes(model: nn.Module, input_size: int, channels: int = 3) -> dict[str, tuple[int, int] | None]:
    """The spatial size of each decomposable layer's input (``None`` for a linear's), from one forward pass."""
    shapes = input_shapes(model, decomposable(model).items(), input_size, channels)
    return {name: shape[1:] if len(shape) == 3 else None for name, shape in shapes.items()}


def output_scales(model: nn.Module) -> dict[str, np.ndarray]:
    """For each decomposable layer whose output goes only into a BatchNorm: how much that BN scales each output
    channel at inference, |γ| / √(running_var + ε). Ranks are chosen and factors fitted on the scaled weight,
    so the error budget is not spent on channels BN suppresses; the scale is divided out of the output factor.
    Found on the traced graph (torch.fx); a model that does not trace gets no scales (raw weights, as before)."""
    import torch.fx

    try:
        graph = torch.fx.symbolic_trace(model).graph
    except Exception:  # noqa: BLE001 - data-dependent control flow and the like: fall back to raw weights
        return {}
    modules, layers, scales = dict(model.named_modules()), decomposable(model), {}
    for node in graph.nodes:
        bn = modules.get(node.target) if node.op == "call_module" else None
        if not isinstance(bn, nn.modules.batchnorm._BatchNorm) or not bn.track_running_stats:
            continue
        src = node.args[0]
        if isinstance(src, torch.fx.Node) and src.op == "call_module" and src.target in layers and len(src.users) == 1:
            gamma = bn.weight.detach().abs() if bn.affine else torch.ones_like(bn.running_var)
            scale = (gamma / torch.sqrt(bn.running_var + bn.eps)).double().cpu().numpy()
            scales[src.target] = np.maximum(scale, 1e-3 * max(float(scale.mean()), 1e-12))  # divisible back out
    return scales


def _weight(layer: nn.Module, scale: np.ndarray | None) -> np.ndarray:
    """``layer``'s weight as C_out×C_in×k×k, each output channel times ``scale``."""
    w = layer.weight.detach().double().cpu().numpy()
    w = w if w.ndim == 4 else w[:, :, None, None]
    return w if scale is None else w * scale[:, None, None, None]


# ------------------------------------------------------------------------------------------ rank_cfg

def load_rank_cfg(path: str | Path) -> dict:
    """Read a YAML or JSON rank_cfg; a pickle is refused, never unpickled."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"rank_cfg {path}: no such file")
    raw = path.read_bytes()
    if path.suffix.lower() in (".pkl", ".pickle", ".pt", ".pth") or raw[:1] == b"\x80":
        raise ConfigError(
            f"rank_cfg {path}: looks like a pickle, and slimnas never unpickles files (they can run code). "
            f"If you trust it, convert it once: python -c \"import pickle, json; "
            f"json.dump(pickle.load(open('{path}', 'rb')), open('{path.with_suffix('.json')}', 'w'))\"")
    try:
        data = json.loads(raw) if path.suffix.lower() == ".json" else yaml.safe_load(raw)
    except (ValueError, yaml.YAMLError) as e:
        raise ConfigError(f"rank_cfg {path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {parse_problem(e)}") from None
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"rank_cfg {path}: must map layer names to {{method, ranks}} or a fraction")
    return data


# ---------------------------------------------------------------------------------- apply / decompose

def decompose_model(model: nn.Module, spec: dict[str, dict], input_size: int) -> list[dict]:
    """Replace the layers in ``spec`` (already resolved) by fitted factorisations, in place; one report row each."""
    sizes, scales = input_sizes(model, input_size), output_scales(model)
    rows = []
    for name, entry in spec.items():
        layer = model.get_submodule(name)
        seq = decompose(layer, entry["method"], entry["ranks"], out_scale=scales.get(name))
        rows.append(_row(name, layer, entry, seq, sizes.get(name)))
        replace_layer(model, name, seq)
    return rows


def _shape(layer: nn.Module) -> str:
    if isinstance(layer, nn.Linear):
        return f"{layer.out_features}x{layer.in_features}"
    return f"{layer.out_channels}x{layer.in_channels // layer.groups}x{layer.kernel_size[0]}x{layer.kernel_size[1]}"


def _row(name, layer, entry, seq, hw) -> dict:
    return {"layer": name, "shape": _shape(layer), "method": entry["method"], "ranks": entry["ranks"],
            "macs_before": layer_macs(layer, hw), "macs_after": layer_macs(seq, hw),
            "params_before": n_params(layer), "params_after": n_params(seq),
            "rel_error": round(relative_error(layer, seq, hw), 6)}


# ------------------------------------------------------------------------------------ automatic ranks

def auto_rank_cfg(model: nn.Module, input_size: int, rule: str = "target", value: float = 0.5,
                  conv_method: str = "tucker", total_macs: int | None = None, timer=None,
                  total_ms: float | None = None) -> dict[str, dict]:
    """Ranks chosen per layer by ``rule``: ``energy`` (keep ``value`` of each unfolding's spectrum),
    ``vbmf`` (EVBMF on each unfolding), ``target`` (total MACs <= ``value`` × ``total_macs``) or
    ``latency`` (measured ms <= ``value`` × ``total_ms``, each candidate priced by ``timer``, a
    :class:`~slimnas.decompose.timing.LayerTimer`); the budget rules add the least squared relative error.

    Layers where the chosen factorisation would not reduce MACs (or, for ``latency``, measured time) are left out.
    """
    sizes, scales = input_sizes(model, input_size), output_scales(model)
    layers = decomposable(model)
    if rule == "target":
        return _budget_cfg(layers, sizes, value, conv_method, total_macs, lambda m, hw: layer_macs(m, hw), "--target-macs",
                           scales=scales)
    if rule == "latency":
        from .timing import layer_shape

        # fewer rank steps: every one is an ONNX Runtime measurement (cached across runs)
        return _budget_cfg(layers, sizes, value, conv_method, total_ms,
                           lambda m, hw: timer(m, layer_shape(m if not isinstance(m, nn.Sequential) else m[0], hw)),
                           "--target-latency", steps=8, margin=LATENCY_MARGIN, min_saving=MIN_SAVING_MS, scales=scales)
    cfg = {}
    for name, layer in layers.items():
        method = conv_method if kind(layer) == "conv" else DEFAULT_METHOD[kind(layer)]
        if method == "separable":
            # the split is rank 1 per kernel: keep it only where rank 1 holds the energy asked for. EVBMF
            # cannot tell signal from noise in a k×k kernel (it says rank 1 for random ones), so --vbmf
            # leaves depthwise convs alone rather than split them blindly
            if rule == "vbmf" or separable_energy(layer) < value:
                continue
            ranks = []
        else:
            w = _weight(layer, scales.get(name))
            pick = (lambda m: energy_rank(m, value)) if rule == "energy" else evbmf_rank
            if method == "tucker":
                ranks = [pick(unfold(w, 0)), pick(unfold(w, 1))]
            elif method == "cp":
                ranks = [max(pick(unfold(w, 0)), pick(unfold(w, 1)))]
            else:
                ranks = [min(pick(unfold(w, 0)), rank_limits(layer, "svd")[0])]
        entry = {"method": method, "ranks": ranks}
        if layer_macs(shell(layer, method, ranks), sizes.get(name)) < layer_macs(layer, sizes.get(name)):
            cfg[name] = entry
    return cfg


def _budget_cfg(layers, sizes, fraction, conv_method, total, cost, flag: str, steps: int = 16,
                margin: float = 0.0, min_saving: float = 0.0, scales: dict | None = None) -> dict[str, dict]:
    """Per layer, the original or one cheaper candidate, so the summed ``cost(module, hw)`` (plus what no
    layer here changes) is at most ``fraction × total`` with the least summed squared relative error.
    A candidate counts as cheaper only below ``(1 - margin)`` of the layer's own cost and at least
    ``min_saving`` below it. Errors are of the weight scaled by ``scales`` (:func:`output_scales`)."""
    if not 0 < fraction <= 1:
        raise ConfigError(f"{flag} must be a fraction in (0, 1], got {fraction}")
    options: dict[str, list] = {}
    entries: dict[str, list] = {}
    for name, layer in layers.items():
        hw = sizes.get(name)
        full, full_macs = cost(layer, hw), layer_macs(layer, hw)
        method = conv_method if kind(layer) == "conv" else DEFAULT_METHOD[kind(layer)]
        opts, ents = [(full, 0.0)], [None]
        spectra = None if method == "separable" else Spectra(_weight(layer, (scales or {}).get(name)))
        grid = [[]] if method == "separable" else _rank_grid(rank_limits(layer, method) if method != "cp"
                                                               else [min(layer.out_channels, layer.in_channels) * 2], steps)
        for ranks in grid:
            candidate = shell(layer, method, ranks)
            if layer_macs(candidate, hw) >= full_macs:
                continue  # never trade more MACs for anything
            c = cost(candidate, hw)
            if c < full * (1 - margin) and full - c >= min_saving:
                # squared relative error = the fraction of the layer's energy lost: convex in the rank, so
                # the greedy's marginal choice is sound (plain relative error saturates near 1 and made the
                # greedy crush one layer to rank 1 instead of trimming many a little). Closed form from the
                # spectra: the layer is decomposed once, at the ranks chosen.
                err2 = 1.0 - separable_energy(layer) if spectra is None else spectra.error2(method, ranks)
                opts.append((c, err2))
                ents.append({"method": method, "ranks": ranks})
        order = [0] + sorted(range(1, len(opts)), key=lambda i: -opts[i][0])
        options[name], entries[name] = [opts[i] for i in order], [ents[i] for i in order]
    layer_total = sum(o[0][0] for o in options.values())
    # Layers timed alone can add up to more than the whole model measured (each pays for cold inputs and
    # weights): the budget is then a fraction of their sum, i.e. the savings are taken as proportional.
    total = max(total or 0.0, layer_total)
    fixed = total - layer_total
    target = fraction * total
    # Cap each layer's error so the budget is spread over many layers instead of wrecking a few; raise
    # the cap only as far as the target needs.
    for cap in MAX_ERROR_STEPS:
        capped = {n: [o for o in opts if o[1] <= cap ** 2] for n, opts in options.items()}
        index = {n: [i for i, o in enumerate(opts) if o[1] <= cap ** 2] for n, opts in options.items()}
        choice = greedy_under_budget(capped, fixed, target)
        reached = fixed + sum(capped[n][i][0] for n, i in choice.items())
        if reached <= target:
            break
        if cap == MAX_ERROR_STEPS[0]:
            first = (capped, index, choice)
    else:  # out of reach even with every layer wrecked: wreck none, save what the first cap allows (the caller says so)
        (capped, index, choice), cap = first, MAX_ERROR_STEPS[0]
    if cap > MAX_ERROR_STEPS[0]:
        warnings.warn(f"{flag} {fraction:g} needs layers with relative error up to {cap:g}; expect a large "
                      f"accuracy drop before fine-tuning", stacklevel=2)
    return {n: entries[n][index[n][i]] for n, i in choice.items() if i > 0}


# A factorised layer must time at least 10 % faster to be kept: on a layer of a few microseconds the
# timer's spread is that large, and a fresh timing of a layer kept for a 1 % gain found it 11 % slower.
LATENCY_MARGIN = 0.10
# ...and save at least 5 microseconds: the cache times whole and factorised at different moments, and on a
# core shared with another process a 6-microsecond linear kept as 10 % faster timed 14 % slower afresh.
MIN_SAVING_MS = 0.005
MAX_ERROR_STEPS = (0.5, 0.7, 0.9, 1.01)  # per-layer relative reconstruction error allowed by --target-macs


def _rank_grid(limits: list[int], steps: int = 16) -> list[list[int]]:
    """Ranks at 1/steps … (steps-1)/steps of each limit, all dimensions scaled together."""
    grid = []
    for i in range(1, steps):
        ranks = [max(1, math.floor(lim * i / steps)) for lim in limits]
        if ranks not in grid:
            grid.append(ranks)
    return grid
