"""Static INT8 (QDQ) quantisation with ONNX Runtime's tools, kept only where it pays.

Dynamic quantisation only quantises MatMul/Gemm weights and leaves convolutions in float, so it does
nothing for CNNs; static quantisation calibrates activation ranges on training images instead.

Where the whole-model INT8 loses more validation F1 than allowed, :func:`quantize_with_fallback` keeps the
layers that cost the most F1 in float, one at a time, as NNCF's accuracy-aware quantisation does: on a trained
vgg_small the stem (a 3-channel input quantised to 8 bits) held most of the loss.

Some convolutions run *slower* in INT8 on ONNX Runtime's CPU kernels: grouped and depthwise ones, and a stem on
3 channels (bench/int8.py profiled the `tiny` space's start point at 1 thread, batch 32: its grouped conv 21.7 ms
in INT8 against 3.1 ms in float, its stem 6.0 against 2.7). :func:`slow_in_int8` names them, so the export can
time the model with them kept float beside the all-INT8 one and keep whichever runs faster.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

import onnx
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

from ..io import atomic_path
from ..latency.measure import Timing
from .check import batches

WEIGHTED_OPS = ("Conv", "Gemm", "MatMul")  # the layers a fallback may keep in float
FEW_CHANNELS = 8  # a conv on fewer input channels than this (a stem on RGB) fills too little of an INT8 kernel


class _Reader(CalibrationDataReader):
    def __init__(self, loader, limit: int):
        self._it = iter([{"input": x} for x, _ in batches(loader, limit)])

    def get_next(self):
        return next(self._it, None)


def slow_in_int8(model: onnx.ModelProto) -> list[str]:
    """The Conv nodes of ``model`` whose kind ONNX Runtime runs slower quantised: grouped or depthwise
    (``group`` > 1), or on fewer than :data:`FEW_CHANNELS` input channels."""
    weights = {w.name: w for w in model.graph.initializer}
    slow = []
    for n in model.graph.node:
        if n.op_type != "Conv" or n.input[1] not in weights:
            continue
        group = next((a.i for a in n.attribute if a.name == "group"), 1)
        if group > 1 or weights[n.input[1]].dims[1] < FEW_CHANNELS:  # weight: (out, in / group, k, k)
            slow.append(n.name)
    return slow


def _quantize(pre: Path, out: Path, calibration_loader, n_images: int, keep_float: list[str]) -> None:
    quantize_static(str(pre), str(out), _Reader(calibration_loader, n_images), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=keep_float)


def quantize_int8(fp32: str | Path, out: str | Path, calibration_loader, n_images: int = 256,
                  skip_slow: bool = False) -> tuple[Path, list[str]]:
    """Pre-process (shape inference, fusions), then per-channel QDQ INT8 calibrated on ``n_images``; with
    ``skip_slow`` the layers :func:`slow_in_int8` names stay float. Returns the file and the layers kept float."""
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        keep = slow_in_int8(onnx.load(str(pre))) if skip_slow else []
        with atomic_path(out) as dst:
            _quantize(pre, Path(dst), calibration_loader, n_images, keep)
    return Path(out), keep


def quantize_with_fallback(fp32: str | Path, out: str | Path, calibration_loader, score: Callable[[Path], float],
                           f1_fp32: float, max_f1_drop: float = 0.01, max_float: int = 3,
                           n_images: int = 256, f1_all: float | None = None,
                           skip_slow: bool = False) -> tuple[Path, dict]:
    """INT8 of every layer; if its ``score`` (validation macro-F1) is more than ``max_f1_drop`` below ``f1_fp32``,
    measure each weighted layer's cost (the F1 with that layer alone kept float) and keep the costliest in float,
    one more at a time, until the F1 is within the drop or ``max_float`` layers are float.

    ``f1_all``: the all-INT8 F1 when it is known already. ``skip_slow``: the layers :func:`slow_in_int8` names
    are float from the start (and not counted in ``max_float``). Returns the INT8 file and a report: ``f1_int8``,
    ``float_layers`` (those the F1 asked for) and every F1 measured (``tried``).
    """
    with tempfile.TemporaryDirectory() as tmp:
        pre, trial = Path(tmp) / "pre.onnx", Path(tmp) / "trial.onnx"
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        slow = slow_in_int8(onnx.load(str(pre))) if skip_slow else []

        def f1_with(keep_float: list[str]) -> float:
            _quantize(pre, trial, calibration_loader, n_images, slow + keep_float)
            return score(trial)

        keep: list[str] = []
        f1 = f1_with(keep) if f1_all is None else f1_all
        tried = {"(all INT8)" if not slow else "(INT8 but the slow kinds)": round(f1, 4)}
        if f1_fp32 - f1 > max_f1_drop:
            layers = [n.name for n in onnx.load(str(pre)).graph.node if n.op_type in WEIGHTED_OPS and n.name not in slow]
            alone = {name: f1_with([name]) for name in layers}  # each layer's cost, measured once
            tried.update({f"{name} float": round(v, 4) for name, v in alone.items()})
            for name in sorted(layers, key=lambda n: -alone[n])[:max_float]:
                keep.append(name)
                f1 = alone[name] if len(keep) == 1 else f1_with(keep)
                tried[" + ".join(keep) + " float"] = round(f1, 4)
                if f1_fp32 - f1 <= max_f1_drop:
                    break
        with atomic_path(out) as dst:
            _quantize(pre, Path(dst), calibration_loader, n_images, slow + keep)
    return Path(out), {"f1_int8": f1, "float_layers": keep, "tried": tried}


def clearly_faster(fp32: Timing, int8: Timing) -> bool:
    """INT8 is faster by more than half the larger spread of two timings from one interleaved measurement."""
    return int8.ms * (1 + max(fp32.spread, int8.spread) / 2) < fp32.ms


def keep_int8(f1_fp32: float, f1_int8: float, fp32: Timing, int8: Timing, max_f1_drop: float = 0.01) -> tuple[bool, str]:
    """INT8 stays only when it is faster by more than the timing's spread and loses at most ``max_f1_drop`` macro-F1.

    ``fp32`` and ``int8`` must come from one interleaved measurement (slimnas.latency.measure).
    """
    timed = (f"{int8.ms:.3f} ms vs FP32 {fp32.ms:.3f} ms, interleaved over {fp32.rounds} rounds, "
             f"spread ±{max(fp32.spread, int8.spread) / 2:.1%}")
    if not clearly_faster(fp32, int8):
        return False, f"INT8 is not clearly faster ({timed})"
    if f1_fp32 - f1_int8 > max_f1_drop:
        return False, f"INT8 loses {f1_fp32 - f1_int8:.3f} macro-F1 (> {max_f1_drop})"
    return True, f"INT8 {fp32.ms / int8.ms:.2f}x faster ({timed}), F1 {f1_int8 - f1_fp32:+.4f}"
