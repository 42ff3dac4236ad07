#!/usr/bin/env python
"""Where INT8 wins on this CPU, and where it cannot: a trained k×k model and the road's depthwise net.

    python bench/int8.py                              # vgg_small trained 2 × 450 s, then the tiny start point
    python bench/int8.py --seeds 0 --time-budget 120  # a quick look
    python bench/int8.py --reuse                      # the checkpoints of an earlier run: quantise and time again
    python bench/int8.py --road-only --road-weights A/best.pt B/best.pt   # only the road's trained nets: int8_road

1. The k×k model (``vgg_small``: 3×3 conv-BN-ReLU, 97.6 M MACs at 96 px) is trained on the embedded synthetic
   data for ``--time-budget`` seconds per seed, exported to ONNX and quantised as ``finetune --int8`` does
   (``slimnas.export.quantize.quantize_int8``: static, per-channel QDQ, U8 activations / S8 weights, calibrated
   on training images), once with every layer INT8 and once as the export ships it (the layers that cost the most
   *validation* F1 kept float, ``quantize_with_fallback``). FP32 and both INT8 files are scored on the labelled
   test split, which neither training nor the fallback saw, and timed interleaved at 1 thread and at ONNX
   Runtime's default threads, batch 1 and 32.
2. The road's own kind of net (the ``tiny`` space's start point: 1×1, grouped and depthwise convs, h-swish and
   SE; weights untrained, which timing does not depend on) quantised and timed the same way, and both models'
   slowest INT8 kernels next to the whole FP32 call from ONNX Runtime's profiler: the why. With
   ``--road-weights`` (checkpoints of trained road nets, one per seed: e.g. the pruned and fine-tuned ones of
   bench/prune_accuracy.py) those are quantised, scored on test and timed instead.

Each model is quantised every layer INT8, with the kinds ONNX Runtime runs slower quantised kept float
(``slow_in_int8``: grouped/depthwise convs, convs on < 8 channels), and as the export ships it (of those two,
the one faster at ONNX Runtime's default threads and batch 1; then the layers that cost the most validation F1
kept float).

Nothing is chosen here (the export's keep rule decides per model); the test split only reports. Writes
bench/results/int8.{json,md} (``--road-only``: int8_road.{json,md}, the k×k model left out).
"""

import argparse
import dataclasses
import statistics
from pathlib import Path

from common import machine, publish, start_point, train_row
from slimnas.checkpoint import model_from_checkpoint
from slimnas.cli import run_cli
from slimnas.configs import find_config
from slimnas.data.config import build_data, load_data_config
from slimnas.export.check import onnx_f1
from slimnas.export.onnx import export_onnx
from slimnas.export.pipeline import MAX_F1_DROP, calibration_loader
from slimnas.export.quantize import quantize_int8, quantize_with_fallback
from slimnas.io import write_json
from slimnas.latency.measure import DeployTarget, default_threads, onnx_latencies
from slimnas.latency.profile import node_times
from slimnas.macs import count_macs
from slimnas.model import build_model, load_model_config
from slimnas.train.evaluate import build_data_for, split_loader

MAX_EPOCHS = 1000  # the time budget decides


VARIANTS = {"int8": "INT8, every layer", "dense": "INT8, grouped/depthwise and < 8-channel convs float",
            "fallback": "INT8 as `finetune --int8` ships it (the faster of those two, then costliest layers float)"}


def timings(paths: dict[str, Path], size: int, threads: list[int], batches: list[int]) -> list[dict]:
    """FP32 and each INT8 variant side by side at every thread count × batch: ms, and speed-up = FP32 ms / ms."""
    rows = []
    for t in threads:
        for b in batches:
            ms = onnx_latencies(paths, size, DeployTarget(t, b), max_seconds=60)
            rows.append({"threads": t, "batch": b, "ms": {k: round(v.ms, 4) for k, v in ms.items()},
                         "speedup": {k: round(ms["fp32"].ms / v.ms, 2) for k, v in ms.items() if k != "fp32"},
                         "spread": round(max(v.spread for v in ms.values()), 3)})
            print(f"{paths['fp32'].parent.name}: {t} thread(s) batch {b}: {rows[-1]}", flush=True)
    return rows


def slowest_kernels(path: Path, target: DeployTarget, n: int = 3) -> list[dict]:
    return [{"node": name, "op": op, "ms": round(ms, 4), "inputs": shapes[:1]}
            for name, op, ms, shapes in node_times(path, target, runs=50)[:n]]


