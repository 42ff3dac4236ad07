#!/usr/bin/env python
"""A trained model decomposed for measured latency and for MACs, fine-tuned with distillation, scored and timed.

    python bench/decompose_accuracy.py                      # vgg_small, 10 epochs, then 4 of fine-tuning
    python bench/decompose_accuracy.py --epochs 20 --ft-epochs 8
    python bench/decompose_accuracy.py --dev --model start --train-seconds 300 --rules macs --ft-seconds 150 \
        --ft-lr 1e-3 3e-3 --seeds 0 1 --name decompose_recipe_dev

Trains ``--model`` (default the shipped ``vgg_small.yaml``, 3×3 conv-BN-ReLU pairs; ``start``: the tiny space's
start point) on the synthetic default data, or takes ``--weight``; decomposes it with ``--target-latency T`` and with ``--target-macs T`` (ORT CPU,
1 thread), fine-tunes each with distillation from the trained model (``--ft-epochs``, or ``--ft-seconds``; once
per ``--ft-lr`` × ``--seeds``), then scores and times every model as it ships (``compare``: ONNX files, val and
labelled-test macro-F1, batch-1 latency interleaved in one run).

``--dev``: everything on the dev set with the report's test split sealed, for choosing the fine-tuning recipe
(several ``--ft-lr`` fine-tune the *same* decomposed model; the test column is then the dev test split).
Writes bench/results/<name>.{json,md} (``--name``, default decompose_accuracy).
"""

import argparse
import statistics
from pathlib import Path

