#!/usr/bin/env python
"""Does channel pruning pay on the nets the road makes? Speed-up of pruned models, timed where they deploy.

    python bench/prune_latency.py                               # the tiny space's start point, mobilenetv3-like
    python bench/prune_latency.py --ratios 0.3 0.5 --round-to 1 8 16 --threads 1 2

Each model (random weights: timing does not depend on them; nothing is downloaded; 88 classes) is pruned by
``slimnas.prune.prune_channels`` at each ratio and channel rounding — and, if it has a grouped conv with a channel
multiplier, widened to depthwise first (``widen_depthwise``, exact) and pruned so too, and widened alone —
exported to ONNX, and every variant of one
model is timed interleaved with the original in one loop, at each ONNX Runtime thread count × batch. The
table gives MACs kept and the speed-up (original ms / pruned ms); > 1 is faster. Sessions at 2+ threads spin as
deployed and take turns after a settle pause (``slimnas.latency.measure.interleaved``). Writes bench/results/prune_latency.{json,md}.
"""

import argparse
import copy
from pathlib import Path

import torch

from common import machine, publish, start_point
from slimnas.cli import run_cli
from slimnas.io import write_json
from slimnas.latency.measure import DeployTarget, interleaved
from slimnas.latency.table import model_call
from slimnas.macs import count_macs
from slimnas.model import build_model, load_model_config
from slimnas.prune.model import prune_channels, widen_depthwise
from slimnas.configs import find_config

MODELS = ("tiny-start", "mobilenetv3_small_like")


def load(name: str):
    """(model, input size) for a bench model name: a search space's start point, a model YAML, or timm:NAME."""
    if name == "tiny-start":
        cfg, _ = start_point("tiny")
        return build_model(cfg, num_classes=88), cfg.input_size
    if name.startswith("timm:"):
        return build_model({"timm": name[5:]}, num_classes=88), 96
    return build_model(load_model_config(find_config(name, "model")), num_classes=88), 96


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=list(MODELS), help="tiny-start, a model YAML name, or timm:NAME")
    p.add_argument("--ratios", nargs="+", type=float, default=[0.3, 0.5])
    p.add_argument("--round-to", nargs="+", type=int, default=[1, 8, 16], help="1: channel counts of any size")
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--batches", nargs="+", type=int, default=[1, 32])
    p.add_argument("--out", default="bench/results")
    a = p.parse_args()
    rows = []
    for name in a.models:
        torch.manual_seed(0)
        model, size = load(name)
        model.eval()
        base = count_macs(model, size).macs
        widened = copy.deepcopy(model)
        ways = {False: model, **({True: widened} if widen_depthwise(widened) else {})}
        variants = {(w, r, k): prune_channels(copy.deepcopy(m), size, r, 88, round_to=k if k > 1 else None)
                    for w, m in ways.items() for r in a.ratios for k in a.round_to}
        if True in ways:
            variants[(True, 0.0, 1)] = widened
        for threads in a.threads:
            for batch in a.batches:
                target = DeployTarget(threads, batch)
                calls = {"original": model_call(model, size, target)}
                calls.update({key: model_call(m, size, target) for key, m in variants.items()})
                t = interleaved(calls, max_rounds=30)
                for (w, r, k), m in variants.items():
                    rows.append({"model": name, "size": size, "widened": w, "ratio": r, "round_to": k, "threads": threads,
                                 "batch": batch, "macs_kept": round(count_macs(m, size).macs / base, 3),
                                 "ms_original": round(t["original"].ms, 4), "ms_pruned": round(t[(w, r, k)].ms, 4),
                                 "speedup": round(t["original"].ms / t[(w, r, k)].ms, 2),
                                 "spread": round(max(t["original"].spread, t[(w, r, k)].spread), 3)})
                print(f"{name} {threads} thread(s) batch {batch}: " +
                      ", ".join(f"{'w' * x['widened']}{x['ratio']}/{x['round_to']} {x['speedup']}x"
                                for x in rows[-len(variants):]), flush=True)
    out = Path(a.out)
    command = (f"python bench/prune_latency.py --models {' '.join(a.models)} --ratios {' '.join(map(str, a.ratios))} "
               f"--round-to {' '.join(map(str, a.round_to))} --threads {' '.join(map(str, a.threads))} "
               f"--batches {' '.join(map(str, a.batches))}")
    write_json(out / "prune_latency.json", {**machine(), "command": command, "rows": rows})
    lines = [f"Pruned / original, ONNX Runtime CPU, timed interleaved ({machine()['machine']}, {machine()['date']})", "",
             "| model | widened | ratio | round to | MACs kept | " +
             " | ".join(f"{t} thr b{b}" for t in a.threads for b in a.batches) + " |",
             "|---|:-:|---:|---:|---:|" + "---:|" * (len(a.threads) * len(a.batches))]
    variants = dict.fromkeys((x["model"], x["widened"], x["ratio"], x["round_to"]) for x in rows)
    for name, w, r, k in variants:
        cells = [x for x in rows if (x["model"], x["widened"], x["ratio"], x["round_to"]) == (name, w, r, k)]
        lines.append(f"| {name} | {'yes' if w else 'no'} | {r} | {k if r else '–'} | {cells[0]['macs_kept']:.0%} | " +
                     " | ".join(f"{x['speedup']:.2f}×" for x in cells) + " |")
    publish(out / "prune_latency.md", lines)


if __name__ == "__main__":
    run_cli(main)
