"""Static INT8 (QDQ) quantisation with ONNX Runtime's tools, kept only where it pays.

Dynamic quantisation only quantises MatMul/Gemm weights and leaves convolutions in float, so it does
nothing for CNNs; static quantisation calibrates activation ranges on training images instead.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

from ..io import atomic_path
from ..latency.measure import Timing
from .check import batches


class _Reader(CalibrationDataReader):
    def __init__(self, loader, limit: int):
        self._it = iter([{"input": x} for x, _ in batches(loader, limit)])

    def get_next(self):
        return next(self._it, None)


def quantize_int8(fp32: str | Path, out: str | Path, calibration_loader, n_images: int = 256) -> Path:
    """Pre-process (shape inference, fusions), then per-channel QDQ INT8 calibrated on ``n_images``."""
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        with atomic_path(out) as dst:
            quantize_static(str(pre), str(dst), _Reader(calibration_loader, n_images), quant_format=QuantFormat.QDQ,
                            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax)
    return Path(out)


def keep_int8(f1_fp32: float, f1_int8: float, fp32: Timing, int8: Timing, max_f1_drop: float = 0.01) -> tuple[bool, str]:
    """INT8 stays only when it is faster by more than the timing's spread and loses at most ``max_f1_drop`` macro-F1.

    ``fp32`` and ``int8`` must come from one interleaved measurement (slimnas.latency.measure).
    """
    timed = (f"{int8.ms:.3f} ms vs FP32 {fp32.ms:.3f} ms, interleaved over {fp32.rounds} rounds, "
             f"spread ±{max(fp32.spread, int8.spread) / 2:.1%}")
    if int8.ms * (1 + max(fp32.spread, int8.spread) / 2) >= fp32.ms:
        return False, f"INT8 is not clearly faster ({timed})"
    if f1_fp32 - f1_int8 > max_f1_drop:
        return False, f"INT8 loses {f1_fp32 - f1_int8:.3f} macro-F1 (> {max_f1_drop})"
    return True, f"INT8 {fp32.ms / int8.ms:.2f}x faster ({timed}), F1 {f1_int8 - f1_fp32:+.4f}"


