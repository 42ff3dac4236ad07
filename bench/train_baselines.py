#!/usr/bin/env python
"""Train several model YAMLs with the same data, epochs and seed; tabulate macro-F1 against MACs.

    python bench/train_baselines.py                       # baseline vs timm mobilenetv3_small_050, 30 epochs
    python bench/train_baselines.py --epochs 5 --models code/configs/model/baseline.yaml

Writes bench/results/train_baselines.json and .md (one row per model, the machine and the date).
"""

import argparse
from pathlib import Path

from common import machine, train_row, publish
from slimnas.cli import run_cli
from slimnas.io import write_json

MODELS = ["code/configs/model/baseline.yaml", "code/configs/model/mobilenetv3_small_050.yaml"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=MODELS)
    p.add_argument("--data", default="code/configs/data/synthetic.yaml")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="bench/results")
    a = p.parse_args()
    rows = []
    for model in a.models:
        rows.append(train_row(model, a.data, Path(a.out) / "train_baselines" / Path(model).stem, a.epochs, a.seed))
        print(rows[-1], flush=True)
    meta = {**machine(), "data": a.data, "epochs": a.epochs, "seed": a.seed,
            "command": f"python bench/train_baselines.py --epochs {a.epochs}"}
    write_json(Path(a.out) / "train_baselines.json", {**meta, "rows": rows})
    lines = [f"Trained {a.epochs} epochs each on `{a.data}`, seed {a.seed}; {meta['machine']}; {meta['date']}.", "",
             "| model | val macro-F1 | MACs (aten) | params | train s |", "|---|---:|---:|---:|---:|"]
    lines += [f"| `{Path(r['model']).stem}` | {r['val_macro_f1']:.4f} | {r['macs'] / 1e6:.2f} M | "
              f"{r['params'] / 1e3:.0f} k | {r['train_seconds']:.0f} |" for r in rows]
    publish(Path(a.out) / "train_baselines.md", lines)


if __name__ == "__main__":
    run_cli(main)
