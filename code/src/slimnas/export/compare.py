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
from .pipeline import export_checkpoint, exported_before


def as_onnx(name: str, path: Path, work: Path, bundles) -> Path:
    """``path`` as an ONNX file: itself, or the checkpoint exported into ``work/name`` (a second comparison of the same
    checkpoint bytes reuses that export: the dynamo exporter takes seconds a model)."""
    if path.suffix == ".onnx":
        return path
    if before := exported_before(path, work / name):
        return before
    size = int(load_checkpoint(path)["preprocessing"]["input_size"])
    return Path(export_checkpoint(path, work / name, bundles(size), verbose=False)["onnx"])


def settings(deploy: DeployTarget | None = None) -> dict[str, DeployTarget]:
    """The timings a comparison shows: where the model deploys (``ms_b1``: ONNX Runtime's default threads, batch 1
    unless told), and as extra columns 1 thread (``ms_1t``) and batch 32 (``ms_b32``) at the deployed threads."""
    deploy = deploy or DeployTarget()
    return {"ms_b1": deploy, "ms_1t": DeployTarget(1, deploy.batch, deploy.provider),
            "ms_b32": DeployTarget(deploy.threads, 32, deploy.provider)}


def compare(models: dict[str, str | Path], data: DataConfig, work: str | Path,
            deploy: DeployTarget | None = None) -> list[dict]:
    """One row per ``models[name]`` (a ``.onnx`` file or a checkpoint); checkpoints are exported into ``work``.
    Every model is timed at each of :func:`settings`, the models interleaved per setting."""
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
    timed: dict[DeployTarget, dict] = {}
    for key, target in settings(deploy).items():  # the extra columns settle in fewer rounds: they decide nothing
        if target not in timed:  # deployed at 1 thread, the 1-thread column is the same setting: timed once
            timed[target] = onnx_latencies({r["model"]: r["onnx"] for r in rows}, sizes, target,
                                           max_rounds=40 if key == "ms_b1" else 12)
        latency = timed[target]
        for row in rows:
            row[key], row[f"{key}_spread"] = latency[row["model"]].ms, latency[row["model"]].spread
    return rows


def predictions_f1(predictions: str | Path, answers: str | Path) -> float:
    """Macro-F1 of a predictions CSV (``index,label``) against an answers CSV of the same layout."""
    truth = {r["index"]: r["label"] for r in read_csv(answers, ["index", "label"])}
    got = {r["index"]: r["label"] for r in read_csv(predictions, ["index", "label"])}
    missing = sorted(set(truth) - set(got))
    if missing:
        raise DataError(f"{predictions}: no prediction for {len(missing)} answered index(es), e.g. {missing[:3]}")
    return macro_f1([truth[i] for i in truth], [got[i] for i in truth])


def markdown(rows: list[dict], deploy: DeployTarget | None = None) -> str:
    has_test = any(r["test_f1"] is not None for r in rows)
    timed = settings(deploy)
    names = {"ms_b1": f"ORT ms ({timed['ms_b1'].threads} thr, b{timed['ms_b1'].batch})",
             "ms_1t": f"1 thr, b{timed['ms_1t'].batch}", "ms_b32": f"{timed['ms_b32'].threads} thr, b32"}
    if timed["ms_1t"] == timed["ms_b1"]:  # deployed at 1 thread: that column again
        del names["ms_1t"]
    head = "| model | val macro-F1 |" + (" test macro-F1 |" if has_test else "") + " MACs | params | ONNX size | " + \
        " | ".join(names.values()) + " |"
    lines = [head, "|---|---:|" + ("---:|" if has_test else "") + "---:|---:|---:|" + "---:|" * len(names)]
    for r in rows:
        test = (f" {r['test_f1']:.4f} |" if r["test_f1"] is not None else " – |") if has_test else ""
        lines.append(f"| {r['model']} | {r['val_f1']:.4f} |{test} {r['macs'] / 1e6:.2f} M | {r['params'] / 1e3:.1f} k | "
                     f"{r['bytes'] / 1e3:.0f} kB | " + " | ".join(f"{r[k]:.3f}" for k in names) + " |")
    return "\n".join(lines)