def quantized(fp32: Path, run: Path, bundle, size: int) -> tuple[dict[str, Path], list[str]]:
    """Every layer INT8; the slow kinds float; and the export's own path: the faster of the two at ONNX Runtime's
    default threads and batch 1, then the layers that cost the most val F1 kept float."""
    val = split_loader(bundle, "val")
    int8, _ = quantize_int8(fp32, run / "model.int8.onnx", calibration_loader(bundle))
    dense, slow = quantize_int8(fp32, run / "model.dense.onnx", calibration_loader(bundle), skip_slow=True)
    ms = onnx_latencies({"int8": int8, "dense": dense}, size, DeployTarget(), max_seconds=30)
    skip = bool(slow) and ms["dense"].ms < ms["int8"].ms
    fallback, report = quantize_with_fallback(fp32, run / "model.fallback.onnx", calibration_loader(bundle),
                                              lambda q: onnx_f1(q, val), onnx_f1(fp32, val), MAX_F1_DROP, skip_slow=skip)
    return {"fp32": fp32, "int8": int8, "dense": dense, "fallback": fallback}, (slow if skip else []) + report["float_layers"]


def scored(files: dict[str, Path], bundle, seed, ckpt, float_layers: list[str]) -> dict:
    test = split_loader(bundle, "test")
    f1 = {"seed": seed, "selected_epoch": ckpt.get("metrics", {}).get("epoch"), "float_layers": float_layers,
          "test_f1": {k: round(onnx_f1(p, test), 4) for k, p in files.items()}}
    f1["loss_pt"] = {k: round(100 * (f1["test_f1"]["fp32"] - v), 2) for k, v in f1["test_f1"].items() if k != "fp32"}
    return f1


def k_by_k(a, out: Path) -> dict:
    """vgg_small trained per seed (or reused with --reuse); test F1 of FP32 and each INT8 variant per seed, timings
    of the first seed's files."""
    cfg = load_model_config(find_config("vgg_small", "model"))
    seeds, paths = [], {}
    for s in a.seeds:
        run = out / f"vgg_small/seed{s}"
        if not (a.reuse and (run / "best.pt").is_file()):
            train_row(cfg, None, run, MAX_EPOCHS, s, time_budget=a.time_budget)
        model, ckpt = model_from_checkpoint(run / "best.pt")  # one load: the model and what it was trained on
        bundle = build_data_for(run / "best.pt", None, ckpt)
        fp32 = export_onnx(model, run / "model.onnx", cfg.input_size)
        files, float_layers = quantized(fp32, run, bundle, cfg.input_size)
        paths = paths or files
        f1 = scored(files, bundle, s, ckpt, float_layers)
        print("vgg_small", f1, flush=True)
        seeds.append(f1)
    return {"model": "vgg_small", "macs": count_macs(build_model(cfg, num_classes=88), cfg.input_size).macs,
            "seeds": seeds, "mean_loss_pt": {k: round(statistics.mean(s["loss_pt"][k] for s in seeds), 2) for k in VARIANTS},
            "timings": timings(paths, cfg.input_size, a.threads, a.batches),
            "slowest_int8": slowest_kernels(paths["int8"], DeployTarget(1, 32))}


def road_net(a, out: Path) -> dict:
    """The road's net: trained checkpoints (``--road-weights``, one per seed) quantised, scored on test and timed;
    else the tiny space's start point, untrained, timed only. With the kernels that make INT8 slow."""
    target = DeployTarget(1, 32)
    if a.road_weights:
        seeds, paths = [], {}
        for i, weight in enumerate(a.road_weights):
            run = out / f"road/{i}"
            model, ckpt = model_from_checkpoint(weight)
            bundle = build_data_for(weight, None, ckpt)
            size = int(ckpt["preprocessing"]["input_size"])
            files, float_layers = quantized(export_onnx(model, run / "model.onnx", size), run, bundle, size)
            paths = paths or files
            seeds.append({**scored(files, bundle, i, ckpt, float_layers), "weight": str(weight)})
            print("road net", seeds[-1], flush=True)
        return {"model": "the road's trained net", "macs": count_macs(model, size).macs, "seeds": seeds,
                "mean_loss_pt": {k: round(statistics.mean(s["loss_pt"][k] for s in seeds), 2) for k in VARIANTS},
                "timings": timings(paths, size, a.threads, a.batches),
                "slowest_int8": slowest_kernels(paths["dense"], target), "slowest_fp32": slowest_kernels(paths["fp32"], target)}
    cfg, _ = start_point("tiny")
    run = out / "tiny_start"
    model = build_model(cfg, num_classes=88).eval()
    fp32 = export_onnx(model, run / "model.onnx", cfg.input_size)
    bundle = build_data(dataclasses.replace(load_data_config(None), img_size=cfg.input_size))
    int8, _ = quantize_int8(fp32, run / "model.int8.onnx", calibration_loader(bundle))
    dense, _ = quantize_int8(fp32, run / "model.dense.onnx", calibration_loader(bundle), skip_slow=True)
    return {"model": "tiny start point", "macs": count_macs(model, cfg.input_size).macs,
            "timings": timings({"fp32": fp32, "int8": int8, "dense": dense}, cfg.input_size, a.threads, a.batches),
            "slowest_int8": slowest_kernels(int8, target), "slowest_fp32": slowest_kernels(fp32, target)}


