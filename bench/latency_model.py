#!/usr/bin/env python
"""How well the latency table predicts whole-model latency, on random models of a search space.

    python bench/latency_model.py                    # 30 models, ORT CPU, 1 thread, batch 1
    python bench/latency_model.py --n-models 40 --threads 2 --space tiny     # -> latency_model_tiny_t2

A fresh table is calibrated on 10 random models of the space (another seed), then each of the
``--n-models`` evaluated models is sampled at random (Optuna's RandomSampler), its latency predicted from
the table (blocks timed alone), exported as it ships (the dynamo exporter of ``export_onnx``) and timed
alone, warm, as deployed (timing 30 models interleaved would measure them with cold caches), ``--repeats``
times on fresh sessions (measured: the median).
Reports the share of predictions within ±10 %, the mean absolute % error and Kendall's τ of the ranking,
calibrated and raw, and the same τ for MACs (how well MACs alone would rank the models' speed) — and, as the
ceiling any prediction is judged against, the same figures for the file's first timing predicting its second:
on a noisy machine no model of timing can agree with a timing more often than a timing agrees with itself.
Writes bench/results/latency_model.json and .md (the default space at 1 thread, batch 1), else
latency_model_<space>_t<threads>[_b<batch>].json and .md.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau

from common import machine
from slimnas.cli import run_cli
from slimnas.export.onnx import export_onnx
from slimnas.io import write_json, write_text
from slimnas.latency.measure import DeployTarget, onnx_latencies
from slimnas.latency.table import LatencyTable
from slimnas.macs import count_macs
from slimnas.model import build_model
from slimnas.search import load_search_space


def random_models(space, n: int, seed: int):
    """``n`` models (eval mode, 88 classes) with their input sizes, sampled at random from ``space``."""
    return [(build_model(cfg, num_classes=88).eval(), cfg.input_size) for cfg in space.random_configs(n, seed)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-models", type=int, default=30)
    p.add_argument("--space", default="default")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=3, help="timings of each file, on fresh sessions (>= 2)")
    p.add_argument("--out", default="bench/results")
    a = p.parse_args()
    runtime = DeployTarget(a.threads, a.batch)
    space = load_search_space(a.space)
    with tempfile.TemporaryDirectory() as tmp:
        table = LatencyTable(runtime, Path(tmp) / "table.json")  # a cold table: every block measured in this run
        t0 = time.perf_counter()
        fit = table.calibrate(random_models(space, 10, a.seed + 1000))
        calibrate_s = time.perf_counter() - t0
        print(f"calibrated in {calibrate_s:.0f} s: {fit}", flush=True)
        rows = []
        for i, (model, size) in enumerate(random_models(space, a.n_models, a.seed)):
            p = table.predict(model, size)
            onnx = export_onnx(model, Path(tmp) / f"m{i}.onnx", size)
            timings = [onnx_latencies({"m": onnx}, size, runtime)["m"].ms for _ in range(max(2, a.repeats))]
            measured = float(np.median(timings))
            rows.append({"model": i, "input_size": size, "macs": count_macs(model, size).macs,
                         "predicted_ms": round(p["ms"], 5), "raw_ms": round(p["raw"], 5),
                         "measured_ms": round(measured, 5), "timings_ms": [round(t, 5) for t in timings],
                         "error": round(p["ms"] / measured - 1, 4), "raw_error": round(p["raw"] / measured - 1, 4),
                         "first_ms": round(timings[0], 5), "second_ms": round(timings[1], 5),
                         "repeat_error": round(timings[0] / timings[1] - 1, 4)})
            print(f"model {i}: {size}px {rows[-1]['macs'] / 1e6:.2f} M MACs, predicted {p['ms']:.4f} ms, "
                  f"measured {measured:.4f} ms", flush=True)
        total_s = time.perf_counter() - t0
    meas, macs = [r["measured_ms"] for r in rows], [r["macs"] for r in rows]

    def figures(pred_key: str, err_key: str, against: str = "measured_ms") -> dict:
        err = np.array([r[err_key] for r in rows])
        return {"within_10pct": round(float(np.mean(np.abs(err) <= 0.10)), 3), "mape": round(float(np.mean(np.abs(err))), 4),
                "kendall_tau": round(float(kendalltau([r[pred_key] for r in rows], [r[against] for r in rows])[0]), 3)}

    summary = {"models": len(rows), **figures("predicted_ms", "error"), "raw": figures("raw_ms", "raw_error"),
               "repeat": figures("first_ms", "repeat_error", against="second_ms"),
               "kendall_tau_macs": round(float(kendalltau(macs, meas)[0]), 3), "calibration": fit,
               "blocks_timed": len([k for k in table.entries if not k.startswith("__")]),
               "calibrate_seconds": round(calibrate_s, 1), "total_seconds": round(total_s, 1)}
    meta = {**machine(), "runtime": runtime.describe(), "space": a.space, "seed": a.seed,
            "command": f"python bench/latency_model.py --n-models {a.n_models} --space {a.space} --threads {a.threads} "
                       f"--batch {a.batch} --repeats {a.repeats}"}
    name = "latency_model" + ("" if (a.space, a.threads, a.batch) == ("default", 1, 1) else
                              f"_{a.space}_t{a.threads}" + (f"_b{a.batch}" if a.batch != 1 else ""))
    write_json(Path(a.out) / f"{name}.json", {**meta, **summary, "rows": rows})
    raw, rep = summary["raw"], summary["repeat"]
    lines = [f"{len(rows)} random models of the `{a.space}` space on {runtime.describe()}; predicted = the latency "
             f"table ({summary['blocks_timed']} pieces and pairs of pieces timed; calibrated on 10 other random models in "
             f"{calibrate_s:.0f} s; {total_s:.0f} s in all), measured = each shipped ONNX file timed alone, warm (median "
             f"of {max(2, a.repeats)} timings on fresh sessions); "
             f"{meta['machine']}; {meta['date']}.", "",
             "| prediction | within ±10 % | mean abs. error | Kendall τ |", "|---|---:|---:|---:|",
             f"| latency table, calibrated | {summary['within_10pct']:.0%} | {summary['mape']:.1%} | {summary['kendall_tau']:.3f} |",
             f"| latency table, raw sum | {raw['within_10pct']:.0%} | {raw['mape']:.1%} | {raw['kendall_tau']:.3f} |",
             f"| MACs (ranking only) | – | – | {summary['kendall_tau_macs']:.3f} |",
             f"| the ceiling: a file's first timing predicting its second | {rep['within_10pct']:.0%} | {rep['mape']:.1%} | "
             f"{rep['kendall_tau']:.3f} |", "",
             "| model | px | MACs | predicted ms | raw ms | measured ms | error |", "|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['input_size']} | {r['macs'] / 1e6:.2f} M | {r['predicted_ms']:.4f} | {r['raw_ms']:.4f} | "
              f"{r['measured_ms']:.4f} | {r['error']:+.1%} |" for r in rows]
    write_text(Path(a.out) / f"{name}.md", "\n".join(lines) + "\n")
    print("\n".join(lines[:8]))


if __name__ == "__main__":
    run_cli(main)
