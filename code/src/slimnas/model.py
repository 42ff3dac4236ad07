"""Model YAML → ``nn.Module``: the one place that does channel, width and depth arithmetic.

Format (the seed's, after YOLOv5's ``parse_model``)::

    input_channel: 3
    depth_multiple: 1.0       # repeats n → max(round(n * depth), 1)
    width_multiple: 1.0       # channels c → make_divisible(c * width, 8)
    backbone:                 # [repeat, Module, [args]]; the YAML gives output channels only
      - [1, Conv, [16, 3, 2]]
      - ...
      - [1, Linear, [num_classes]]

or a timm model: ``timm: mobilenetv3_small_050`` with optional ``pretrained`` and ``kwargs``.
The last entry produces the logits; its width is always the data's class count.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from .configs import find_config
from .errors import ConfigError
from .io import read_yaml
from .modules import get_module, make_divisible

NUM_CLASSES = "num_classes"


# timm.create_model keywords a model YAML (or a checkpoint's copy of it) may not set: they load files,
# fetch weights or change what slimnas controls itself
TIMM_RESERVED = {
    "pretrained": "use the top-level 'pretrained:' key",
    "pretrained_cfg": "slimnas never loads weights from a config (a checkpoint carries its own)",
    "pretrained_cfg_overlay": "slimnas never loads weights from a config (a checkpoint carries its own)",
    "checkpoint_path": "load weights through a slimnas checkpoint (train.py --resume, --weight)",
    "cache_dir": "slimnas never downloads weights into a cache",
    "num_classes": "the class count comes from the data",
    "in_chans": "use the top-level 'input_channel:' key",
    "features_only": "a slimnas model ends in class logits",
}


def _plain(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


@dataclass
class ModelConfig:
    """A checked model YAML. ``source`` names the file in error messages and is not serialised."""

    backbone: list | None = None
    input_channel: int = 3
    depth_multiple: float = 1.0
    width_multiple: float = 1.0
    timm: str | None = None
    pretrained: bool = False
    kwargs: dict = field(default_factory=dict)
    name: str | None = None
    input_size: int | None = None  # the resolution the model was designed (searched) for; train.py uses it
    source: str = field(default="<model config>", compare=False)

    @classmethod
    def from_dict(cls, data: Any, source: str = "<model config>") -> "ModelConfig":
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: a model YAML must be a mapping, got {type(data).__name__}")
        known = {f.name for f in fields(cls)} - {"source"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {unknown} (known: {sorted(known)})")
        cfg = cls(**data, source=source)
        if (cfg.backbone is None) == (cfg.timm is None):
            raise ConfigError(f"{source}: give exactly one of 'backbone' (a slimnas model) or 'timm' (a timm model name)")
        if cfg.backbone is not None and (not isinstance(cfg.backbone, list) or not cfg.backbone):
            raise ConfigError(f"{source}: 'backbone' must be a non-empty list of [repeat, Module, [args]]")
        for key in ("depth_multiple", "width_multiple"):
            v = getattr(cfg, key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                raise ConfigError(f"{source}: {key} must be a positive number, got {v!r}")
        if cfg.input_size is not None and (isinstance(cfg.input_size, bool) or not isinstance(cfg.input_size, int)
                                           or cfg.input_size < 8):
            raise ConfigError(f"{source}: input_size must be an integer >= 8, got {cfg.input_size!r}")
        if not isinstance(cfg.kwargs, dict):
            raise ConfigError(f"{source}: 'kwargs' must be a mapping")
        if cfg.kwargs and cfg.timm is None:
            raise ConfigError(f"{source}: 'kwargs' are for timm models; a backbone model takes its arguments per entry")
        for key, value in cfg.kwargs.items():
            if key in TIMM_RESERVED:
                raise ConfigError(f"{source}: kwargs.{key} is not allowed: {TIMM_RESERVED[key]}")
            if not _plain(value):
                raise ConfigError(f"{source}: kwargs.{key} must be plain data (numbers, strings, lists), got {value!r}")
        return cfg

    def to_dict(self) -> dict:
        """Plain data (for YAML files and checkpoints); only keys that differ from the defaults."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name != "source" and v != (f.default_factory() if callable(f.default_factory) else f.default):
                out[f.name] = v
        return out