def table(result: dict) -> list[str]:
    cols = [(t["threads"], t["batch"]) for t in result["models"][0]["timings"]]
    lines = [f"Speed-up = FP32 ms / INT8 ms, ONNX Runtime CPU, timed interleaved ({result['machine']}, {result['date']}); "
             "INT8 = static per-channel QDQ (U8 activations, S8 weights, MinMax ranges on 256 training images).", "",
             "| model | INT8 | test macro-F1 FP32 → INT8 (per seed) | " +
             " | ".join(f"{t} thr b{b}" for t, b in cols) + " |", "|---|---|---|" + "---:|" * len(cols)]
    for m in result["models"]:
        for v in m["timings"][0]["speedup"]:
            if "seeds" in m:
                f1 = "; ".join(f"{s['test_f1']['fp32']:.4f} → {s['test_f1'][v]:.4f}" for s in m["seeds"])
                f1 += f" (mean loss {m['mean_loss_pt'][v]:+.2f} pt)"
                if v == "fallback":
                    f1 += "; float: " + "; ".join(", ".join(s["float_layers"]) or "none" for s in m["seeds"])
            else:
                f1 = "untrained (timing only)"
            lines.append(f"| {m['model']} ({m['macs'] / 1e6:.1f} M MACs) | {VARIANTS[v]} | {f1} | " +
                         " | ".join(f"{t['speedup'][v]:.2f}× ({t['ms']['fp32']:.3f} / {t['ms'][v]:.3f} ms)"
                                    for t in m["timings"]) + " |")
    lines += ["", "Slowest INT8 kernels at 1 thread, batch 32 (ORT profiler, after its fusions and layout changes):", ""]
    for m in result["models"]:
        for k in m["slowest_int8"]:
            lines.append(f"- {m['model']}: {k['node']} ({k['op']}, input {k['inputs']}): {k['ms']:.3f} ms")
        for k in m.get("slowest_fp32", []):
            lines.append(f"- {m['model']}, FP32: {k['node']} ({k['op']}, input {k['inputs']}): {k['ms']:.3f} ms")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="training seeds of the k×k model")
    p.add_argument("--time-budget", type=float, default=450, help="training seconds per seed")
    p.add_argument("--threads", type=int, nargs="+", default=sorted({1, default_threads()}))
    p.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    p.add_argument("--reuse", action="store_true", help="keep vgg_small checkpoints an earlier run trained")
    p.add_argument("--road-weights", nargs="+", default=[],
                   help="checkpoints of the road's trained nets (one per seed) to quantise, score and time instead of "
                        "the untrained start point")
    p.add_argument("--road-only", action="store_true", help="leave out the k×k model (results: int8_road)")
    p.add_argument("--out", default="bench/results")
    a = p.parse_args()
    out = Path(a.out)
    name = "int8_road" if a.road_only else "int8"
    models = [] if a.road_only else [k_by_k(a, out / "int8")]
    result = {**machine(), "command": f"python bench/int8.py --seeds {' '.join(map(str, a.seeds))} --time-budget "
                                      f"{a.time_budget:g}{' --reuse' if a.reuse else ''} --threads {' '.join(map(str, a.threads))} "
                                      f"--batches {' '.join(map(str, a.batches))}"
                                      + (f" --road-weights {' '.join(a.road_weights)}" if a.road_weights else "")
                                      + (" --road-only" if a.road_only else ""),
              "models": [*models, road_net(a, out / "int8")]}
    write_json(out / f"{name}.json", result)
    publish(out / f"{name}.md", table(result))


if __name__ == "__main__":
    run_cli(main)
