"""Albumentations pipelines from the data YAML's ``augment`` list.

An entry is a transform name (``HorizontalFlip``) or a one-key mapping (``Affine: {rotate: [-10, 10]}``).
Resizing happens before (see ``images.resize``) so the runtime predictor can repeat it without
albumentations; these pipelines only augment, normalise and make tensors.
"""

from __future__ import annotations

import difflib
import os
import warnings

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no network call at import

import albumentations as A  # noqa: E402
from albumentations.pytorch import ToTensorV2  # noqa: E402

from ..errors import ConfigError  # noqa: E402

# No flips or quarter turns by default: on MVTec, pose is part of some labels (metal_nut-flip is a flipped
# nut, transistor-misplaced a turned one). A dataset that is symmetric declares it (``invariant_to``).
DEFAULT_AUGMENT = [
    {"Affine": {"translate_percent": [-0.04, 0.04], "scale": [0.95, 1.05], "rotate": [-10, 10], "p": 0.5}},
    {"ColorJitter": {"brightness": 0.1, "contrast": 0.1, "saturation": 0.1, "hue": 0.0, "p": 0.5}},
]


def _transform(entry, where: str) -> A.BasicTransform:
    if isinstance(entry, str):
        name, kwargs = entry, {}
    elif isinstance(entry, dict) and len(entry) == 1:
        name, kwargs = next(iter(entry.items()))
        kwargs = kwargs or {}
    else:
        raise ConfigError(f"{where}: expected a transform name or {{Name: {{args}}}}, got {entry!r}")
    cls = getattr(A, str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, A.BasicTransform)):
        names = [n for n in dir(A) if isinstance(getattr(A, n), type) and issubclass(getattr(A, n), A.BasicTransform)]
        close = difflib.get_close_matches(str(name), names, n=3)
        raise ConfigError(f"{where}: unknown albumentations transform {name!r}"
                          + (f"; did you mean {' or '.join(close)}?" if close else ""))
    if not isinstance(kwargs, dict):
        raise ConfigError(f"{where}: arguments of {name} must be a mapping, got {kwargs!r}")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            transform = cls(**kwargs)
    except Exception as e:  # noqa: BLE001 - pydantic/TypeError/ValueError all mean bad arguments
        raise ConfigError(f"{where}: bad arguments for {name}: {str(e).splitlines()[0]}") from None
    for w in caught:  # albumentations only warns about unknown arguments; a typo must not pass silently
        if "not valid" in str(w.message):
            raise ConfigError(f"{where}: bad arguments for {name}: {w.message}")
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return transform


SYMMETRIES = ("hflip", "vflip", "rot90")
# albumentations transforms that flip or turn the image, and the symmetries each needs to keep labels true
ORIENTATION_TRANSFORMS = {"HorizontalFlip": {"hflip"}, "VerticalFlip": {"vflip"}, "RandomRotate90": {"rot90"},
                          "Transpose": {"hflip", "rot90"}, "D4": set(SYMMETRIES), "SquareSymmetry": set(SYMMETRIES)}


def check_invariances(cfg) -> None:
    """Refuse flip/turn augmentation that the data config does not declare label-preserving."""
    bad = [s for s in cfg.invariant_to if s not in SYMMETRIES] if isinstance(cfg.invariant_to, list) else [cfg.invariant_to]
    if bad:
        raise ConfigError(f"{cfg.source}: invariant_to takes a list of {', '.join(SYMMETRIES)}; got {bad}")
    for i, entry in enumerate(cfg.augment if isinstance(cfg.augment, list) else []):
        name = entry if isinstance(entry, str) else next(iter(entry), None) if isinstance(entry, dict) else None
        missing = sorted(ORIENTATION_TRANSFORMS.get(name, set()) - set(cfg.invariant_to))
        if missing:
            raise ConfigError(
                f"{cfg.source}: augment[{i}] {name} changes the image's orientation, which is part of some labels "
                f"(metal_nut-flip, transistor-misplaced); if yours do not depend on it, declare "
                f"invariant_to: {sorted(set(cfg.invariant_to) | set(missing))}")


def build_transforms(augment: list, mean, std, source: str = "<data config>",
                     seed: int = 0) -> tuple[A.Compose, A.Compose]:
    """(train, eval) pipelines: train = augment + normalise + tensor; eval = normalise + tensor.

    Albumentations draws from its own generator, seeded here so augmentation is reproducible.
    """
    if not isinstance(augment, list):
        raise ConfigError(f"{source}: 'augment' must be a list")
    aug = [_transform(e, f"{source}: augment[{i}]") for i, e in enumerate(augment)]
    tail = [A.Normalize(mean=tuple(mean), std=tuple(std)), ToTensorV2()]
    return A.Compose(aug + tail, seed=seed), A.Compose(tail, seed=seed)
