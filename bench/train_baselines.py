#!/usr/bin/env python
"""Train several model YAMLs with the same data, epochs and seed; tabulate macro-F1 against MACs.

    python bench/train_baselines.py                       # baseline vs timm mobilenetv3_small_050, 30 epochs
    python bench/train_baselines.py --epochs 5 --models code/configs/model/baseline.yaml

Writes bench/results/train_baselines.json and .md (one row per model, the machine and the date).
"""

import argparse
import datetime
import json
import platform
from pathlib import Path

import torch

from slimnas.cli import run_cli
from slimnas.io import write_json, write_text
from slimnas.train import TrainConfig, train

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
        run = Path(a.out) / "train_baselines" / Path(model).stem
        result = train(model, a.data, run, TrainConfig(epochs=a.epochs, seed=a.seed, progress=False), verbose=False)
        info = json.loads((run / "results.json").read_text())
        rows.append({"model": model, "val_macro_f1": round(result.best_f1, 4), "best_epoch": result.best_epoch,
                     "macs": info["macs"], "params": info["params"], "train_seconds": round(result.seconds, 1)})
        print(rows[-1], flush=True)
    meta = {"date": datetime.date.today().isoformat(), "machine": f"{platform.processor() or platform.machine()}, "
            f"{torch.get_num_threads()} threads, torch {torch.__version__}", "data": a.data, "epochs": a.epochs,
            "seed": a.seed, "command": f"python bench/train_baselines.py --epochs {a.epochs}"}
    write_json(Path(a.out) / "train_baselines.json", {**meta, "rows": rows})
    lines = [f"Trained {a.epochs} epochs each on `{a.data}`, seed {a.seed}; {meta['machine']}; {meta['date']}.", "",
             "| model | val macro-F1 | MACs (aten) | params | train s |", "|---|---:|---:|---:|---:|"]
    lines += [f"| `{Path(r['model']).stem}` | {r['val_macro_f1']:.4f} | {r['macs'] / 1e6:.2f} M | "
              f"{r['params'] / 1e3:.0f} k | {r['train_seconds']:.0f} |" for r in rows]
    write_text(Path(a.out) / "train_baselines.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    run_cli(main)
