"""Where images and labels come from: one lister per dataset kind, registered by name.

A lister reads a layout on disk and returns a :class:`Source`; it checks that every listed file exists
and names the offending file and index/CSV when one does not.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from slimnas_runtime.layout import IMAGE_SUFFIXES, check_unique, layout_rows

from ..errors import DataError
from ..io import read_csv


@dataclass
class Source:
    classes: list[str]
    train: list[tuple[Path, int]]  # labelled images: (path, class index)
    test: list[tuple[str, Path]] = field(default_factory=list)  # unlabelled: (index, path)
    test_labels: dict[str, str] | None = None  # index -> label, when the layout ships answers


_LISTERS: dict[str, Callable[..., Source]] = {}

# Choose on dev, report on test: a run that chooses something (a default, a recipe, a bound) lists the
# report's dataset roots here (os.pathsep-separated); their test answers are then never read, by this process
# or the commands it runs, so nothing it decides can have looked at them (bench/common.py: choose_on_dev).
SEALED_ENV = "SLIMNAS_SEALED_TEST"


def sealed(root: Path) -> bool:
    """Whether ``root``'s test answers are sealed in this process (see :data:`SEALED_ENV`)."""
    return any(Path(r).resolve() == Path(root).resolve() for r in os.environ.get(SEALED_ENV, "").split(os.pathsep) if r)


def register_source(kind: str):
    def wrap(fn):
        _LISTERS[kind] = fn
        return fn
    return wrap


def list_source(kind: str, root: Path, skip_missing: bool = False) -> Source:
    if kind not in _LISTERS:
        raise DataError(f"unknown dataset kind {kind!r} (known: {', '.join(sorted(_LISTERS))})")
    if not Path(root).is_dir():
        raise DataError(f"{root}: dataset folder not found (kind {kind})")
    return _LISTERS[kind](Path(root), skip_missing)


def _exists(path: Path, where: str, skip: bool) -> bool:
    if path.is_file():
        return True
    if skip:
        warnings.warn(f"skipping missing image {path} ({where})", stacklevel=3)
        return False
    raise DataError(f"{path}: image file not found (listed in {where})")


def _index_labels(pairs: list[tuple[Path, str]]) -> tuple[list[str], list[tuple[Path, int]]]:
    classes = sorted({label for _, label in pairs})
    idx = {c: i for i, c in enumerate(classes)}
    return classes, [(p, idx[label]) for p, label in pairs]


@register_source("dacon_csv")
def dacon_csv(root: Path, skip_missing: bool = False) -> Source:
    """The competition layout: ``train_df.csv`` (index,file_name,class,state,label) + ``train/``,
    optional ``test_df.csv`` (index,file_name) + ``test/`` and ``test_labels.csv`` (index,label)."""
    csv = root / "train_df.csv"
    listed = layout_rows(csv, ["label"], skip_missing=True)  # file names inside train/, unique indexes
    _check_unique([r for _, _, r in listed], csv)
    pairs = [(path, r["label"]) for i, (_, path, r) in enumerate(listed)
             if _exists(path, f"{csv} row {i + 1}", skip_missing)]
    if not pairs:
        raise DataError(f"{csv}: no training images")
    classes, train = _index_labels(pairs)
    test, answers = [], None
    if (root / "test_df.csv").is_file():
        tcsv = root / "test_df.csv"
        test = [(index, path) for i, (index, path, _) in enumerate(layout_rows(tcsv, ["index"], skip_missing=True))
                if _exists(path, f"{tcsv} row {i + 1}", skip_missing)]
    if (root / "test_labels.csv").is_file() and not sealed(root):
        rows = read_csv(root / "test_labels.csv", ["index", "label"])
        check_unique((r["index"] for r in rows), str(root / "test_labels.csv"))
        answers = {r["index"]: r["label"] for r in rows}
        unseen = sorted(set(answers.values()) - set(classes))
        if unseen:
            raise DataError(f"{root / 'test_labels.csv'}: label(s) never seen in training: {unseen[:5]}")
    return Source(classes, train, test, answers)


def _check_unique(rows: list[dict], csv: Path) -> None:
    """One label per file: a file listed twice with two labels cannot be learned (or split) honestly."""
    first: dict[str, tuple[int, str]] = {}
    for i, r in enumerate(rows):
        name, label = r["file_name"], r["label"]
        if name in first and first[name][1] != label:
            row, other = first[name]
            raise DataError(f"{csv}: {name} is listed twice with different labels "
                            f"(row {row + 1}: {other!r}, row {i + 1}: {label!r})")
        first.setdefault(name, (i, label))


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


@register_source("mvtec")
def mvtec(root: Path, skip_missing: bool = False) -> Source:
    """MVTec AD folders: ``<category>/{train,test}/<state>/*.png`` → label ``<category>-<state>``
    (``ground_truth/`` masks are ignored). Train and test images are pooled, then split by the data YAML."""
    pairs = []
    for cat in sorted(p for p in root.iterdir() if p.is_dir()):
        for split in ("train", "test"):
            for state in sorted(p for p in (cat / split).glob("*") if p.is_dir()):
                images = _images_in(state)
                if not images:
                    raise DataError(f"{state}: empty class folder (no images with {sorted(IMAGE_SUFFIXES)})")
                pairs += [(p, f"{cat.name}-{state.name}") for p in images]
    if not pairs:
        raise DataError(f"{root}: no <category>/train|test/<state>/*.png images found (MVTec AD layout)")
    return Source(*_index_labels(pairs))


@register_source("image_folder")
def image_folder(root: Path, skip_missing: bool = False) -> Source:
    """``<class>/*.png|jpg|...``, like torchvision's ImageFolder."""
    pairs = []
    for cls in sorted(p for p in root.iterdir() if p.is_dir()):
        images = _images_in(cls)
        if not images:
            raise DataError(f"{cls}: empty class folder (no images with {sorted(IMAGE_SUFFIXES)})")
        pairs += [(p, cls.name) for p in images]
    if not pairs:
        raise DataError(f"{root}: no <class>/<image> files found (image_folder layout)")
    return Source(*_index_labels(pairs))