def load_model_config(path: str | Path) -> ModelConfig:
    """A model YAML by path, or a packaged one by name (``baseline``)."""
    path = find_config(path, "model")
    return ModelConfig.from_dict(read_yaml(path), source=str(path))


class SlimNet(nn.Module):
    """A model built from a YAML backbone; ``backbone.<i>`` is YAML entry ``i``."""

    def __init__(self, layers: list[nn.Module], table: list[dict]):
        super().__init__()
        self.backbone = nn.Sequential(*layers)
        self.table = table  # one row per YAML entry, for printing (not state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)


def build_model(
    cfg: ModelConfig | dict | str | Path,
    num_classes: int | None = None,
    input_size: int | tuple[int, int] | None = None,
    verbose: bool = False,
) -> nn.Module:
    """Build a model; with ``input_size`` a dry run checks every entry's shapes and names the one that fails."""
    if isinstance(cfg, (str, Path)):
        cfg = load_model_config(cfg)
    elif isinstance(cfg, dict):
        cfg = ModelConfig.from_dict(cfg)
    model = _build_timm(cfg, num_classes) if cfg.timm else _build_yaml(cfg, num_classes)
    if input_size is not None:
        _dry_run(model, cfg, input_size, num_classes)
    if verbose:
        print(layer_table(model))
    return model


def check_model_config(cfg: ModelConfig, input_size: int) -> None:
    """Build ``cfg`` once on a dummy image (no weights downloaded) so a bad YAML fails before any data work."""
    if cfg.timm:
        cfg = dataclasses.replace(cfg, pretrained=False)
    build_model(cfg, num_classes=2, input_size=cfg.input_size or input_size)


def _entry_error(cfg: ModelConfig, i: int, row: Any, reason: str) -> ConfigError:
    return ConfigError(f"{cfg.source}: backbone[{i}] {row!r}: {reason}")


def _build_yaml(cfg: ModelConfig, num_classes: int | None) -> SlimNet:
    c = cfg.input_channel
    layers, table = [], []
    last = len(cfg.backbone) - 1
    for i, row in enumerate(cfg.backbone):
        if not (isinstance(row, list) and len(row) == 3 and isinstance(row[2], list)):
            raise _entry_error(cfg, i, row, "expected [repeat, Module, [args]]")
        n, name, args = row
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise _entry_error(cfg, i, row, f"repeat must be a positive integer, got {n!r}")
        try:
            spec = get_module(name)
        except KeyError as e:
            raise _entry_error(cfg, i, row, e.args[0]) from None
        n = max(round(n * cfg.depth_multiple), 1) if n > 1 else n
        call_args, c_out = _resolve_args(cfg, i, row, spec.kind, c, args, num_classes, is_last=i == last)
        sig = inspect.signature(spec.cls)
        try:
            sig.bind(*call_args)
        except TypeError as e:
            shown = str(sig).replace("c_in: int, ", "") if spec.kind != "shape" else str(sig)
            raise _entry_error(cfg, i, row, f"wrong arguments for {name}{shown}: {e}") from None
        blocks = []
        for r in range(n):
            a = list(call_args)
            if r > 0 and spec.kind != "shape":
                a[0] = c_out  # later repeats chain output to output, at stride 1
            bound = sig.bind(*a)
            if r > 0 and "s" in sig.parameters:
                bound.arguments["s"] = 1
            try:
                blocks.append(spec.cls(*bound.args, **bound.kwargs))
            except (TypeError, ValueError, RuntimeError) as e:
                raise _entry_error(cfg, i, row, f"cannot build {name} with {list(bound.args)}: {e}") from None
        module = blocks[0] if n == 1 else nn.Sequential(*blocks)
        layers.append(module)
        table.append({"index": i, "n": n, "params": sum(p.numel() for p in module.parameters()),
                      "module": name, "args": call_args[1:] if spec.kind != "shape" else call_args,
                      "c_in": c, "c_out": c_out})
        c = c_out
    return SlimNet(layers, table)


