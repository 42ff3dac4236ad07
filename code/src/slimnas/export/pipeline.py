"""Checkpoint → ``model.onnx`` (+ ``model.int8.onnx`` where it pays), checked against PyTorch and measured."""

from __future__ import annotations

import copy
from pathlib import Path

from torch.utils.data import DataLoader

from ..io import atomic_path, write_json
from ..macs import count_macs
from ..train.checkpoint import model_from_checkpoint
from ..latency.measure import onnx_latencies
from .check import onnx_f1, parity
from .onnx import export_onnx
from .quantize import keep_int8, quantize_int8


def calibration_loader(bundle, batch_size: int = 32) -> DataLoader:
    """Training images through the evaluation transform, in listing order: what INT8 ranges are fitted on.

    Augmented (and sampler-drawn) batches would make the calibration, and so the INT8 model, change
    from run to run.
    """
    images = copy.copy(bundle.train)  # shares the decoded-image cache
    images.transform = bundle.val.transform
    return DataLoader(images, batch_size=batch_size, shuffle=False)


def export_checkpoint(weight: str | Path, out: str | Path, bundle, int8: bool = False, tol: float = 1e-4,
                      save_name: str = "model.onnx", verbose: bool = True) -> dict:
    """Export ``weight``; ``bundle`` (its data) gives validation images for parity/F1 and calibration images."""
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
    fp32 = out / save_name
    with atomic_path(fp32) as staged:  # only a file that passed the parity check replaces an existing one
        export_onnx(model, staged, size, metadata)
        checked = parity(model, staged, val_loader, tol, name=fp32)
    report = {"onnx": str(fp32), "bytes": fp32.stat().st_size, "macs": macs.macs, "params": macs.params,
              "parity": checked, "f1_fp32": onnx_f1(fp32, val_loader),
              "ms_fp32_b1": onnx_latencies({"fp32": fp32}, size)["fp32"].ms, "int8": None}
    if verbose:
        p = report["parity"]
        print(f"exported {fp32} ({report['bytes'] / 1e3:.0f} kB): parity on {p['images']} val images, max |diff| "
              f"{p['max_abs_diff']:.1e}, top-1 agreement {p['top1_agreement']:.1%}; ORT macro-F1 {report['f1_fp32']:.4f}, "
              f"{report['ms_fp32_b1']:.3f} ms/image")
    if int8:
        q = quantize_int8(fp32, out / Path(save_name).with_suffix(".int8.onnx"), calibration_loader(bundle))
        ms = onnx_latencies({"fp32": fp32, "int8": q}, size)  # side by side: separate timings mislead
        report.update(f1_int8=onnx_f1(q, val_loader), ms_fp32_b1=ms["fp32"].ms, ms_int8_b1=ms["int8"].ms,
                      latency_spread={k: round(t.spread, 4) for k, t in ms.items()})
        keep, why = keep_int8(report["f1_fp32"], report["f1_int8"], ms["fp32"], ms["int8"])
        report.update(int8_kept=keep, int8_reason=why, int8=str(q) if keep else None)
        if not keep:
            q.unlink()
        if verbose:
            print(f"INT8 {'kept' if keep else 'dropped'}: {why}")
    write_json(out / "export.json", report)
    return report
