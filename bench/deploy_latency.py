#!/usr/bin/env python
"""Torch eager vs ONNX Runtime FP32 vs INT8 on the shipped model: latency, throughput, macro-F1.

    python bench/decompose_table.py                      # makes the default decomposed checkpoint
    python bench/deploy_latency.py                       # fine-tunes it (10 epochs, distilled), then measures

One run, same images: median latency at batch 1 and 32 for each engine (interleaved), macro-F1 on the
validation split, and batch-32 throughput as a fraction of this machine's dense float32 matmul MAC/s
(torch, 1024³, measured in the same run). Writes bench/results/deploy_latency.{json,md}.
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from common import machine, publish
from slimnas.latency.measure import interleaved
from slimnas.cli import run_cli
from slimnas.data.config import load_data_config
from slimnas.export.check import onnx_f1, session
from slimnas.export.pipeline import export_checkpoint
from slimnas.io import write_json
from slimnas.train import TrainConfig
from slimnas.checkpoint import compressed_from, load_checkpoint, model_from_checkpoint
from slimnas.train.evaluate import build_data_for, split_f1
from slimnas.train.finetune import finetune


def matmul_macs_per_s(n: int = 1024, reps: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.matmul(a, b)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.matmul(a, b)
        times.append(time.perf_counter() - t0)
    return n ** 3 / float(np.median(times))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weight", default=None, help="a fine-tuned checkpoint (default: fine-tune --decomposed first)")
    p.add_argument("--decomposed", default="bench/results/decompose_table/target0.5/decomposed.pt")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--data", default=None)
    p.add_argument("--out", default="bench/results")
    a = p.parse_args()
    out = Path(a.out) / "deploy_latency"
    data_cfg = load_data_config(a.data)
    ft = None
    if a.weight is None:
        r = finetune(a.decomposed, out / "finetune", data_cfg, TrainConfig(epochs=a.epochs, lr=1e-3, warmup_epochs=0,
                                                                           progress=False),
                     teacher=compressed_from(load_checkpoint(a.decomposed)), verbose=False)
        ft = {"f1_before": round(r["f1_before"], 4), "f1_after": round(r["f1_after"], 4), "epochs": a.epochs}
        print("fine-tuned:", ft, flush=True)
        weight = r["checkpoint"]
    else:
        weight = Path(a.weight)
    bundle = build_data_for(weight, data_cfg)
    report = export_checkpoint(weight, out, bundle, int8=True, verbose=True)
    model, ckpt = model_from_checkpoint(weight)
    size = int(ckpt["preprocessing"]["input_size"])
    fp32 = session(out / "model.onnx")
    int8_path = out / "model.int8.onnx"
    if not int8_path.exists():  # dropped by the keep rule; quantise again so it can still be measured
        from slimnas.export.pipeline import calibration_loader
        from slimnas.export.quantize import quantize_int8

        quantize_int8(out / "model.onnx", int8_path, calibration_loader(bundle))
    int8 = session(int8_path)
    rng = np.random.default_rng(0)
    xs = {b: rng.normal(size=(b, 3, size, size)).astype(np.float32) for b in (1, 32)}
    fns = {}
    for b, x in xs.items():
        xt = torch.from_numpy(x)

        def eager(xt=xt):
            with torch.inference_mode():
                model(xt)

        fns[f"torch eager b{b}"] = eager
        fns[f"ORT FP32 b{b}"] = lambda x=x: fp32.run(None, {"input": x})
        fns[f"ORT INT8 b{b}"] = lambda x=x: int8.run(None, {"input": x})
    lat = {k: t.ms for k, t in interleaved(fns).items()}
    peak = matmul_macs_per_s()
    macs = report["macs"]
    f1 = {"torch eager": round(split_f1(model, bundle, "val", torch.device("cpu")), 4),
          "ORT FP32": round(report["f1_fp32"], 4), "ORT INT8": round(onnx_f1(int8_path, bundle.loaders()[1]), 4)}
    rows = []
    for engine in ("torch eager", "ORT FP32", "ORT INT8"):
        b1, b32 = lat[f"{engine} b1"], lat[f"{engine} b32"]
        rows.append({"engine": engine, "ms_b1": round(b1, 3), "ms_b32": round(b32, 3), "val_f1": f1[engine],
                     "throughput_macs_per_s": macs * 32 / (b32 / 1e3),
                     "fraction_of_matmul": round(macs * 32 / (b32 / 1e3) / peak, 4)})
    eager_b1 = rows[0]["ms_b1"]
    goals = {"ort_fp32_b1_vs_eager": round(rows[1]["ms_b1"] / eager_b1, 3),
             "ort_fp32_b1_goal_met": rows[1]["ms_b1"] <= 0.25 * eager_b1,
             "best_b32_fraction_of_matmul": max(r["fraction_of_matmul"] for r in rows[1:]),
             "throughput_goal_met": max(r["fraction_of_matmul"] for r in rows[1:]) >= 0.25}
    result = {**machine(), "command": f"python bench/deploy_latency.py --epochs {a.epochs}", "weight": str(weight), "input_size": size,
              "macs": macs, "params": report["params"], "onnx_bytes": report["bytes"], "finetune": ft,
              "parity": report["parity"], "int8_decision": report.get("int8_reason"), "matmul_macs_per_s": peak,
              "rows": rows, "goals": goals}
    write_json(Path(a.out) / "deploy_latency.json", result)
    lines = [f"Shipped model `{weight}` ({macs / 1e6:.2f} M MACs, {report['params'] / 1e3:.0f} k params, "
             f"{report['bytes'] / 1e3:.0f} kB ONNX, {size}px); {result['machine']}; {result['date']}.",
             (f"Fine-tuned {ft['epochs']} epochs with distillation: val macro-F1 {ft['f1_before']:.4f} -> "
              f"{ft['f1_after']:.4f}." if ft else ""),
             f"Dense float32 matmul (torch, 1024³): {peak / 1e9:.1f} GMAC/s. INT8 decision: {report.get('int8_reason')}.",
             "", "| engine | batch 1 ms | batch 32 ms | val macro-F1 | batch-32 MAC/s | of matmul MAC/s |",
             "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['engine']} | {r['ms_b1']:.3f} | {r['ms_b32']:.2f} | {r['val_f1']:.4f} | "
              f"{r['throughput_macs_per_s'] / 1e9:.2f} G | {r['fraction_of_matmul']:.1%} |" for r in rows]
    lines += ["", f"ORT FP32 batch 1 = {goals['ort_fp32_b1_vs_eager']:.2f}× eager (goal <= 0.25: "
                  f"{'met' if goals['ort_fp32_b1_goal_met'] else 'not met'}); best batch-32 throughput "
                  f"{goals['best_b32_fraction_of_matmul']:.1%} of matmul (goal >= 25 %: "
                  f"{'met' if goals['throughput_goal_met'] else 'not met'})."]
    publish(Path(a.out) / "deploy_latency.md", lines)


if __name__ == "__main__":
    run_cli(main)
