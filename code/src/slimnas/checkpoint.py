"""Checkpoints: one ``.pt`` file of plain data, loaded with ``weights_only=True`` (no pickled code, ever).

Keys: ``state_dict``, ``model`` (the model YAML as a dict), ``classes`` (ordered names),
``preprocessing`` (input_size, resize, mean, std), ``channels`` (the pruned modules' sizes, or None),
``decomposition`` (per-layer spec or None),
``metrics`` (val F1, MACs, ...), and for resuming ``train_state`` (optimizer, scheduler, epoch, history).
Loading rebuilds the model from its YAML, narrows the pruned modules, re-applies the decomposition
structurally, then loads weights.
"""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from .errors import CheckpointError, ConfigError
from .factorized import apply_decomposition
from .io import atomic_path
from .model import ModelConfig, build_model
from .pruned import apply_channels


def save_checkpoint(path: str | Path, model: nn.Module, model_cfg: dict, classes: list[str], preprocessing: dict,
                    metrics: dict | None = None, decomposition: dict | None = None,
                    train_state: dict | None = None, channels: dict | None = None) -> Path:
    ckpt = {
        "format": "slimnas-checkpoint/1",
        # in PyTorch's default layout, whatever layout the model trained in: readers may .view() the tensors
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
        "model": model_cfg,
        "classes": list(classes),
        "preprocessing": preprocessing,
        "channels": channels or None,
        "decomposition": decomposition,
        "metrics": metrics or {},
    }
    if train_state is not None:
        ckpt["train_state"] = train_state
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)
    return Path(path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint as data; anything that would need unpickling code is refused."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    if _is_onnx(path):
        raise CheckpointError(f"{path}: is an ONNX model, not a slimnas checkpoint (.pt); give the best.pt or "
                              f"decomposed.pt it was exported from, or predict with: slimnas-predict {path} IMAGES")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        what = next((line.split("error:")[-1].strip().split(". ")[0] for line in str(e).splitlines()
                     if "Unpickler error" in line), "")
        raise CheckpointError(f"{path}: refused to load: it holds pickled Python objects, not plain weights"
                              f"{f' ({what})' if what else ''}; slimnas never unpickles code, re-save the "
                              f"state_dict with slimnas") from None
    except Exception as e:  # noqa: BLE001 - truncated/corrupt files raise many kinds
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path}: not a slimnas checkpoint (a {type(ckpt).__name__}, not a dict)")
    missing = [k for k in ("state_dict", "model", "classes", "preprocessing") if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: not a slimnas checkpoint (missing {missing})")
    return ckpt


def _is_onnx(path: Path) -> bool:
    """An ONNX file is a protobuf (starts with field 1, ir_version: 0x08) where a torch checkpoint is a zip."""
    if path.suffix.lower() == ".onnx":
        return True
    with open(path, "rb") as f:
        head = f.read(4)
    return head[:1] == b"\x08"


def model_from_checkpoint(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model a checkpoint describes and load its weights; returns (model in eval mode, ckpt)."""
    ckpt = load_checkpoint(path)
    try:
        cfg = ModelConfig.from_dict(ckpt["model"], f"{path} (model)")
        # the weights are in the checkpoint: never fetch pretrained ones (offline that would fail, online waste)
        model = build_model(dataclasses.replace(cfg, pretrained=False), num_classes=len(ckpt["classes"]))
        if ckpt.get("channels"):
            model = apply_channels(model, ckpt["channels"], f"{path} (channels)")  # pruned: narrower modules
    except ConfigError as e:
        raise CheckpointError(str(e)) from None
    if ckpt.get("decomposition"):
        model = apply_decomposition(model, ckpt["decomposition"])  # structure first, then weights
    load_weights(model, ckpt["state_dict"], str(path))
    return model.eval(), ckpt


def compressed_from(ckpt: dict, weight: str | Path | None = None) -> str | None:
    """The trained model a pruned or decomposed checkpoint came from (its distillation teacher), if any, else
    ``weight`` (the file ``ckpt`` was read from, when it is being compressed now)."""
    metrics = ckpt.get("metrics", {})
    source = metrics.get("compressed_from") or metrics.get("decomposed_from") or weight
    return str(source) if source else None


def load_weights(model: nn.Module, state_dict: dict, source: str) -> None:
    """``load_state_dict(strict=True)`` with an error that says which tensors disagree."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    extra = [k for k in state_dict if k not in own]
    shape = [k for k in own if k in state_dict and own[k].shape != state_dict[k].shape]
    if missing or extra or shape:
        details = "; ".join(f"{n}: {v[:3]}{' ...' if len(v) > 3 else ''}" for n, v in
                            (("missing", missing), ("unexpected", extra), ("shape mismatch", shape)) if v)
        raise CheckpointError(f"{source}: weights do not fit this architecture ({details})")
    model.load_state_dict(state_dict)
