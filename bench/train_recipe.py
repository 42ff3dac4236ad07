#!/usr/bin/env python
"""The training recipe, one change at a time: batch size, learning rate, weight EMA, epochs, input size,
distillation, on the synthetic data; val macro-F1 picks the checkpoint, the test split scores it.

    python bench/train_recipe.py                 # every row below (~45 min on 2 cores)
    python bench/train_recipe.py --only small_lr6_ema small_lr6

Rows are (name, model, train settings, data overrides). ``small`` is a 4.1 M-MACs MobileNetV2-style model
at 96 px (``bench/models/small.yaml``), the size the F1 issue asks for; ``baseline`` the packaged 15.9 M one.
``last test`` scores the last epoch's checkpoint, ``test`` the one val chose (``select_tol`` as in train.py).
Writes bench/results/train_recipe.{json,md}; rows run earlier (same name and seed) are kept, so the table grows
with each ``--only`` run. ``--threads 1`` pins training to one thread, for two runs side by side on 2 cores.
"""

import argparse
import json
from pathlib import Path

from common import machine, publish
from slimnas.cli import run_cli
from slimnas.data.config import load_data_config
from slimnas.io import write_json
from slimnas.train import TrainConfig, train
from slimnas.train.evaluate import checkpoint_f1

SMALL = str(Path(__file__).parent / "models" / "small.yaml")
SEARCHED = str(Path(__file__).parent / "models" / "searched_t14.yaml")
TEACHER = "bench/results/train_recipe/baseline_lr6_e30/best.pt"
# The first rows were measured with the sampler and label smoothing the data YAML had then (P05).
P05 = {"sampler_power": 0.5, "label_smoothing": 0.1}
ROWS = [  # name, model, TrainConfig overrides, data overrides
    ("baseline_b64_lr3", "baseline", {"epochs": 12, "lr": 3e-3}, {"batch_size": 64, **P05}),
    ("baseline_b32_lr3", "baseline", {"epochs": 12, "lr": 3e-3}, {"batch_size": 32, **P05}),
    ("baseline_b32_lr6", "baseline", {"epochs": 12, "lr": 6e-3}, {"batch_size": 32, **P05}),
    ("small_lr3", SMALL, {"epochs": 30, "lr": 3e-3}, {"batch_size": 32, **P05}),
    ("small_lr3_ema", SMALL, {"epochs": 30, "lr": 3e-3, "ema_decay": 0.998}, {"batch_size": 32, **P05}),
    ("small_lr6", SMALL, {"epochs": 30, "lr": 6e-3}, {"batch_size": 32, **P05}),
    ("small_lr6_ema", SMALL, {"epochs": 30, "lr": 6e-3, "ema_decay": 0.998}, {"batch_size": 32, **P05}),
    ("small_lr10_ema", SMALL, {"epochs": 30, "lr": 1e-2, "ema_decay": 0.998}, {"batch_size": 32, **P05}),
    ("small_lr6_e20", SMALL, {"epochs": 20, "lr": 6e-3}, {"batch_size": 32, **P05}),
    ("small_lr6_80px", SMALL, {"epochs": 30, "lr": 6e-3}, {"batch_size": 32, "img_size": 80, **P05}),
    ("baseline_lr6_e30", "baseline", {"epochs": 30, "lr": 6e-3}, {"batch_size": 32, **P05}),
    ("small_lr6_ema_kd", SMALL, {"epochs": 30, "lr": 6e-3, "ema_decay": 0.998, "teacher": TEACHER}, {"batch_size": 32, **P05}),
    # the imbalance settings at batch 64, 20 epochs: sampler power (0.5: count**-0.5, 1.0: every label drawn equally
    # often), label smoothing, augmentation, and the learning rate on top of them
    ("small_e20_p05_ls01", SMALL, {"epochs": 20}, {"batch_size": 64, **P05}),
    ("small_e20_noaug", SMALL, {"epochs": 20}, {"batch_size": 64, **P05, "augment": []}),
    ("small_e20_strongaug", SMALL, {"epochs": 20}, {"batch_size": 64, **P05, "augment": [
        {"Affine": {"translate_percent": [-0.1, 0.1], "scale": [0.9, 1.1], "rotate": [-15, 15], "p": 0.8}},
        {"ColorJitter": {"brightness": 0.15, "contrast": 0.15, "saturation": 0.15, "hue": 0.0, "p": 0.5}}]}),
    ("small_e20_p1_ls01", SMALL, {"epochs": 20}, {"batch_size": 64, "sampler_power": 1.0, "label_smoothing": 0.1}),
    ("small_e20_p1_ls01_lr10", SMALL, {"epochs": 20, "lr": 1e-2}, {"batch_size": 64, "sampler_power": 1.0, "label_smoothing": 0.1}),
    ("small_e20_p1_ls0", SMALL, {"epochs": 20}, {"batch_size": 64, "sampler_power": 1.0, "label_smoothing": 0.0}),
    ("small_e20_p1_ls0_lr10", SMALL, {"epochs": 20, "lr": 1e-2}, {"batch_size": 64, "sampler_power": 1.0, "label_smoothing": 0.0}),
    ("small_e30_p1_ls0", SMALL, {"epochs": 30}, {"batch_size": 64, "sampler_power": 1.0, "label_smoothing": 0.0}),
    # today's data defaults (batch 32, power 1.0, no smoothing)
    ("small_e30", SMALL, {"epochs": 30}, {}),
    ("small_e20", SMALL, {"epochs": 20}, {}),
    ("baseline_e30", "baseline", {"epochs": 30}, {}),
    # the searched 2.52 M-MACs model for 300 s (as in bench/road_goal.py): weight decay, and MixUp + CutMix
    ("searched_300s", SEARCHED, {"epochs": 1000, "time_budget": 300, "lr": 0.0053}, {}),
    ("searched_300s_wd005", SEARCHED, {"epochs": 1000, "time_budget": 300, "lr": 0.0053, "weight_decay": 0.005}, {}),
    ("searched_300s_mix", SEARCHED, {"epochs": 1000, "time_budget": 300, "lr": 0.0053, "mixup": 0.2, "cutmix": 1.0}, {}),
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="+", default=None, help="run these rows only")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--threads", type=int, default=0, help="CPU threads per run (0: measured, as train.py)")
    p.add_argument("--out", default="bench/results")
    a = p.parse_args()
    out = Path(a.out)
    rows = []
    for name, model, settings, data_over in ROWS:
        if a.only and name not in a.only:
            continue
        for seed in a.seeds:
            data = load_data_config(None, **data_over)
            run = out / "train_recipe" / (name if seed == 0 else f"{name}_s{seed}")
            cfg = TrainConfig(progress=False, seed=seed, threads=a.threads, **settings)
            result = train(model, data, run, cfg, verbose=False)
            info = json.loads((run / "results.json").read_text())
            rows.append({"name": name, "seed": seed, "model": Path(model).stem, "img_size": info["data"]["img_size"],
                         "batch": data.batch_size, "sampler_power": data.sampler_power,
                         "label_smoothing": data.label_smoothing, "augment": len(data.augment),
                         "lr": cfg.lr, "weight_decay": cfg.weight_decay, "mix": bool(cfg.mixup or cfg.cutmix),
                         "epochs": result.epochs_run, "time_budget": cfg.time_budget, "ema_decay": cfg.ema_decay,
                         "teacher": cfg.teacher is not None, "macs": info["macs"], "val_f1": round(result.selected_f1, 4),
                         "epoch": result.selected_epoch, "test_f1": round(info["test_f1"], 4),
                         "last_test_f1": round(checkpoint_f1(run / "last.pt", data, "test"), 4),
                         "train_seconds": round(result.seconds)})
            print(rows[-1], flush=True)
    command = "python bench/train_recipe.py" + (f" --only {' '.join(a.only)}" if a.only else "") + \
        (f" --seeds {' '.join(map(str, a.seeds))}" if a.seeds != [0] else "")
    earlier = out / "train_recipe.json"  # read at the end, so two runs side by side keep each other's rows
    ran = {(r["name"], r["seed"]) for r in rows}
    rows = [r for r in (json.loads(earlier.read_text())["rows"] if earlier.is_file() else [])
            if (r["name"], r["seed"]) not in ran] + rows
    write_tables(out, rows, command)