from common import choose_on_dev, machine, publish, start_point
from slimnas.cli import run_cli
from slimnas.data.config import load_data_config
from slimnas.decompose.run import decompose_checkpoint
from slimnas.export.compare import compare
from slimnas.io import write_json
from slimnas.train import TrainConfig, train
from slimnas.train.finetune import FINETUNE_LR, finetune


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="vgg_small", help="model YAML to train; `start`: the tiny space's start point "
                                                        "with its own lr (the model the road most often ships)")
    p.add_argument("--weight", default=None, help="a trained checkpoint (default: train --model --epochs)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--train-seconds", type=float, default=None, help="train for this long instead of --epochs")
    p.add_argument("--ft-epochs", type=int, default=4)
    p.add_argument("--ft-seconds", type=float, default=None, help="fine-tune for this long instead of --ft-epochs")
    p.add_argument("--ft-lr", type=float, nargs="+", default=[FINETUNE_LR])
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="fine-tuning seeds (batch order, augmentation)")
    p.add_argument("--target", type=float, default=0.5)
    p.add_argument("--rules", nargs="+", choices=["latency", "macs"], default=["latency", "macs"])
    p.add_argument("--dev", action="store_true", help="train, decompose, fine-tune and score on the dev set, test sealed")
    p.add_argument("--out", default="bench/results")
    p.add_argument("--name", default="decompose_accuracy")
    a = p.parse_args()
    work = Path(a.out) / a.name
    data = choose_on_dev() if a.dev else load_data_config(None)
    if a.weight:
        weight = Path(a.weight)
    else:
        model, hp = start_point("tiny") if a.model == "start" else (a.model, {})
        length = {"epochs": 400, "time_budget": a.train_seconds} if a.train_seconds else {"epochs": a.epochs}
        weight = train(model, data, work / "train", TrainConfig(progress=False, **length, **hp), verbose=False).out / "best.pt"
    models, rules = {"trained": weight}, {}
    ft_length = {"epochs": 400, "time_budget": a.ft_seconds} if a.ft_seconds else {"epochs": a.ft_epochs}
    for rule in a.rules:
        r = decompose_checkpoint(weight, work / f"decompose_{rule}", verbose=False, **{f"target_{rule}": a.target})
        rules[rule] = {"layers": len(r.rows), "macs_fraction": round(r.macs_after / r.macs_before, 4),
                       "ms_fraction_at_decompose": round(r.ms_after / r.ms_before, 4)}
        for lr in a.ft_lr:
            for seed in a.seeds:
                ft = finetune(r.checkpoint, work / f"finetune_{rule}_lr{lr:g}_s{seed}", data,
                              TrainConfig(lr=lr, warmup_epochs=0, seed=seed, progress=False, **ft_length),
                              teacher=weight, verbose=False)
                rules[rule].setdefault("f1_before_ft", round(ft["f1_before"], 4))
                models[f"--target-{rule} {a.target:g}, lr {lr:g}, fine-tuned seed {seed}"] = ft["checkpoint"]
        print(rule, rules[rule], flush=True)
    rows = compare(models, data, work / "onnx")
    base = rows[0]
    for r in rows:
        r["speedup_b1"] = round(base["ms_b1"] / r["ms_b1"], 3)
        r["macs_fraction"] = round(r["macs"] / base["macs"], 4)
    summary = []
    for rule in a.rules:
        for lr in a.ft_lr:
            tuned = [r for r in rows if r["model"].startswith(f"--target-{rule} {a.target:g}, lr {lr:g},")]
            test = [r["test_f1"] for r in tuned]
            summary.append({"rule": rule, "ft_lr": lr, "test_f1_mean": round(statistics.mean(test), 4),
                            "test_f1_sd": round(statistics.stdev(test), 4) if len(test) > 1 else 0.0,
                            "test_f1_change_pt": round(100 * (statistics.mean(test) - base["test_f1"]), 2),
                            "speedup_b1": round(statistics.median(r["speedup_b1"] for r in tuned), 3)})
    ft_text = f"--ft-seconds {a.ft_seconds:g}" if a.ft_seconds else f"--ft-epochs {a.ft_epochs}"
    trained_for = f"--train-seconds {a.train_seconds:g}" if a.train_seconds else f"--epochs {a.epochs}"
    meta = {**machine(), "model": a.model if not a.weight else str(weight), "trained": None if a.weight else trained_for,
            "ft": ft_text, "dev": a.dev, "rules": rules, "summary": summary,
            "command": f"python bench/decompose_accuracy.py {f'--weight {weight}' if a.weight else f'--model {a.model} {trained_for}'} "
                       f"{ft_text} --ft-lr {' '.join(f'{v:g}' for v in a.ft_lr)} --seeds {' '.join(map(str, a.seeds))} "
                       f"--target {a.target:g} --rules {' '.join(a.rules)}" + " --dev" * a.dev}
    write_json(Path(a.out) / f"{a.name}.json", {**meta, "rows": rows})
    trained = f"`{weight}`" if a.weight else f"`{a.model}` trained ({trained_for})"
    lines = [f"{trained} on the synthetic default data{' drawn as the dev set (test column: dev test)' if a.dev else ''}; "
             f"decomposed, fine-tuned ({ft_text}) with distillation; every model exported to ONNX and timed on ORT "
             f"CPU 1 thread, batch 1, interleaved in one run; {meta['machine']}; {meta['date']}.", "",
             "| model | val macro-F1 | test macro-F1 | MACs | ORT ms b1 | speed-up |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['val_f1']:.4f} | {r['test_f1']:.4f} | {r['macs'] / 1e6:.1f} M ({r['macs_fraction']:.0%}) | "
              f"{r['ms_b1']:.3f} | {r['speedup_b1']:.2f}× |" for r in rows]
    lines += ["", "| rule | fine-tune lr | test macro-F1 (mean ± sd over seeds) | change | speed-up b1 |",
              "|---|---:|---:|---:|---:|"]
    lines += [f"| {s['rule']} | {s['ft_lr']:g} | {s['test_f1_mean']:.4f} ± {s['test_f1_sd']:.4f} | "
              f"{s['test_f1_change_pt']:+.2f} pt | {s['speedup_b1']:.2f}× |" for s in summary]
    publish(Path(a.out) / f"{a.name}.md", lines)


if __name__ == "__main__":
    run_cli(main)