def _resolve_args(cfg, i, row, kind, c_in, args, num_classes, is_last):
    """Turn YAML args into constructor args: prepend c_in, scale the width, fill in ``num_classes``."""
    if kind == "shape":
        return list(args), c_in
    if not args:
        raise _entry_error(cfg, i, row, "the first argument must be the output channels")
    width = args[0]
    if width == NUM_CLASSES or (is_last and num_classes is not None):
        if num_classes is None:
            raise _entry_error(cfg, i, row, "uses num_classes but no class count was given")
        c_out = num_classes
    elif isinstance(width, bool) or not isinstance(width, int) or width <= 0:
        raise _entry_error(cfg, i, row, f"output channels must be a positive integer or 'num_classes', got {width!r}")
    elif kind == "block":
        c_out = make_divisible(width * cfg.width_multiple, 8)
    else:
        c_out = width
    return [c_in, c_out, *args[1:]], c_out


def _dry_run(model: nn.Module, cfg: ModelConfig, input_size, num_classes: int | None) -> None:
    """Push one dummy image through, entry by entry, so a shape mistake names its YAML entry."""
    h, w = (input_size, input_size) if isinstance(input_size, int) else input_size
    x = torch.zeros(1, cfg.input_channel, h, w)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            if isinstance(model, SlimNet):
                for i, layer in enumerate(model.backbone):
                    shape = tuple(x.shape)
                    try:
                        x = layer(x)
                    except Exception as e:  # noqa: BLE001 - any failure here is a config mistake
                        raise _entry_error(cfg, i, cfg.backbone[i], f"fails on input {shape}: {e}") from None
            else:
                x = model(x)
    finally:
        model.train(was_training)
    if num_classes is not None and tuple(x.shape) != (1, num_classes):
        raise ConfigError(f"{cfg.source}: the model outputs {tuple(x.shape)} for one {h}x{w} image, expected "
                          f"(1, {num_classes}); end the backbone with GlobalAvgPool, Flatten and a Linear head")


def _build_timm(cfg: ModelConfig, num_classes: int | None) -> nn.Module:
    import timm

    name = cfg.timm
    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=3)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise ConfigError(f"{cfg.source}: unknown timm model {name!r}{hint}")
    # like timm's own factory: unset options never override the model's defaults
    kwargs = {k: v for k, v in {**cfg.kwargs, "num_classes": num_classes}.items() if v is not None}
    kwargs.setdefault("in_chans", cfg.input_channel)
    try:
        return timm.create_model(name, pretrained=bool(cfg.pretrained), **kwargs)
    except TypeError as e:
        raise ConfigError(f"{cfg.source}: timm model {name!r} rejects kwargs {cfg.kwargs}: {e}") from None
    except Exception as e:  # noqa: BLE001 - download failures come in many types
        if cfg.pretrained:
            raise ConfigError(
                f"{cfg.source}: could not load pretrained weights for timm model {name!r} "
                f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}). slimnas never needs a download: "
                f"set 'pretrained: false', or put the weights in the Hugging Face cache on a connected machine first"
            ) from None
        raise


def layer_table(model: nn.Module) -> str:
    """A per-layer table (index, repeats, params, module, args) like YOLOv5's model summary."""
    lines = [f"{'':>4}{'n':>4}{'params':>11}  {'module':<22}{'in→out':>12}  arguments"]
    if isinstance(model, SlimNet):
        for r in model.table:
            io = f"{r['c_in']}→{r['c_out']}"
            lines.append(f"{r['index']:>4}{r['n']:>4}{r['params']:>11,}  {r['module']:<22}{io:>12}  {r['args']}")
    else:
        for i, (name, m) in enumerate(model.named_children()):
            lines.append(f"{i:>4}{1:>4}{sum(p.numel() for p in m.parameters()):>11,}  {name:<22}{'':>12}  {type(m).__name__}")
    total = sum(p.numel() for p in model.parameters())
    lines.append(f"{'':>8}{total:>11,}  total parameters")
    return "\n".join(lines)
