"""Per-piece (YAML, checkpoint) or per-node (ONNX) tables of MACs and measured ONNX Runtime milliseconds."""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import tempfile
from collections import defaultdict
from pathlib import Path

import torch.nn as nn

from ..errors import ConfigError
from ..checkpoint import model_from_checkpoint
from ..macs import count_macs
from ..model import build_model, load_model_config
from .measure import DeployTarget, interleaved, session, session_call, timed_call
from .table import LatencyTable, onnx_bytes, piece_inputs

def load_model(spec: str, input_size: int | None, num_classes: int) -> tuple[nn.Module, int]:
    """A model (eval mode) and its input size from a checkpoint or a model YAML (path or packaged name); a YAML
    does not say how many classes its head has, so ``num_classes`` does (a checkpoint knows its own)."""
    if spec.endswith((".pt", ".pth")):
        model, ckpt = model_from_checkpoint(spec)
        return model, input_size or int(ckpt["preprocessing"]["input_size"])
    cfg = load_model_config(spec)
    model = build_model(dataclasses.replace(cfg, pretrained=False), num_classes=num_classes)
    return model.eval(), input_size or cfg.input_size or 96


def profile_model(spec: str, runtime: DeployTarget, input_size: int | None = None,
                  table: LatencyTable | None = None, num_classes: int = 88) -> str:
    model, size = load_model(spec, input_size, num_classes)
    table = table or LatencyTable(runtime)
    over = table.overhead()
    priced = table.predict(model, size)
    rows = []
    for (name, piece, shape), (_, ms) in zip(piece_inputs(model, size), priced["pieces"]):
        macs = count_macs(piece, shape).macs if any(p.dim() > 1 for p in piece.parameters()) else 0
        rows.append((name, type(piece).__name__, "x".join(map(str, shape)), macs, ms))
    table.save()
    whole = table.timed(onnx_bytes(model, (3, size, size)), (3, size, size))  # in the unit the pieces are priced in
    predicted = priced["raw"]
    total_macs = count_macs(model, size).macs
    lines = [f"{spec} at {size} px on {runtime.describe()}; each piece priced in context (what it adds after its "
             f"predecessor, both timed alone), beside one call's overhead ({over:.4f} ms)", "",
             "| piece | module | input | MACs | ms | share |", "|---|---|---|---:|---:|---:|"]
    lines += [f"| {n} | {m} | {s} | {macs / 1e6:.3f} M | {ms:.4f} | {ms / max(predicted, 1e-9):.0%} |"
              for n, m, s, macs, ms in rows]
    lines += ["", f"whole model: {total_macs / 1e6:.3f} M MACs; measured {whole.ms:.4f} ms (spread ±{whole.spread / 2:.1%}), "
                  f"predicted from the pieces {predicted:.4f} ms ({predicted / whole.ms - 1:+.1%})"]
    return "\n".join(lines)


def measure_onnx(model: str | Path | bytes, runtime: DeployTarget):
    return interleaved({"m": timed_call(model, runtime)})["m"]


def node_times(path: Path, runtime: DeployTarget, runs: int = 200) -> list[tuple[str, str, float, list]]:
    """(node, op, median kernel ms, input shapes) of every node, slowest first, from ONNX Runtime's own profiler
    (after its graph fusions and layout changes, so the nodes are the kernels that ran)."""
    import onnxruntime as ort

    if not path.is_file():
        raise ConfigError(f"{path}: ONNX file not found")
    session(path, runtime)  # a corrupt file or a missing provider: one line, before the profiler starts
    with tempfile.TemporaryDirectory() as tmp:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.enable_profiling = runtime.threads, True
        opts.profile_file_prefix = os.path.join(tmp, "prof")
        sess = ort.InferenceSession(str(path), opts, providers=[runtime.provider])
        call = session_call(sess, runtime)
        for _ in range(runs):
            call()
        events = json.loads(Path(sess.end_profiling()).read_text())
    per_node: dict[str, list[float]] = defaultdict(list)
    ops, shapes = {}, {}
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            node = e["name"][: -len("_kernel_time")]
            per_node[node].append(e["dur"] / 1e3)
            args = e.get("args", {})
            ops[node] = args.get("op_name", "?")
            shapes[node] = [next(iter(d.values())) for d in args.get("input_type_shape", [])]
    if not per_node:
        raise ConfigError(f"{path}: ONNX Runtime's profiler recorded no node times")
    # the first runs include warm-up: keep the median of each node
    return sorted(((n, ops[n], statistics.median(v), shapes[n]) for n, v in per_node.items()), key=lambda r: -r[2])


def profile_onnx(path: Path, runtime: DeployTarget, runs: int = 200) -> str:
    """Mean kernel time per node from ONNX Runtime's own profiler (after its graph fusions)."""
    rows = node_times(path, runtime, runs)
    total = sum(r[2] for r in rows)
    lines = [f"{path} on {runtime.describe()}: median kernel time per node over {runs} runs (ORT profiler)", "",
             "| node | op | ms | share |", "|---|---|---:|---:|"]
    lines += [f"| {n} | {op} | {ms:.4f} | {ms / total:.0%} |" for n, op, ms, _ in rows]
    lines += ["", f"sum of kernels {total:.4f} ms; the whole call: {measure_onnx(path, runtime).ms:.4f} ms"]
    return "\n".join(lines)
