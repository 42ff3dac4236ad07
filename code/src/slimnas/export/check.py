"""Parity of an ONNX file with its PyTorch model, and macro-F1 / latency measured with ONNX Runtime."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ..errors import SlimnasError
from ..runtime import make_session as session
from ..train.metrics import macro_f1


class ParityError(SlimnasError):
    """The exported model does not compute what the PyTorch model computes."""


def batches(loader, limit: int | None = None):
    """(float32 N×3×H×W numpy, labels) from a torch DataLoader, at most ``limit`` images."""
    seen = 0
    for x, y in loader:
        yield x.numpy().astype(np.float32), y.numpy()
        seen += len(y)
        if limit and seen >= limit:
            return


def parity(model: nn.Module, path: str | Path, loader, tol: float = 1e-4, limit: int = 256,
           name: str | Path | None = None) -> dict:
    """Max |logit difference| and top-1 agreement on real images; ``ParityError`` past ``tol``, naming
    ``name`` (the file the user will see; ``path`` may be a staged temp file)."""
    sess, model = session(path), model.eval().cpu()
    worst, agree, n = 0.0, 0, 0
    with torch.no_grad():
        for x, _ in batches(loader, limit):
            ref = model(torch.from_numpy(x)).numpy()
            got = sess.run(None, {"input": x})[0]
            worst = max(worst, float(np.abs(ref - got).max()))
            agree += int((ref.argmax(1) == got.argmax(1)).sum())
            n += len(x)
    result = {"images": n, "max_abs_diff": worst, "top1_agreement": agree / max(n, 1)}
    if worst > tol:
        raise ParityError(f"{name or path}: ONNX logits differ from PyTorch by up to {worst:.2e} (> {tol:.0e}) on {n} "
                          f"validation images; top-1 agreement {result['top1_agreement']:.1%}"
                          f"{'; the file was not written' if name else ''}")
    return result


def onnx_f1(path: str | Path, loader) -> float:
    sess = session(path)
    ys, ps = [], []
    for x, y in batches(loader):
        ps.append(sess.run(None, {"input": x})[0].argmax(1))
        ys.append(y)
    return macro_f1(np.concatenate(ys), np.concatenate(ps))


def onnx_latency(path: str | Path, input_size: int, batch: int = 1) -> float:
    """Median ms per call (after warm-up) at ``batch``."""
    return onnx_latencies({"model": path}, input_size, batch)["model"]


def onnx_latencies(paths: dict[str, str | Path], input_size: int | dict[str, int], batch: int = 1,
                   threads: int | None = None, rounds: int = 7, reps: int = 20) -> dict[str, float]:
    """Median ms per call of each ONNX file at ``batch``, timed interleaved (see ``interleaved_latency``).

    Comparing two files by separate measurements is unreliable on a shared machine: in one run FP32 timed
    alone looked 2x slower than INT8, and 0.9x when the two were interleaved.
    """
    calls = {}
    for name, path in paths.items():
        size = input_size[name] if isinstance(input_size, dict) else input_size
        sess = session(path, threads=threads)
        x = np.random.default_rng(0).normal(size=(batch, 3, size, size)).astype(np.float32)
        calls[name] = lambda s=sess, x=x: s.run(None, {"input": x})
    return interleaved_latency(calls, rounds, reps)


def interleaved_latency(fns: dict, rounds: int = 7, reps: int = 20) -> dict[str, float]:
    """Median milliseconds per call of each ``fns[name]()``, the candidates interleaved round by round.

    Interleaving puts every candidate under the same machine noise, so their ratio is fair.
    """
    for fn in fns.values():  # warm-up: first calls allocate
        fn()
        fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(reps):
                fn()
            samples[name].append((time.perf_counter() - t0) * 1e3 / reps)
    return {name: statistics.median(v) for name, v in samples.items()}
