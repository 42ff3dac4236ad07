"""Write the synthetic look-alike in the competition CSV layout.

Layout (what ``dacon_csv`` data YAMLs read)::

    root/train/00000.png ...   root/train_df.csv   (index,file_name,class,state,label)
    root/test/00000.png ...    root/test_df.csv    (index,file_name)
    root/test_labels.csv       (index,label: the answers, which only a synthetic set can give)

Each image is drawn from its own seed ``(seed, split, label index, image number)``, so the data does not
depend on generation order and any single image can be redrawn.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
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


def _render_to(task) -> None:
    path, label, size, seed, defect_scale = task
    render(label, size, np.random.default_rng(list(seed)), defect_scale).save(path, optimize=False, compress_level=1)


def _render_chunk(tasks) -> int:
    for t in tasks:
        _render_to(t)
    return len(tasks)


def _render_all(tasks: list, workers: int, desc: str, progress: bool) -> None:
    """Render every task, on ``workers`` processes (each image has its own seed: the files do not depend on it)."""
    bar = tqdm(total=len(tasks), desc=desc, disable=not progress, unit="img", mininterval=1.0)
    if workers <= 1 or len(tasks) < 64:
        for t in tasks:
            _render_to(t)
            bar.update()
    else:
        chunks = [tasks[i:i + 32] for i in range(0, len(tasks), 32)]
        # fork where there is one (as DataLoader workers do): spawn would re-run a caller's unguarded script
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            for n in pool.map(_render_chunk, chunks):
                bar.update(n)
    bar.close()


def generate(out: str | Path, scale: float = 1.0, size: int = 128, seed: int = 0, progress: bool = True,
             replace: bool = True, defect_scale: float = DEFAULT_DEFECT_SCALE, workers: int | None = None) -> Path:
    """Write the dataset to ``out``; built in a temp folder and renamed, so it is complete or absent.

    ``defect_scale`` multiplies every defect's size: below 1 the task gets harder, above 1 easier.
    ``workers`` processes draw the images (default: one per core this process may run on).

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
    tasks = []
    for j in order:
        split, li, label, k = jobs[j]
        index = len(rows[split])
        rows[split].append((index, f"{index:05d}.png", *label.split("-", 1), label))
        tasks.append((tmp / split / f"{index:05d}.png", label, size, (seed, split == "test", li, k), defect_scale))
    if not workers:
        from ...pace import available_cores  # here: pace loads torch, which drawing images does not need

        workers = available_cores()
    try:
        _render_all(tasks, workers, f"synthetic data -> {out}", progress)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # an interrupted run leaves nothing half-made behind
        raise
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
