#!/usr/bin/env python
"""Where decomposition should pay: timm resnet18 at 224 px, decomposed by decompose.py's rules, timed in ORT.

    python bench/resnet_decompose.py                         # --target-macs 0.5 and --target-latency 0.5
    python bench/resnet_decompose.py --rules macs:0.5 macs:0.35 latency:0.5 --threads 2

Random weights (timing does not depend on them; nothing is downloaded), 88 classes. Each rule runs the
real command, ``slimnas decompose --weight original.pt --target-macs 0.5`` (or ``--target-latency``),
with an empty latency cache, and its wall time is reported (start-up, rank choice, timing), then the original
and every decomposed model are exported as they ship and timed at batch 1 and 32 on ONNX Runtime CPU,
all interleaved in one loop. Writes bench/results/resnet_decompose.{json,md}.
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
from slimnas.latency.measure import DeployTarget, interleaved, session, session_call
from slimnas.macs import count_macs
from slimnas.model import build_model
from slimnas.checkpoint import model_from_checkpoint, save_checkpoint

CLASSES = [f"class{i}" for i in range(88)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="resnet18", help="a timm model name")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--rules", nargs="+", default=["macs:0.5", "latency:0.5"], help="macs:F or latency:F")
    p.add_argument("--threads", type=int, default=1, help="ORT intra-op threads")
    p.add_argument("--out", default="bench/results")
    a = p.parse_args()
    torch.manual_seed(0)
    cfg = {"timm": a.model, "input_size": a.size}
    model = build_model(cfg, num_classes=len(CLASSES)).eval()
    pre = {"input_size": a.size, "resize": "resize", "mean": [0.5] * 3, "std": [0.5] * 3, "invariant_to": []}
    rows, onnx = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        weight = save_checkpoint(tmp / "original.pt", model, cfg, CLASSES, pre)
        models = {"original": (model, None)}
        for rule in a.rules:
            kind, value = rule.split(":")
            dst = tmp / rule.replace(":", "_")
            # the real command, with an empty latency cache: the time a user waits on a first run
            env = {**os.environ, "SLIMNAS_CACHE": str(tmp / f"cache_{dst.name}")}
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "slimnas", "decompose", "--weight", str(weight), f"--target-{kind}",
                            value, "--ort-threads", str(a.threads), "--dst", str(dst)], check=True, env=env)
            seconds = time.perf_counter() - t0
            models[rule] = (model_from_checkpoint(dst / "decomposed.pt")[0], seconds)
            print(f"{rule}: `slimnas decompose` took {seconds:.1f} s", flush=True)
        runtime = {b: DeployTarget(a.threads, b) for b in (1, 32)}
        calls = {}
        for name, (m, seconds) in models.items():
            path = export_onnx(m, tmp / f"{name.replace(':', '_')}.onnx", a.size)
            onnx[name] = path
            for b, rt in runtime.items():
                calls[(name, b)] = session_call(session(path, rt), rt, (3, a.size, a.size))
            rows.append({"model": name, "macs": count_macs(m, a.size).macs, "decompose_seconds":
                         None if seconds is None else round(seconds, 1)})
        timing = interleaved(calls, max_rounds=30)
    for r in rows:
        for b in (1, 32):
            t = timing[(r["model"], b)]
            r[f"ms_b{b}"], r[f"spread_b{b}"] = round(t.ms, 3), round(t.spread, 4)
            r[f"speedup_b{b}"] = round(timing[("original", b)].ms / t.ms, 3)
        r["macs_fraction"] = round(r["macs"] / rows[0]["macs"], 4)
    meta = {**machine(), "model": a.model, "input_size": a.size, "runtime": f"ORT CPU, {a.threads} thread(s)",
            "command": f"python bench/resnet_decompose.py --rules {' '.join(a.rules)} --threads {a.threads}"}
    write_json(Path(a.out) / "resnet_decompose.json", {**meta, "rows": rows})
    lines = [f"timm `{a.model}` at {a.size} px (random weights), decomposed by `slimnas decompose` (empty latency cache); ORT CPU "
             f"{a.threads} thread(s), every model at batch 1 and 32 interleaved in one run; {meta['machine']}; "
             f"{meta['date']}.", "",
             "| model | MACs | `slimnas decompose` s | ms b1 | speed-up b1 | ms b32 | speed-up b32 |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['macs'] / 1e9:.3f} G ({r['macs_fraction']:.0%}) | "
              f"{'–' if r['decompose_seconds'] is None else r['decompose_seconds']} | {r['ms_b1']:.2f} | "
              f"{r['speedup_b1']:.2f}× | {r['ms_b32']:.1f} | {r['speedup_b32']:.2f}× |" for r in rows]
    publish(Path(a.out) / "resnet_decompose.md", lines)


if __name__ == "__main__":
    run_cli(main)
