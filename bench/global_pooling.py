#!/usr/bin/env python
"""What exporting spatial means as GlobalAveragePool buys: the same model with and without the rewrite.

    python bench/global_pooling.py

The torch.export-based exporter lowers the head's pool and an SE block's squeeze to ReduceMean, which ONNX
Runtime's blocked (NCHWc) layout does not run, so the tensor is reordered back first; ``export_onnx`` rewrites them
to GlobalAveragePool (``slimnas.onnx_rewrite.global_pooling``, exact). Each model (random weights: timing does not
depend on them; 88 classes) is exported once, then timed as exported and with the rewrite undone, interleaved, at
1 and 2 threads × batch 1 and 32; the outputs of the two are compared. Writes bench/results/global_pooling.{json,md}.
"""

import argparse
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

from common import machine, publish, timing_settings
from prune_latency import load
from slimnas.cli import run_cli
from slimnas.export import export_onnx
from slimnas.io import write_json
from slimnas.latency.measure import DeployTarget, onnx_latencies

SETTINGS = [(1, 1), (1, 32), (2, 1), (2, 32)]  # (ORT threads, batch)


def undo(path: Path, out: Path) -> int:
    """``path`` with every GlobalAveragePool (and the Flatten it feeds, if any) back to one ReduceMean over axes
    (2, 3), as the exporter wrote it. Returns how many."""
    proto = onnx.load(path)
    nodes, done = list(proto.graph.node), 0
    axes = numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "undo_axes")
    proto.graph.initializer.append(axes)
    for node in nodes:
        if node.op_type != "GlobalAveragePool":
            continue
        flat = next((n for n in nodes if n.op_type == "Flatten" and n.input[0] == node.output[0]), None)
        last = flat or node
        mean = helper.make_node("ReduceMean", [node.input[0], "undo_axes"], [last.output[0]], keepdims=0 if flat else 1)
        at = list(proto.graph.node).index(node)
        proto.graph.node.remove(node)
        if flat:
            proto.graph.node.remove(flat)
        proto.graph.node.insert(at, mean)
        done += 1
    onnx.save(proto, out)
    return done


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["tiny-start", "mobilenetv3_small_like"])
    p.add_argument("--out", default="bench/results")
    a = p.parse_args()
    settings = timing_settings(SETTINGS)
    work = Path(a.out) / "global_pooling"
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in a.models:
        model, size = load(name)
        shipped = export_onnx(model.eval(), work / f"{name}.onnx", size)
        plain = work / f"{name}_reducemean.onnx"
        pools = undo(shipped, plain)
        x = np.random.default_rng(0).normal(size=(4, 3, size, size)).astype(np.float32)
        outs = [ort.InferenceSession(str(f), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
                for f in (shipped, plain)]
        row = {"model": name, "input_size": size, "pools": pools, "max_abs_diff": float(np.abs(outs[0] - outs[1]).max())}
        for threads, batch in settings:
            t = onnx_latencies({"reducemean": plain, "global": shipped}, size, DeployTarget(threads, batch),
                               min_rounds=10, max_rounds=40)
            row[f"speedup_t{threads}_b{batch}"] = round(t["reducemean"].ms / t["global"].ms, 3)
        rows.append(row)
        print(row, flush=True)
    cmd = "python bench/global_pooling.py"
    write_json(Path(a.out) / "global_pooling.json", {**machine(), "command": cmd, "rows": rows})
    cols = " | ".join(f"{t} thr b{b}" for t, b in settings)
    lines = [f"The same export with spatial means as GlobalAveragePool against ReduceMean (speed-up; > 1 is faster), "
             f"ONNX Runtime CPU, interleaved; {machine()['machine']}; {machine()['date']}.", "",
             f"| model | means rewritten | max abs diff | {cols} |", "|---|---:|---:|" + "---:|" * len(settings)]
    lines += [f"| {r['model']} | {r['pools']} | {r['max_abs_diff']:.1e} | " +
              " | ".join(f"{r[f'speedup_t{t}_b{b}']:.3f}×" for t, b in settings) + " |" for r in rows]
    publish(Path(a.out) / "global_pooling.md", lines)


if __name__ == "__main__":
    run_cli(main)