def write_tables(out: Path, rows: list[dict], command: str) -> None:
    result = {**machine(), "command": command, "rows": rows}
    write_json(out / "train_recipe.json", result)
    lines = [f"Synthetic data, split seed 0; {result['machine']}; {result['date']}.", "",
             "| row | seed | model | px | batch | sampler power | smoothing | augment | lr | weight decay | mixup/cutmix | "
             "EMA | epochs | KD | MACs | val F1 (epoch) | test F1 | last-epoch test F1 | s |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['seed']} | {r['model']} | {r['img_size']} | {r['batch']} | "
                     f"{r.get('sampler_power', 0.5):g} | {r.get('label_smoothing', 0.1):g} | {r.get('augment', 2)} | {r['lr']:g} | "
                     f"{r.get('weight_decay', 0.05):g} | {'yes' if r.get('mix') else '–'} | "
                     f"{r.get('ema_decay', 0) or '–'} | {r['epochs']}{' in %g s' % r['time_budget'] if r.get('time_budget') else ''} | {'yes' if r['teacher'] else '–'} | "
                     f"{r['macs'] / 1e6:.2f} M | {r['val_f1']:.4f} ({r['epoch']}) | {r['test_f1']:.4f} | "
                     f"{r['last_test_f1']:.4f} | {r['train_seconds']} |")
    publish(out / "train_recipe.md", lines)


if __name__ == "__main__":
    run_cli(main)
