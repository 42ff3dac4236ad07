#!/usr/bin/env python
"""How well the latency table predicts whole-model latency, on random models of the default search space.

    python bench/latency_model.py                    # 30 models, ORT CPU, 1 thread, batch 1
    python bench/latency_model.py --n-models 40 --threads 2

Each model is sampled at random from the default space (Optuna's RandomSampler), its latency predicted
from the table (blocks timed alone, cached in a fresh table for this run), then every model is exported
as it ships (the dynamo exporter of ``export_onnx``) and all of them are timed interleaved in one loop.
Reports the share of predictions within ±10 %, the mean absolute % error and Kendall's τ of the ranking,
and the same τ for MACs (how well MACs alone would rank the models' speed).
Writes bench/results/latency_model.json and .md.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
from scipy.stats import kendalltau

from common import machine
from slimnas.cli import run_cli
from slimnas.export.onnx import export_onnx
from slimnas.io import write_json, write_text
from slimnas.latency.measure import Runtime, onnx_latencies
from slimnas.latency.table import LatencyTable
from slimnas.macs import count_macs
from slimnas.model import build_model
from slimnas.search import load_search_space


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-models", type=int, default=30)
    p.add_argument("--space", default="default")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="bench/results")
    a = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    runtime = Runtime(a.threads, a.batch)
    space = load_search_space(a.space)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=a.seed))
    with tempfile.TemporaryDirectory() as tmp:
        table = LatencyTable(runtime, Path(tmp) / "table.json")  # a cold table: every block measured in this run
        rows, paths, sizes = [], {}, {}
        t0 = time.perf_counter()
        for i in range(a.n_models):
            cfg, _ = space.sample(study.ask())
            model = build_model(cfg, num_classes=88).eval()
            size = cfg.input_size
            predicted = table.predict(model, size)["ms"]
            paths[i], sizes[i] = export_onnx(model, Path(tmp) / f"m{i}.onnx", size), size
            rows.append({"model": i, "input_size": size, "macs": count_macs(model, size).macs,
                         "predicted_ms": round(predicted, 5)})
            print(f"model {i}: {size}px {rows[-1]['macs'] / 1e6:.2f} M MACs, predicted {predicted:.4f} ms", flush=True)
        table_s = time.perf_counter() - t0
        measured = onnx_latencies(paths, sizes, runtime, max_rounds=60)
    for r in rows:
        t = measured[r["model"]]
        r.update(measured_ms=round(t.ms, 5), spread=round(t.spread, 4),
                 error=round(r["predicted_ms"] / t.ms - 1, 4))
    err = np.array([r["error"] for r in rows])
    pred, meas, macs = ([r[k] for r in rows] for k in ("predicted_ms", "measured_ms", "macs"))
    summary = {"models": len(rows), "within_10pct": round(float(np.mean(np.abs(err) <= 0.10)), 3),
               "mape": round(float(np.mean(np.abs(err))), 4), "kendall_tau": round(float(kendalltau(pred, meas)[0]), 3),
               "kendall_tau_macs": round(float(kendalltau(macs, meas)[0]), 3),
               "blocks_timed": len(table.entries) - 1, "table_seconds": round(table_s, 1)}
    meta = {**machine(), "runtime": runtime.describe(), "space": a.space, "seed": a.seed,
            "command": f"python bench/latency_model.py --n-models {a.n_models} --threads {a.threads} --batch {a.batch}"}
    write_json(Path(a.out) / "latency_model.json", {**meta, **summary, "rows": rows})
    lines = [f"{len(rows)} random models of the `{a.space}` space on {runtime.describe()}; predicted = the latency "
             f"table (each block timed alone, {summary['blocks_timed']} blocks, {table_s:.0f} s including the "
             f"exports), measured = the shipped ONNX files, all interleaved in one run; {meta['machine']}; {meta['date']}.", "",
             "| within ±10 % | mean abs. error | Kendall τ (predicted) | Kendall τ (MACs) |", "|---:|---:|---:|---:|",
             f"| {summary['within_10pct']:.0%} | {summary['mape']:.1%} | {summary['kendall_tau']:.3f} | "
             f"{summary['kendall_tau_macs']:.3f} |", "",
             "| model | px | MACs | predicted ms | measured ms | error |", "|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['input_size']} | {r['macs'] / 1e6:.2f} M | {r['predicted_ms']:.4f} | "
              f"{r['measured_ms']:.4f} | {r['error']:+.1%} |" for r in rows]
    write_text(Path(a.out) / "latency_model.md", "\n".join(lines) + "\n")
    print("\n".join(lines[:6]))


if __name__ == "__main__":
    run_cli(main)
