"""Write the synthetic look-alike in the competition CSV layout.

Layout (what ``dacon_csv`` data YAMLs read)::

    root/train/00000.png ...   root/train_df.csv   (index,file_name,class,state,label)
    root/test/00000.png ...    root/test_df.csv    (index,file_name)
    root/test_labels.csv       (index,label: the answers, which only a synthetic set can give)

Each image is drawn from its own seed ``(seed, split, label index, image number)``, so the data does not
depend on generation order and any single image can be redrawn.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ...io import write_csv, write_json
from ..mvtec import all_labels, competition_counts
from .defects import DEFAULT_DEFECT_SCALE, defect_scale as _defect_scale
from .scenes import SCENES

SUPERSAMPLE = 2


def scaled_counts(scale: float, split: str = "train", min_count: int = 2) -> dict[str, int]:
    """Per-label counts of the competition split, times ``scale``, never below ``min_count``."""
    return {k: max(min_count, int(round(v * scale))) for k, v in competition_counts(split).items()}


def render(label: str, size: int, rng: np.random.Generator, defect_scale: float = DEFAULT_DEFECT_SCALE):
    """One PIL image of ``label`` (e.g. ``"screw-thread_top"``) at ``size``×``size``."""
    category, state = label.split("-", 1)
    with _defect_scale(defect_scale):
        cv = SCENES[category](rng, size * SUPERSAMPLE, state)
    return cv.to_pil(size, rng)


def generate(out: str | Path, scale: float = 1.0, size: int = 128, seed: int = 0, progress: bool = True,
             replace: bool = True, defect_scale: float = DEFAULT_DEFECT_SCALE) -> Path:
    """Write the dataset to ``out``; built in a temp folder and renamed, so it is complete or absent.

    ``defect_scale`` multiplies every defect's size: below 1 the task gets harder, above 1 easier.

    With ``replace=False`` an existing ``out`` (e.g. written meanwhile by another process) is kept.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    labels = all_labels()
    jobs = [(split, li, label, k)
            for split in ("train", "test")
            for li, label in enumerate(labels)
            for k in range(scaled_counts(scale, split, 2 if split == "train" else 1)[label])]
    rows = {"train": [], "test": []}
    for split in rows:
        (tmp / split).mkdir()
    order = np.random.default_rng(seed).permutation(len(jobs))  # shuffled file order, like the competition
    for n, j in enumerate(tqdm(order, desc=f"synthetic data -> {out}", disable=not progress, unit="img")):
        split, li, label, k = jobs[j]
        rng = np.random.default_rng([seed, split == "test", li, k])
        index = len(rows[split])
        name = f"{index:05d}.png"
        render(label, size, rng, defect_scale).save(tmp / split / name, optimize=False, compress_level=1)
        rows[split].append((index, name, *label.split("-", 1), label))
    write_csv(tmp / "train_df.csv", ["index", "file_name", "class", "state", "label"], rows["train"])
    write_csv(tmp / "test_df.csv", ["index", "file_name"], [r[:2] for r in rows["test"]])
    write_csv(tmp / "test_labels.csv", ["index", "label"], [(r[0], r[4]) for r in rows["test"]])
    write_json(tmp / "synthetic.json", {"scale": scale, "size": size, "seed": seed, "defect_scale": defect_scale,
                                        "train": len(rows["train"]), "test": len(rows["test"])})
    if out.exists():
        if not replace:
            shutil.rmtree(tmp)
            return out
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out
