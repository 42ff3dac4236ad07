#!/usr/bin/env python
"""Where a checkpoint's errors are, by kind, for ``category-state`` labels (MVTec AD's anomaly classes).

    python bench/error_kinds.py bench/results/road_goal/baseline/seed0/best.pt bench/results/road_goal/searched/seed*/best.pt

Each checkpoint is scored on ``--split`` (default: the labelled test split) and its errors are split into
a defect called good (missed), a good part called a defect (false alarm), the wrong defect of the right
category, and the wrong category. Writes bench/results/error_kinds.{json,md}.
"""

import argparse
from pathlib import Path

import numpy as np

from common import machine, publish
from slimnas.cli import run_cli
from slimnas.io import write_json
from slimnas.train.evaluate import checkpoint_predictions
from slimnas.train.metrics import macro_f1

KINDS = {"missed": "defect called good", "false_alarm": "good called a defect",
         "wrong_defect": "wrong defect of the right category", "wrong_category": "wrong category"}


def error_kinds(y: np.ndarray, p: np.ndarray, classes: list[str]) -> dict[str, int]:
    """Counts of each kind of error of predictions ``p`` against labels ``y`` (indices into ``classes``)."""
    good = np.array([c.endswith("-good") for c in classes])
    category = np.array([c.split("-", 1)[0] for c in classes])
    wrong, same_cat = y != p, category[y] == category[p]
    return {"errors": int(wrong.sum()),
            "missed": int((wrong & same_cat & ~good[y] & good[p]).sum()),
            "false_alarm": int((wrong & same_cat & good[y] & ~good[p]).sum()),
            "wrong_defect": int((wrong & same_cat & ~good[y] & ~good[p]).sum()),
            "wrong_category": int((wrong & ~same_cat).sum())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+", help="best.pt files of models trained on --data")
    p.add_argument("--data", default=None, help="data YAML (default: the embedded synthetic data)")
    p.add_argument("--split", default="test", choices=["val", "test"])
    p.add_argument("--out", default="bench/results")
    a = p.parse_args()
    rows = []
    for weight in a.checkpoints:
        y, pred, classes = checkpoint_predictions(weight, a.data, a.split)
        rows.append({"checkpoint": weight, "macro_f1": round(macro_f1(y, pred), 4), "images": len(y),
                     **error_kinds(y, pred, classes)})
    lines = [f"Errors on the {a.split} split by kind; {machine()['date']}.", "",
             "| checkpoint | macro-F1 | images | errors | " + " | ".join(KINDS.values()) + " |",
             "|---|---:|---:|---:|" + "---:|" * len(KINDS)]
    lines += [f"| {r['checkpoint']} | {r['macro_f1']:.4f} | {r['images']} | {r['errors']} | "
              + " | ".join(str(r[k]) for k in KINDS) + " |" for r in rows]
    out = Path(a.out)
    command = " ".join(["python bench/error_kinds.py", *a.checkpoints, *(["--data", a.data] if a.data else []),
                        "--split", a.split])
    write_json(out / "error_kinds.json", {**machine(), "command": command, "split": a.split, "rows": rows})
    publish(out / "error_kinds.md", lines)


if __name__ == "__main__":
    run_cli(main)
