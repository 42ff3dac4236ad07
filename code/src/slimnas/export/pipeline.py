"""Checkpoint → ``model.onnx`` (+ ``model.int8.onnx`` where it pays), checked against PyTorch and measured."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import onnx
from torch.utils.data import DataLoader

from ..io import file_set, write_json
from ..macs import count_macs
from ..checkpoint import model_from_checkpoint
from ..latency.measure import DeployTarget, onnx_latencies
from .check import onnx_f1, parity
from .onnx import export_onnx
from .quantize import clearly_faster, keep_int8, quantize_int8, quantize_with_fallback, slow_in_int8

MAX_F1_DROP = 0.01  # macro-F1 an INT8 model may lose and still ship


def calibration_loader(bundle, batch_size: int = 32) -> DataLoader:
    """:meth:`~slimnas.data.config.DataBundle.calibration`'s images in batches: what INT8 ranges are fitted on."""
    return DataLoader(bundle.calibration(), batch_size=batch_size, shuffle=False)


def checkpoint_source(weight: str | Path) -> dict:
    """What an export was made from: the checkpoint's bytes and the exporting slimnas (recorded in export.json)."""
    from .. import __version__

    digest = hashlib.sha256()
    with open(weight, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"sha256": digest.hexdigest(), "slimnas": __version__}


def exported_before(weight: str | Path, out: str | Path) -> Path | None:
    """The ONNX file an earlier :func:`export_checkpoint` of these very checkpoint bytes wrote into ``out``, if any."""
    try:
        report = json.loads((Path(out) / "export.json").read_text(encoding="utf-8"))
        onnx = Path(report["onnx"])
        return onnx if report.get("source") == checkpoint_source(weight) and onnx.is_file() else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def export_checkpoint(weight: str | Path, out: str | Path, bundle, int8: bool = False, tol: float = 1e-4,
                      save_name: str = "model.onnx", verbose: bool = True, deploy: DeployTarget | None = None) -> dict:
    """Export ``weight``; ``bundle`` (its data) gives validation images for parity/F1 and calibration images.
    ``deploy``: where the model will run (default ONNX Runtime's own threads, batch 1); the INT8 decision is
    timed there."""
    deploy = deploy or DeployTarget()
    out = Path(out)
    model, ckpt = model_from_checkpoint(weight)
    pre = ckpt["preprocessing"]
    size = int(pre["input_size"])
    macs = count_macs(model, size)
    metadata = {"classes": ckpt["classes"], "input_size": size, "resize": pre.get("resize", "resize"),
                "mean": pre["mean"], "std": pre["std"],
                "invariant_to": pre.get("invariant_to", []), "macs": macs.macs, "params": macs.params,
                "val_f1": ckpt.get("metrics", {}).get("val_f1"), "decomposed": bool(ckpt.get("decomposition")),
                "producer": "slimnas"}
    val_loader = bundle.loaders()[1]
    fp32, int8_name = out / save_name, Path(save_name).with_suffix(".int8.onnx").name
    # the ONNX files and export.json are one set: a failed parity check or a kill leaves the old set whole
    with file_set(out, "export", [save_name, int8_name, "export.json"]) as files:
        staged = files.path(save_name)
        export_onnx(model, staged, size, metadata)
        checked = parity(model, staged, val_loader, tol, name=fp32)
        report = {"onnx": str(fp32), "bytes": staged.stat().st_size, "macs": macs.macs, "params": macs.params,
                  "parity": checked, "f1_fp32": onnx_f1(staged, val_loader),
                  "ms_fp32": onnx_latencies({"fp32": staged}, size, deploy)["fp32"].ms, "int8": None,
                  "deploy": deploy.describe(), "source": checkpoint_source(weight)}
        if verbose:
            p = report["parity"]
            print(f"exported {fp32} ({report['bytes'] / 1e3:.0f} kB): parity on {p['images']} val images, max |diff| "
                  f"{p['max_abs_diff']:.1e}, top-1 agreement {p['top1_agreement']:.1%}; ORT macro-F1 "
                  f"{report['f1_fp32']:.4f}, {report['ms_fp32']:.3f} ms a call ({deploy.describe()})")
        if int8:
            report.update(_int8(staged, files.path(int8_name), bundle, val_loader, report["f1_fp32"], size, deploy,
                                verbose))
            report["int8"] = str(out / int8_name) if report["int8_kept"] else None
        write_json(files.path("export.json"), report)
    return report


def _int8(fp32: Path, path: Path, bundle, val_loader, f1_fp32: float, size: int, deploy: DeployTarget,
          verbose: bool) -> dict:
    """Quantise every layer and, where the model has layers of the kinds ONNX Runtime runs slower quantised
    (:func:`~slimnas.export.quantize.slow_in_int8`), also with those float; time each against FP32 side by side
    (separate timings mislead) and go on with the faster. Only for an INT8 that is faster keep the layers that cost
    the most F1 in float until it is within the allowed drop; the file stays only if :func:`keep_int8` says so."""
    q, _ = quantize_int8(fp32, path, calibration_loader(bundle))
    files, slow = {"fp32": fp32, "int8": q}, []
    with tempfile.TemporaryDirectory() as tmp:
        if slow_in_int8(onnx.load(str(fp32))):  # else that variant would be the all-INT8 file again
            files["int8_dense"], slow = quantize_int8(fp32, Path(tmp) / "dense.onnx", calibration_loader(bundle),
                                                      skip_slow=True)
        ms = onnx_latencies(files, size, deploy)
        skip_slow = bool(slow) and ms["int8_dense"].ms < ms["int8"].ms
        variants = {"every layer": round(ms["int8"].ms, 4),
                    **({"slow kinds float": round(ms["int8_dense"].ms, 4)} if slow else {})}
        if skip_slow:
            os.replace(files["int8_dense"], q)
            ms["int8"] = ms.pop("int8_dense")
    ms.pop("int8_dense", None)
    report = {"f1_int8": onnx_f1(q, val_loader), "int8_float_layers": [], "int8_slow_float": slow if skip_slow else [],
              "int8_variants_ms": variants}
    if clearly_faster(ms["fp32"], ms["int8"]) and f1_fp32 - report["f1_int8"] > MAX_F1_DROP:
        q, fallback = quantize_with_fallback(fp32, path, calibration_loader(bundle), lambda p: onnx_f1(p, val_loader),
                                             f1_fp32, MAX_F1_DROP, f1_all=report["f1_int8"], skip_slow=skip_slow)
        report.update(f1_int8=fallback["f1_int8"], int8_float_layers=fallback["float_layers"], int8_tried=fallback["tried"])
        ms = onnx_latencies({"fp32": fp32, "int8": q}, size, deploy)  # float layers change the speed: time again
    keep, why = keep_int8(f1_fp32, report["f1_int8"], ms["fp32"], ms["int8"], MAX_F1_DROP)
    if skip_slow:
        why += f"; {len(slow)} grouped/depthwise or few-channel conv(s) kept float, which ran faster"
    if report["int8_float_layers"]:
        why += f"; kept in float for F1: {', '.join(report['int8_float_layers'])}"
    report.update(ms_fp32=ms["fp32"].ms, ms_int8=ms["int8"].ms, int8_kept=keep, int8_reason=why,
                  latency_spread={k: round(t.spread, 4) for k, t in ms.items()})
    if not keep:
        q.unlink()  # not a member of the new set: an earlier run's INT8 file goes with it
    if verbose:
        print(f"INT8 {'kept' if keep else 'dropped'} ({deploy.describe()}): {why}")
    return report
