#!/usr/bin/env python
"""How well the latency table predicts whole-model latency, on random models of a search space.

    python bench/latency_model.py                    # 30 models, ORT CPU, 1 thread, batch 1
    python bench/latency_model.py --n-models 40 --threads 2 --space tiny     # -> latency_model_tiny_t2
    python bench/latency_model.py --candidates --space tiny   # the compression step's candidates -> latency_model_candidates_tiny_t1

A fresh table is calibrated on 10 random models of the space (another seed), then each of the
``--n-models`` evaluated models is sampled at random (Optuna's RandomSampler), its latency predicted from
the table (blocks timed beside the yardstick, in its unit: ``slimnas.latency.table``), exported as it ships (the
dynamo exporter of ``export_onnx``) and timed warm, as deployed, beside the same yardstick, in ``--repeats``
passes over all the models (a file's timings minutes apart; measured: the median), on fresh sessions (timing 30
models interleaved would measure them with cold caches). With ``--candidates`` the evaluated models are instead the
ones the compression step compares, made from the space's start point (:func:`compression_candidates`), and each
candidate's speed-up over the start point is predicted too: what the step decides on.
Reports the share of predictions within ±10 %, the mean absolute % error and Kendall's τ of the ranking, for
the table's sum (as ``latency profile`` and the decomposition price) and calibrated (a least-squares fit on 10 other
random models of the space, as a search with a latency objective or budget fits one on 8), and the same τ for MACs
(how well MACs alone would rank the models' speed) — and, as the ceiling any prediction is judged against, the same
figures for the file's first timing predicting its second: on a noisy machine no model of timing can agree with a
timing more often than a timing agrees with itself. The same against the files' plain ms (not divided by the
yardstick's), with their ceiling, say what the yardstick buys.
Writes bench/results/latency_model.json and .md (the default space at 1 thread, batch 1), else
latency_model[_candidates]_<space>_t<threads>[_b<batch>].json and .md.
"""

import argparse
import copy
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from scipy.stats import kendalltau

from common import machine, start_point
from slimnas.cli import run_cli
from slimnas.decompose.model import auto_rank_cfg
from slimnas.export.onnx import export_onnx
from slimnas.factorized import apply_decomposition
from slimnas.io import write_json, write_text
from slimnas.latency.measure import DeployTarget
from slimnas.latency.table import LatencyTable
from slimnas.macs import count_macs
from slimnas.model import build_model
from slimnas.prune.model import prune_channels, widen_depthwise
from slimnas.prune.widths import Macs, choose_widths
from slimnas.search import load_search_space


def random_models(space, n: int, seed: int):
    """``n`` models (eval mode, 88 classes) with their input sizes, sampled at random from ``space``."""
    return [(build_model(cfg, num_classes=88).eval(), cfg.input_size) for cfg in space.random_configs(n, seed)]


def compression_candidates(space: str, seed: int) -> list[tuple[str, nn.Module, int]]:
    """(name, model, input size) of the models the compression step compares (``demo`` step 3), made from the space's
    start point (what the road most often ships; random weights, seeded: timing does not depend on them): the model
    itself; its exact depthwise rewrite; each way (rewritten or not) pruned uniformly and, as the latency knapsack
    does, to per-group widths (here a MACs knapsack's, so no timing chooses them) at multiples of 8 and of any size;
    decomposed (Tucker-2 / SVD ranks for a MACs fraction); and pruned, then decomposed."""
    torch.manual_seed(seed)
    start, _ = start_point(space)
    source, size = build_model(start, num_classes=88).eval(), start.input_size
    macs = count_macs(source, size).macs
    out = [("start point", source, size)]
    ways = {"": source}
    widened = copy.deepcopy(source)
    if widen_depthwise(widened):
        ways["rewritten, "] = widened
        out.append(("rewritten", widened, size))
    for way, m in ways.items():
        for ratio in (0.2, 0.3, 0.4, 0.5):
            for step in (8, 1):
                out.append((f"{way}pruned {ratio:g}, ×{step}", prune_channels(copy.deepcopy(m), size, ratio, 88,
                                                                            round_to=step if step > 1 else None), size))
        meter = Macs(size, "pytorch", macs)
        for target in (0.5, 0.7):
            _, pruned, _ = choose_widths(copy.deepcopy(m), size, 88, "magnitude", meter, target, 8, meter.kept({0: m})[0][0])
            out.append((f"{way}knapsack MACs {target:g}", pruned, size))
    for target in (0.5, 0.7):
        out.append((f"decomposed MACs {target:g}", decomposed(source, size, target), size))
    out.append(("pruned 0.3, ×8, decomposed MACs 0.7",
                decomposed(prune_channels(copy.deepcopy(source), size, 0.3, 88), size, 0.7), size))
    return out


