"""Pruned layers: a **channel spec** (module name -> its new channel counts) and applying it to a model.

Channel pruning (:mod:`slimnas.prune`, built on Torch-Pruning) removes whole channels, so a pruned model
has the same modules as its YAML builds, only narrower. A checkpoint records the narrowed modules' sizes
as plain integers, and loading rebuilds the model from its YAML, narrows those modules here, then loads
the weights: no pickled module, as for a decomposition (:mod:`slimnas.factorized`), which is applied after.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .errors import ConfigError

# The sizes Torch-Pruning changes, per module kind, and the shape each parameter or buffer takes from them.
SIZES = {
    nn.Conv2d: ("in_channels", "out_channels", "groups"),
    nn.Linear: ("in_features", "out_features"),
    nn.modules.batchnorm._BatchNorm: ("num_features",),
    nn.GroupNorm: ("num_channels", "num_groups"),
    nn.PReLU: ("num_parameters",),
}


def _sizes_of(module: nn.Module) -> tuple[str, ...]:
    return next((names for cls, names in SIZES.items() if isinstance(module, cls)), ())


def channel_sizes(model: nn.Module) -> dict[str, dict[str, int]]:
    """Every prunable module's sizes, by name."""
    return {name: {a: int(getattr(m, a)) for a in _sizes_of(m)} for name, m in model.named_modules() if _sizes_of(m)}


def channel_spec(before: dict[str, dict[str, int]], model: nn.Module) -> dict[str, dict[str, int]]:
    """The modules of ``model`` whose sizes differ from ``before`` (a :func:`channel_sizes`), with their new sizes."""
    return {name: sizes for name, sizes in channel_sizes(model).items() if before.get(name) != sizes}


def _shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    """The parameter and buffer shapes ``module``'s sizes imply."""
    if isinstance(module, nn.Conv2d):
        out = (module.out_channels,)
        return {"weight": (module.out_channels, module.in_channels // module.groups, *module.kernel_size), "bias": out}
    if isinstance(module, nn.Linear):
        return {"weight": (module.out_features, module.in_features), "bias": (module.out_features,)}
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        n = (module.num_features,)
        return {"weight": n, "bias": n, "running_mean": n, "running_var": n}
    if isinstance(module, nn.GroupNorm):
        return {"weight": (module.num_channels,), "bias": (module.num_channels,)}
    return {"weight": (module.num_parameters,)}  # PReLU


def apply_channels(model: nn.Module, spec: dict, source: str = "channel spec") -> nn.Module:
    """Narrow the modules ``spec`` names to its sizes (empty tensors of the new shapes; load weights next)."""
    if not isinstance(spec, dict):
        raise ConfigError(f"{source}: a channel spec maps module names to sizes, got a {type(spec).__name__}")
    modules = dict(model.named_modules())
    for name, sizes in spec.items():
        module = modules.get(name)
        if module is None:
            raise ConfigError(f"{source}: {name!r} is not a module of this model")
        allowed = _sizes_of(module)
        if not isinstance(sizes, dict) or not sizes or set(sizes) - set(allowed) or \
                not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in sizes.values()):
            raise ConfigError(f"{source}: {name}: expected positive integer sizes among {list(allowed)}, got {sizes!r}")
        for attr, value in sizes.items():
            setattr(module, attr, value)
        if isinstance(module, nn.Conv2d) and module.in_channels % module.groups:
            raise ConfigError(f"{source}: {name}: in_channels {module.in_channels} not divisible by groups "
                              f"{module.groups}")
        for attr, shape in _shapes(module).items():
            tensor = getattr(module, attr, None)
            if isinstance(tensor, nn.Parameter):
                setattr(module, attr, nn.Parameter(tensor.new_empty(shape), requires_grad=tensor.requires_grad))
            elif isinstance(tensor, torch.Tensor):
                setattr(module, attr, tensor.new_empty(shape))
    return model
