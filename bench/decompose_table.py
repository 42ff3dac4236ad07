#!/usr/bin/env python
"""Decompose a trained model to several MACs targets: MACs, params, macro-F1 before fine-tuning, ORT latency.

    python bench/train_baselines.py --models code/configs/model/baseline.yaml   # makes the default --weight
    python bench/decompose_table.py --targets 0.7 0.5 0.3

F1 is measured on the run's own validation split (its data.yaml); latency is ONNX Runtime CPU, batch 1,
batch 1 and 32, the original and every decomposed model timed interleaved in the same run.
Writes bench/results/decompose_table.{json,md}.
"""

import argparse
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from common import machine, publish
from slimnas.latency.measure import interleaved
from slimnas.cli import run_cli
from slimnas.data.config import build_data, load_data_config
from slimnas.decompose.run import decompose_checkpoint
from slimnas.errors import ConfigError
from slimnas.export import export_onnx
from slimnas.io import write_json
from slimnas.macs import count_macs
from slimnas.checkpoint import model_from_checkpoint
from slimnas.train.loop import predict
from slimnas.train.metrics import macro_f1


def val_f1(model, loader) -> float:
    _, y, p = predict(model, loader, torch.device("cpu"))
    return macro_f1(y, p)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weight", default="bench/results/train_baselines/baseline/best.pt")
    p.add_argument("--targets", type=float, nargs="+", default=[0.7, 0.5, 0.3])
    p.add_argument("--method", choices=["tucker", "cp"], default="tucker")
    p.add_argument("--out", default="bench/results")
    a = p.parse_args()
    weight = Path(a.weight)
    if not weight.is_file():
        raise ConfigError(f"{weight}: not found; make it with `python bench/train_baselines.py` first")
    out = Path(a.out) / "decompose_table"
    model, ckpt = model_from_checkpoint(weight)
    size = int(ckpt["preprocessing"]["input_size"])
    data = build_data(load_data_config(weight.parent / "data.yaml", img_size=size))
    _, val_loader = data.loaders()
    models = {"original": model}
    rows = [{"model": "original", "target": 1.0, "layers": 0}]
    for t in a.targets:
        r = decompose_checkpoint(weight, out / f"target{t:g}", target_macs=t, conv_method=a.method, verbose=False)
        models[f"target {t:g}"], _ = model_from_checkpoint(r.checkpoint)
        rows.append({"model": f"target {t:g}", "target": t, "layers": len(r.rows)})
    xs = {b: np.random.default_rng(0).normal(size=(b, 3, size, size)).astype(np.float32) for b in (1, 32)}
    runs = {}
    for row in rows:
        m = models[row["model"]]
        macs = count_macs(m, size)
        row.update(macs=macs.macs, params=macs.params, val_f1=round(val_f1(m, val_loader), 4))
        path = export_onnx(m, out / f"{row['model'].replace(' ', '_')}.onnx", size)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        for b, x in xs.items():
            runs[(row["model"], b)] = lambda s=session, x=x: s.run(None, {"input": x})
        print(row, flush=True)
    latency = {k: t.ms for k, t in interleaved(runs).items()}
    for row in rows:
        for b in xs:
            row[f"ort_ms_b{b}"] = round(latency[(row["model"], b)], 3)
            row[f"latency_ratio_b{b}"] = round(latency[(row["model"], b)] / latency[("original", b)], 3)
    meta = {**machine(), "weight": str(weight), "method": a.method, "input_size": size,
            "command": f"python bench/decompose_table.py --weight {weight} --targets {' '.join(f'{t:g}' for t in a.targets)}"}
    write_json(Path(a.out) / "decompose_table.json", {**meta, "rows": rows})
    lines = [f"`{weight}` decomposed ({a.method} for k×k, SVD for 1×1/linear, separable depthwise), no fine-tuning; "
             f"ORT CPU at {size}px, median, all models interleaved in one run; {meta['machine']}; {meta['date']}.", "",
             "| model | layers | MACs | params | val macro-F1 | ORT ms b1 | vs original | ORT ms b32 | vs original |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['layers']} | {r['macs'] / 1e6:.2f} M ({r['macs'] / rows[0]['macs']:.0%}) | "
              f"{r['params'] / 1e3:.0f} k | {r['val_f1']:.4f} | {r['ort_ms_b1']:.3f} | {r['latency_ratio_b1']:.2f}× | "
              f"{r['ort_ms_b32']:.2f} | {r['latency_ratio_b32']:.2f}× |" for r in rows]
    publish(Path(a.out) / "decompose_table.md", lines)


if __name__ == "__main__":
    run_cli(main)
