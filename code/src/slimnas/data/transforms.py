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

DEFAULT_AUGMENT = [
    {"HorizontalFlip": {"p": 0.5}},
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
