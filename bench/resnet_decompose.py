#!/usr/bin/env python
"""Where decomposition should pay: timm resnet18 at 224 px, decomposed by decompose.py's rules, timed in ORT.

    python bench/resnet_decompose.py                         # --target-macs 0.5 and --target-latency 0.5
    python bench/resnet_decompose.py --rules macs:0.5 macs:0.35 latency:0.5 --threads 1 2 4

Random weights (timing does not depend on them; nothing is downloaded), 88 classes. Each rule runs the
real command, ``slimnas decompose --weight original.pt --target-macs 0.5`` (or ``--target-latency``),
with an empty latency cache, and its wall time is reported (start-up, rank choice, timing), then the original
and every decomposed model are exported as they ship and timed at batch 1 and 32 on ONNX Runtime CPU at
every ``--threads`` count (1 and ONNX Runtime's default: the count a user deploys with), all interleaved in
one loop; a latency rule runs once per thread count. Writes bench/results/resnet_decompose.{json,md}.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from common import machine, publish
from slimnas.cli import run_cli
from slimnas.export import export_onnx
from slimnas.io import write_json
from slimnas.latency.measure import DeployTarget, default_threads, interleaved, timed_call
from slimnas.macs import count_macs
from slimnas.model import build_model
from slimnas.checkpoint import model_from_checkpoint, save_checkpoint

CLASSES = [f"class{i}" for i in range(88)]


def decomposed(weight: Path, tmp: Path, rules: list[str], threads: list[int]) -> dict:
    """name -> (model, seconds of the real ``slimnas decompose``): a MACs rule once, a latency rule once per thread
    count (its ranks are chosen by timings at that count), each with an empty latency cache."""
    models = {}
    for rule in rules:
        kind, value = rule.split(":")
        for t in threads if kind == "latency" else [threads[0]]:
            name = f"{rule} @{t}t" if kind == "latency" else rule
            dst = tmp / name.replace(":", "_").replace(" @", "_")
            env = {**os.environ, "SLIMNAS_CACHE": str(tmp / f"cache_{dst.name}")}  # the time a first run waits
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "slimnas", "decompose", "--weight", str(weight), f"--target-{kind}",
                            value, "--ort-threads", str(t), "--dst", str(dst)], check=True, env=env)
            models[name] = (model_from_checkpoint(dst / "decomposed.pt")[0], time.perf_counter() - t0)
            print(f"{name}: `slimnas decompose` took {models[name][1]:.1f} s", flush=True)
    return models


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="resnet18", help="a timm model name")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--rules", nargs="+", default=["macs:0.5", "latency:0.5"], help="macs:F or latency:F")
    p.add_argument("--threads", type=int, nargs="+", default=sorted({1, default_threads()}),
                   help="ORT intra-op thread counts (default: 1 and ONNX Runtime's default here)")
    p.add_argument("--out", default="bench/results")
    a = p.parse_args()
    torch.manual_seed(0)
    cfg = {"timm": a.model, "input_size": a.size}
    model = build_model(cfg, num_classes=len(CLASSES)).eval()
    pre = {"input_size": a.size, "resize": "resize", "mean": [0.5] * 3, "std": [0.5] * 3, "invariant_to": []}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        weight = save_checkpoint(tmp / "original.pt", model, cfg, CLASSES, pre)
        models = {"original": (model, None), **decomposed(weight, tmp, a.rules, a.threads)}
        settings = [(t, b) for t in a.threads for b in (1, 32)]
        calls = {}
        for name, (m, seconds) in models.items():
            path = export_onnx(m, tmp / f"{name.replace(':', '_').replace(' @', '_')}.onnx", a.size)
            for t, b in settings:
                rt = DeployTarget(t, b)
                calls[(name, t, b)] = timed_call(path, rt, (3, a.size, a.size))
            rows.append({"model": name, "macs": count_macs(m, a.size).macs, "decompose_seconds":
                         None if seconds is None else round(seconds, 1)})
        timing = interleaved(calls, max_rounds=30)
    for r in rows:
        for t, b in settings:
            k, m = f"t{t}_b{b}", timing[(r["model"], t, b)]
            r[f"ms_{k}"], r[f"spread_{k}"] = round(m.ms, 3), round(m.spread, 4)
            r[f"speedup_{k}"] = round(timing[("original", t, b)].ms / m.ms, 3)
        r["macs_fraction"] = round(r["macs"] / rows[0]["macs"], 4)
    meta = {**machine(), "model": a.model, "input_size": a.size, "threads": a.threads,
            "runtime": f"ORT CPU, {' and '.join(map(str, a.threads))} thread(s)",
            "command": f"python bench/resnet_decompose.py --rules {' '.join(a.rules)} --threads "
                       f"{' '.join(map(str, a.threads))}"}
    write_json(Path(a.out) / "resnet_decompose.json", {**meta, "rows": rows})
    lines = [f"timm `{a.model}` at {a.size} px (random weights), decomposed by `slimnas decompose` (empty latency cache; "
             f"a latency rule chooses its ranks by timings at the thread count it names); ORT CPU, every model at "
             f"every thread count and batch interleaved in one run; {meta['machine']}; {meta['date']}.", "",
             "| model | MACs | `slimnas decompose` s | " + " | ".join(f"{t} thr b{b}" for t, b in settings) + " |",
             "|---|---:|---:|" + "---:|" * len(settings)]
    lines += [f"| {r['model']} | {r['macs'] / 1e9:.3f} G ({r['macs_fraction']:.0%}) | "
              f"{'–' if r['decompose_seconds'] is None else r['decompose_seconds']} | " +
              " | ".join(f"{r[f'ms_t{t}_b{b}']:.2f} ms ({r[f'speedup_t{t}_b{b}']:.2f}×)" for t, b in settings) + " |"
              for r in rows]
    publish(Path(a.out) / "resnet_decompose.md", lines)


if __name__ == "__main__":
    run_cli(main)
