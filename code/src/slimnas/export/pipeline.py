"""Checkpoint → ``model.onnx`` (+ ``model.int8.onnx`` where it pays), checked against PyTorch and measured."""

from __future__ import annotations

import copy
from pathlib import Path

from torch.utils.data import DataLoader

from ..io import file_set, write_json
from ..macs import count_macs
from ..checkpoint import model_from_checkpoint
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
    fp32, int8_name = out / save_name, Path(save_name).with_suffix(".int8.onnx").name
    # the ONNX files and export.json are one set: a failed parity check or a kill leaves the old set whole
    with file_set(out, "export", [save_name, int8_name, "export.json"]) as files:
        staged = files.path(save_name)
        export_onnx(model, staged, size, metadata)
        checked = parity(model, staged, val_loader, tol, name=fp32)
        report = {"onnx": str(fp32), "bytes": staged.stat().st_size, "macs": macs.macs, "params": macs.params,
                  "parity": checked, "f1_fp32": onnx_f1(staged, val_loader),
                  "ms_fp32_b1": onnx_latencies({"fp32": staged}, size)["fp32"].ms, "int8": None}
        if verbose:
            p = report["parity"]
            print(f"exported {fp32} ({report['bytes'] / 1e3:.0f} kB): parity on {p['images']} val images, max |diff| "
                  f"{p['max_abs_diff']:.1e}, top-1 agreement {p['top1_agreement']:.1%}; ORT macro-F1 "
                  f"{report['f1_fp32']:.4f}, {report['ms_fp32_b1']:.3f} ms/image")
        if int8:
            q = quantize_int8(staged, files.path(int8_name), calibration_loader(bundle))
            ms = onnx_latencies({"fp32": staged, "int8": q}, size)  # side by side: separate timings mislead
            report.update(f1_int8=onnx_f1(q, val_loader), ms_fp32_b1=ms["fp32"].ms, ms_int8_b1=ms["int8"].ms,
                          latency_spread={k: round(t.spread, 4) for k, t in ms.items()})
            keep, why = keep_int8(report["f1_fp32"], report["f1_int8"], ms["fp32"], ms["int8"])
            report.update(int8_kept=keep, int8_reason=why, int8=str(out / int8_name) if keep else None)
            if not keep:
                q.unlink()  # not a member of the new set: an earlier run's INT8 file goes with it
            if verbose:
                print(f"INT8 {'kept' if keep else 'dropped'}: {why}")
        write_json(files.path("export.json"), report)
    return report