def decomposed(model: nn.Module, size: int, target: float) -> nn.Module:
    """``model`` factorised (untrained shells: timing does not depend on the weights) at the ranks chosen for
    ``target`` of its MACs."""
    with warnings.catch_warnings():  # "expect a large accuracy drop": these shells are only timed
        warnings.simplefilter("ignore")
        cfg = auto_rank_cfg(model, size, "target", target, total_macs=count_macs(model, size).macs)
    return apply_decomposition(copy.deepcopy(model), cfg).eval()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-models", type=int, default=30)
    p.add_argument("--space", default="default")
    p.add_argument("--candidates", action="store_true",
                   help="time the compression step's candidates of the space's start point, not random models")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=5, help="timings of each file, in passes over all the models (>= 2)")
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
        named = compression_candidates(a.space, a.seed) if a.candidates else \
            [(i, m, size) for i, (m, size) in enumerate(random_models(space, a.n_models, a.seed))]
        models, files = [(m, size) for _, m, size in named], []
        timings, plain = [[] for _ in models], [[] for _ in models]
        for i, (model, size) in enumerate(models):
            files.append(export_onnx(model, Path(tmp) / f"m{i}.onnx", size))
        for _ in range(max(2, a.repeats)):  # passes over all models: a file's timings minutes apart, not back to back
            for i, (_, size) in enumerate(models):
                t, ms = table.beside_yardstick(files[i], (3, size, size))
                timings[i].append(ms)
                plain[i].append(t.ms)
        rows = []
        for i, (model, size) in enumerate(models):
            p, t = table.predict(model, size), timings[i]
            measured, measured_plain = float(np.median(t)), float(np.median(plain[i]))
            rows.append({"model": named[i][0], "input_size": size, "macs": count_macs(model, size).macs,
                         "predicted_ms": round(p["raw"], 5), "calibrated_ms": round(p["ms"], 5),
                         "measured_ms": round(measured, 5), "timings_ms": [round(v, 5) for v in t],
                         "measured_plain_ms": round(measured_plain, 5), "plain_ms": [round(v, 5) for v in plain[i]],
                         "error": round(p["raw"] / measured - 1, 4), "calibrated_error": round(p["ms"] / measured - 1, 4),
                         "plain_error": round(p["raw"] / measured_plain - 1, 4),
                         "first_ms": round(t[0], 5), "second_ms": round(t[1], 5),
                         "repeat_error": round(t[0] / t[1] - 1, 4),
                         "plain_first_ms": round(plain[i][0], 5), "plain_second_ms": round(plain[i][1], 5),
                         "plain_repeat_error": round(plain[i][0] / plain[i][1] - 1, 4)})
            print(f"model {named[i][0]}: {size}px {rows[-1]['macs'] / 1e6:.2f} M MACs, predicted {p['raw']:.4f} ms, "
                  f"measured {measured:.4f} ms", flush=True)
        total_s = time.perf_counter() - t0
    if a.candidates:  # what the compression step decides on: each candidate's speed-up over the start point
        for r in rows:
            r["predicted_speedup"] = round(rows[0]["predicted_ms"] / r["predicted_ms"], 4)
            r["measured_speedup"] = round(rows[0]["measured_ms"] / r["measured_ms"], 4)
            r["speedup_error"] = round(r["predicted_speedup"] / r["measured_speedup"] - 1, 4)
    meas, macs = [r["measured_ms"] for r in rows], [r["macs"] for r in rows]

    def figures(pred_key: str, err_key: str, against: str = "measured_ms") -> dict:
        err = np.array([r[err_key] for r in rows])
        return {"within_10pct": round(float(np.mean(np.abs(err) <= 0.10)), 3), "mape": round(float(np.mean(np.abs(err))), 4),
                "kendall_tau": round(float(kendalltau([r[pred_key] for r in rows], [r[against] for r in rows])[0]), 3)}

    # the headline is the table's sum; a latency-objective search prices calibrated (search.study.calibrate_latency)
    summary = {"models": len(rows), **figures("predicted_ms", "error"),
               "calibrated": figures("calibrated_ms", "calibrated_error"),
               "repeat": figures("first_ms", "repeat_error", against="second_ms"),
               "plain": figures("predicted_ms", "plain_error", against="measured_plain_ms"),
               "plain_repeat": figures("plain_first_ms", "plain_repeat_error", against="plain_second_ms"),
               "kendall_tau_macs": round(float(kendalltau(macs, meas)[0]), 3), "calibration": fit,
               "blocks_timed": len([k for k in table.entries if not k.startswith("__")]),
               "calibrate_seconds": round(calibrate_s, 1), "total_seconds": round(total_s, 1)}
    if a.candidates:
        summary["speedup"] = figures("predicted_speedup", "speedup_error", against="measured_speedup")
    meta = {**machine(), "runtime": runtime.describe(), "space": a.space, "seed": a.seed,
            "command": "python bench/latency_model.py " + ("--candidates" if a.candidates else f"--n-models {a.n_models}")
                       + f" --space {a.space} --threads {a.threads} --batch {a.batch} --repeats {a.repeats}"}
    name = "latency_model" + ("_candidates" if a.candidates else "") + (
        "" if (a.space, a.threads, a.batch) == ("default", 1, 1) and not a.candidates else
        f"_{a.space}_t{a.threads}" + (f"_b{a.batch}" if a.batch != 1 else ""))
    write_json(Path(a.out) / f"{name}.json", {**meta, **summary, "rows": rows})
    cal, rep, pl, plr = summary["calibrated"], summary["repeat"], summary["plain"], summary["plain_repeat"]
    beside = a.threads == 1  # where the table times beside the yardstick (slimnas.latency.table)
    what = (f"the compression step's {len(rows)} candidates of the `{a.space}` space's start point (pruned, rewritten, "
            f"decomposed; the first row is the start point)" if a.candidates else f"{len(rows)} random models of the `{a.space}` space")
    lines = [f"{what} on {runtime.describe()}; predicted = the latency "
             f"table's sum, as slimnas prices ({summary['blocks_timed']} pieces and pairs of pieces timed"
             f"{', beside the yardstick' * beside}; {total_s:.0f} s in all), measured = each shipped ONNX file timed "
             f"warm{' beside the yardstick, in its unit' * beside} (median of {max(2, a.repeats)} timings in passes over "
             f"all the models, on fresh sessions); {meta['machine']}; {meta['date']}.", "",
             "| prediction | within ±10 % | mean abs. error | Kendall τ |", "|---|---:|---:|---:|",
             f"| latency table | {summary['within_10pct']:.0%} | {summary['mape']:.1%} | {summary['kendall_tau']:.3f} |",
             f"| the same, calibrated on 10 other random models (as a latency search prices) | {cal['within_10pct']:.0%} | "
             f"{cal['mape']:.1%} | {cal['kendall_tau']:.3f} |",
             f"| MACs (ranking only) | – | – | {summary['kendall_tau_macs']:.3f} |",
             f"| the ceiling: a file's first timing predicting its second | {rep['within_10pct']:.0%} | {rep['mape']:.1%} | "
             f"{rep['kendall_tau']:.3f} |"]
    if a.candidates:
        sp = summary["speedup"]
        lines.insert(-2, f"| latency table: each candidate's speed-up over the start point | {sp['within_10pct']:.0%} | "
                         f"{sp['mape']:.1%} | {sp['kendall_tau']:.3f} |")
    if beside:
        lines += [f"| latency table against plain ms (the files not timed beside the yardstick) | {pl['within_10pct']:.0%} | "
                  f"{pl['mape']:.1%} | {pl['kendall_tau']:.3f} |",
                  f"| the ceiling in plain ms | {plr['within_10pct']:.0%} | {plr['mape']:.1%} | {plr['kendall_tau']:.3f} |"]
    head = len(lines)
    lines += ["", "| model | px | MACs | predicted ms | calibrated ms | measured ms | error |"
                  + " predicted speed-up | measured speed-up |" * a.candidates,
              "|---:|---:|---:|---:|---:|---:|---:|" + "---:|---:|" * a.candidates]
    lines += [f"| {r['model']} | {r['input_size']} | {r['macs'] / 1e6:.2f} M | {r['predicted_ms']:.4f} | "
              f"{r['calibrated_ms']:.4f} | {r['measured_ms']:.4f} | {r['error']:+.1%} |"
              + (f" {r['predicted_speedup']:.2f}× | {r['measured_speedup']:.2f}× |" if a.candidates else "") for r in rows]
    write_text(Path(a.out) / f"{name}.md", "\n".join(lines) + "\n")
    print("\n".join(lines[:head]))


if __name__ == "__main__":
    run_cli(main)
