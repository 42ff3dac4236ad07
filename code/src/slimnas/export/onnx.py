"""ONNX export: one self-contained file, dynamic batch axis, metadata a torch-free predictor can read."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import onnx
import torch
import torch.nn as nn

from ..io import atomic_path
from ..onnx_rewrite import global_pooling

OPSET = 18


def export_onnx(model: nn.Module, path: str | Path, input_size: int, metadata: dict | None = None) -> Path:
    """Write ``model`` (eval mode, CPU) to ``path``: input ``input`` N×3×H×W float32, output ``logits``.

    Uses the torch.export-based exporter with the weights embedded (no ``.data`` side file), pools spatial means
    globally (:func:`~slimnas.onnx_rewrite.global_pooling`), checks the graph with ``onnx.checker`` and stores ``metadata`` (each value JSON-encoded) in ``metadata_props``.
    """
    model = model.eval().cpu()
    x = torch.zeros(2, 3, input_size, input_size)  # batch 2, so the exporter does not specialise on 1
    with contextlib.redirect_stdout(io.StringIO()):  # the exporter prints its progress
        program = torch.onnx.export(model, (x,), dynamo=True, external_data=False, opset_version=OPSET,
                                    input_names=["input"], output_names=["logits"],
                                    dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=1024)},), verbose=False)
    proto = program.model_proto
    global_pooling(proto)  # exact; ONNX Runtime keeps the blocked layout through it
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)  # every value JSON, strings too: one rule to read back
    onnx.checker.check_model(proto, full_check=True)
    with atomic_path(path) as tmp:
        onnx.save_model(proto, str(tmp))
    return Path(path)
