"""Parity of an ONNX file with its PyTorch model, and macro-F1 measured with ONNX Runtime (latency: slimnas.latency)."""

from __future__ import annotations

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
