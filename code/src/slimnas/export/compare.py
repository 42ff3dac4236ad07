"""Models side by side as they would ship: each as an ONNX file, scored and timed with ONNX Runtime.

A checkpoint in the list is exported first (with the parity check), so every row is measured the same
way: macro-F1 on val (and on the test split when the data ships answers), MACs and params from the
ONNX metadata, file size, and batch-1 latency with all models interleaved in one timing loop.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from torch.utils.data import DataLoader

from ..checkpoint import load_checkpoint
from ..data.config import DataConfig, build_data
from ..errors import ConfigError, DataError
from ..io import read_csv
from ..runtime import make_session, read_metadata
from ..train.metrics import macro_f1
from ..latency.measure import DeployTarget, onnx_latencies
from .check import onnx_f1
from .pipeline import export_checkpoint


def as_onnx(name: str, path: Path, work: Path, bundles) -> Path:
    if path.suffix == ".onnx":
        return path
    size = int(load_checkpoint(path)["preprocessing"]["input_size"])
    return Path(export_checkpoint(path, work / name, bundles(size), verbose=False)["onnx"])


def compare(models: dict[str, str | Path], data: DataConfig, work: str | Path, threads: int = 1) -> list[dict]:
    """One row per ``models[name]`` (a ``.onnx`` file or a checkpoint); checkpoints are exported into ``work``."""
    cache: dict[int, object] = {}

    def bundles(size: int):
        if size not in cache:
            cache[size] = build_data(dataclasses.replace(data, img_size=size))
        return cache[size]

    rows, sizes = [], {}
    for name, path in models.items():
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{name}: {path} not found")
        onnx = as_onnx(name, path, Path(work), bundles)
        meta = read_metadata(make_session(onnx))
        sizes[name] = int(meta["input_size"])
        bundle = bundles(sizes[name])
        test = bundle.labelled_test()
        rows.append({"model": name, "onnx": str(onnx), "bytes": onnx.stat().st_size, "macs": meta["macs"],
                     "params": meta["params"], "val_f1": onnx_f1(onnx, bundle.loaders()[1]),
                     "test_f1": onnx_f1(onnx, DataLoader(test, 64)) if test is not None else None})
    latency = onnx_latencies({r["model"]: r["onnx"] for r in rows}, sizes, DeployTarget(threads=threads))
    for row in rows:
        row["ms_b1"], row["ms_spread"] = latency[row["model"]].ms, latency[row["model"]].spread
    return rows


def predictions_f1(predictions: str | Path, answers: str | Path) -> float:
    """Macro-F1 of a predictions CSV (``index,label``) against an answers CSV of the same layout."""
    truth = {r["index"]: r["label"] for r in read_csv(answers, ["index", "label"])}
    got = {r["index"]: r["label"] for r in read_csv(predictions, ["index", "label"])}
    missing = sorted(set(truth) - set(got))
    if missing:
        raise DataError(f"{predictions}: no prediction for {len(missing)} answered index(es), e.g. {missing[:3]}")
    return macro_f1([truth[i] for i in truth], [got[i] for i in truth])


def markdown(rows: list[dict]) -> str:
    has_test = any(r["test_f1"] is not None for r in rows)
    head = "| model | val macro-F1 |" + (" test macro-F1 |" if has_test else "") + " MACs | params | ONNX size | ORT ms (b1) |"
    lines = [head, "|---|---:|" + ("---:|" if has_test else "") + "---:|---:|---:|---:|"]
    for r in rows:
        test = (f" {r['test_f1']:.4f} |" if r["test_f1"] is not None else " – |") if has_test else ""
        lines.append(f"| {r['model']} | {r['val_f1']:.4f} |{test} {r['macs'] / 1e6:.2f} M | {r['params'] / 1e3:.1f} k | "
                     f"{r['bytes'] / 1e3:.0f} kB | {r['ms_b1']:.3f} |")
    return "\n".join(lines)
