#!/usr/bin/env python
"""A trained k×k-heavy model decomposed for measured latency and for MACs, fine-tuned, scored and timed.

    python bench/decompose_accuracy.py                      # vgg_small, 10 epochs, then 4 of fine-tuning
    python bench/decompose_accuracy.py --epochs 20 --ft-epochs 8

Trains the shipped ``vgg_small.yaml`` (3×3 conv-BN-ReLU pairs) on the synthetic default data, decomposes
it with ``--target-latency 0.5`` and with ``--target-macs 0.5`` (ORT CPU, 1 thread), fine-tunes each with
distillation from the trained model, then scores and times every model as it ships (``compare``: ONNX
files, val and labelled-test macro-F1, batch-1 latency interleaved in one run).
Writes bench/results/decompose_accuracy.{json,md}.
"""

import argparse
from pathlib import Path

from common import machine, publish
from slimnas.cli import run_cli
from slimnas.data.config import load_data_config
from slimnas.decompose.run import decompose_checkpoint
from slimnas.export.compare import compare
from slimnas.io import write_json
from slimnas.train import TrainConfig, train
from slimnas.train.finetune import finetune


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="vgg_small")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--ft-epochs", type=int, default=4)
    p.add_argument("--target", type=float, default=0.5)
    p.add_argument("--out", default="bench/results")
    a = p.parse_args()
    work = Path(a.out) / "decompose_accuracy"
    data = load_data_config(None)
    trained = train(a.model, data, work / "train", TrainConfig(epochs=a.epochs, progress=False), verbose=False)
    weight = trained.out / "best.pt"
    models = {"trained": weight}
    rules = {}
    for rule, kw in (("latency", {"target_latency": a.target}), ("macs", {"target_macs": a.target})):
        r = decompose_checkpoint(weight, work / f"decompose_{rule}", verbose=False, **kw)
        ft = finetune(r.checkpoint, work / f"finetune_{rule}", data, TrainConfig(epochs=a.ft_epochs, lr=1e-3, warmup_epochs=0,
                                                                                 progress=False),
                      teacher=weight, verbose=False)
        rules[rule] = {"layers": len(r.rows), "macs_fraction": round(r.macs_after / r.macs_before, 4),
                       "ms_fraction_at_decompose": round(r.ms_after / r.ms_before, 4), "f1_before_ft": round(ft["f1_before"], 4)}
        models[f"--target-{rule} {a.target:g}, fine-tuned"] = ft["checkpoint"]
        print(rule, rules[rule], flush=True)
    rows = compare(models, data, work / "onnx")
    base = rows[0]
    for r in rows:
        r["speedup_b1"] = round(base["ms_b1"] / r["ms_b1"], 3)
        r["macs_fraction"] = round(r["macs"] / base["macs"], 4)
    meta = {**machine(), "model": a.model, "epochs": a.epochs, "ft_epochs": a.ft_epochs, "rules": rules,
            "command": f"python bench/decompose_accuracy.py --epochs {a.epochs} --ft-epochs {a.ft_epochs}"}
    write_json(Path(a.out) / "decompose_accuracy.json", {**meta, "rows": rows})
    lines = [f"`{a.model}` trained {a.epochs} epochs on the synthetic default data; decomposed, fine-tuned {a.ft_epochs} "
             f"epochs with distillation; every model exported to ONNX and timed on ORT CPU 1 thread, batch 1, "
             f"interleaved in one run; {meta['machine']}; {meta['date']}.", "",
             "| model | val macro-F1 | test macro-F1 | MACs | ORT ms b1 | speed-up |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['val_f1']:.4f} | {r['test_f1']:.4f} | {r['macs'] / 1e6:.1f} M ({r['macs_fraction']:.0%}) | "
              f"{r['ms_b1']:.3f} | {r['speedup_b1']:.2f}× |" for r in rows]
    publish(Path(a.out) / "decompose_accuracy.md", lines)


if __name__ == "__main__":
    run_cli(main)
