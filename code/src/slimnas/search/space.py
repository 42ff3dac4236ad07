"""A search space written in YAML, sampled by an Optuna trial into an ordinary model YAML.

Every value in the space is one of

- a scalar: fixed (``stride: 2``),
- a list: one of its items (``block: [InvertedResidualv2, MBConv]``),
- a mapping ``{low, high[, step][, log]}``: an int or float range (``lr: {low: 1e-3, high: 1e-2, log: true}``).

Layout::

    input_size: [64, 80, 96]
    width_multiple: 1.0
    stem:   {channels: [8, 16], kernel: 3, stride: 2, act: [relu, hswish]}
    stages: # one entry per stage: a block type and its knobs; repeats after the first keep stride 1
      - {block: [...], channels: [...], repeats: {low: 1, high: 2}, stride: 2, expansion: [2, 4],
         kernel: [3, 5], se: [false, true], act: [relu, hswish]}
    head:   {channels: [0, 128], act: relu, dropout: [0.0, 0.2]}   # channels 0: no 1x1 conv before pooling
    train:  {lr: ..., weight_decay: ..., optimizer: [adamw, sgd], batch_size: [32, 64]}   # optional
    start:  # optional: points a new study trains first (Optuna's enqueue_trial), e.g. a candidate known
      - {input_size: 96, stem.channels: 16, stage1.block: MBConv}   # to be good; unnamed knobs are sampled

Parameters are named ``stage2.block``, ``head.dropout``, ``train.lr``... so Optuna's plots and the
dashboard read naturally.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from ..configs import find_config
from ..errors import ConfigError
from ..io import read_yaml
from ..model import ModelConfig
from ..modules import create_act

# The searchable blocks: the stage knobs each one uses, and how they map to its YAML arguments
# (c: channels, k: kernel, t: expansion, s: stride, se: squeeze-excite on/off, act: activation name).
# A knob a block ignores is not sampled for it, so the sampler never learns from a setting that did nothing.
BLOCKS = {
    "Conv": (("kernel", "act"), lambda c, k, t, s, se, act: [c, k, s, act]),
    "DWConv": (("kernel", "act"), lambda c, k, t, s, se, act: [c, k, s, act]),
    "Bottleneck": (("act",), lambda c, k, t, s, se, act: [c, s, 0.5, act]),
    "InvertedResidualv2": (("expansion", "kernel"), lambda c, k, t, s, se, act: [c, t, s, k]),
    "InvertedResidualv3": (("kernel", "expansion", "se", "act"),
                           lambda c, k, t, s, se, act: [c, k, t, int(bool(se)), int(act == "hswish"), s]),
    "MBConv": (("kernel", "expansion", "se"), lambda c, k, t, s, se, act: [c, k, t, s, 0.25 if se else 0]),
    "FusedMBConv": (("kernel", "expansion"), lambda c, k, t, s, se, act: [c, k, t, s]),
    "Fire": ((), lambda c, k, t, s, se, act: [c, max(8, c // 4), s]),
}
BLOCK_ARGS = {name: make for name, (_, make) in BLOCKS.items()}
SHARED_KNOBS = ("channels", "repeats", "stride")  # every block uses these
STAGE_KEYS = {"block", "channels", "repeats", "stride", "expansion", "kernel", "se", "act"}
STAGE_DEFAULTS = {"repeats": 1, "stride": 1, "expansion": 4, "kernel": 3, "se": False, "act": "relu"}
SECTION_KEYS = {
    "stem": ({"channels", "kernel", "stride", "act"}, {"kernel": 3, "stride": 2, "act": "relu"}),
    "head": ({"channels", "act", "dropout"}, {"channels": 0, "act": "relu", "dropout": 0.0}),
    "train": ({"lr", "weight_decay", "optimizer", "batch_size", "warmup_epochs"}, {}),
}
TOP_KEYS = {"input_size", "width_multiple", "depth_multiple", "stem", "stages", "head", "train", "name", "start"}


def _is_range(spec: Any) -> bool:
    return isinstance(spec, dict)


def check_value(spec: Any, where: str) -> None:
    """Fail with a message naming ``where`` unless ``spec`` is a scalar, a non-empty list or a range."""
    if isinstance(spec, list):
        if not spec:
            raise ConfigError(f"{where}: empty choice list (give at least one value)")
        for v in spec:
            if isinstance(v, (list, dict)):
                raise ConfigError(f"{where}: choices must be plain values, got {v!r}")
    elif _is_range(spec):
        unknown = set(spec) - {"low", "high", "step", "log"}
        if unknown or not {"low", "high"} <= set(spec):
            raise ConfigError(f"{where}: a range is {{low, high[, step][, log]}}, got {spec!r}")
        low, high = spec["low"], spec["high"]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)) or low > high:
            raise ConfigError(f"{where}: range needs numbers with low <= high, got {spec!r}")
        if spec.get("log") and low <= 0:
            raise ConfigError(f"{where}: a log range needs low > 0, got {spec!r}")


def choices(spec: Any) -> list:
    """Every value ``spec`` can take that can be listed (ranges give their two ends)."""
    if isinstance(spec, list):
        return spec
    if _is_range(spec):
        return [spec["low"], spec["high"]]
    return [spec]


def suggest(trial: optuna.Trial, name: str, spec: Any) -> Any:
    if isinstance(spec, list):
        return spec[0] if len(spec) == 1 else trial.suggest_categorical(name, spec)
    if _is_range(spec):
        low, high, step, log = spec["low"], spec["high"], spec.get("step"), bool(spec.get("log", False))
        if isinstance(low, int) and isinstance(high, int) and (step is None or isinstance(step, int)):
            return trial.suggest_int(name, low, high, step=step or 1, log=log)
        return trial.suggest_float(name, float(low), float(high), step=step, log=log)
    return spec


@dataclass
class SearchSpace:
    input_size: Any
    stages: list[dict]
    stem: dict = field(default_factory=dict)
    head: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    width_multiple: Any = 1.0
    depth_multiple: Any = 1.0
    name: str | None = None
    start: list[dict] = field(default_factory=list)  # parameter values to train first, by parameter name
    source: str = "<search space>"

    @classmethod
    def from_dict(cls, data: Any, source: str = "<search space>") -> "SearchSpace":
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: a search space must be a mapping")
        _check_keys(data, TOP_KEYS, source)
        if "stages" not in data or "input_size" not in data:
            raise ConfigError(f"{source}: 'input_size' and 'stages' are required")
        if not isinstance(data["stages"], list) or not data["stages"]:
            raise ConfigError(f"{source}: 'stages' must be a non-empty list of stage mappings")
        for key in ("input_size", "width_multiple", "depth_multiple"):
            if key in data:
                check_value(data[key], f"{source}: {key}")
        sections = {}
        for sec, (keys, defaults) in SECTION_KEYS.items():
            raw = data.get(sec) or {}
            if not isinstance(raw, dict):
                raise ConfigError(f"{source}: '{sec}' must be a mapping")
            _check_keys(raw, keys, f"{source}: {sec}")
            for k, v in raw.items():
                check_value(v, f"{source}: {sec}.{k}")
            sections[sec] = {**defaults, **raw}
        if "channels" not in sections["stem"]:
            raise ConfigError(f"{source}: stem.channels is required")
        stages = []
        for i, st in enumerate(data["stages"]):
            where = f"{source}: stages[{i}]"
            if not isinstance(st, dict):
                raise ConfigError(f"{where}: must be a mapping with {sorted(STAGE_KEYS)}")
            _check_keys(st, STAGE_KEYS, where)
            for k in ("block", "channels"):
                if k not in st:
                    raise ConfigError(f"{where}: '{k}' is required")
            for k, v in st.items():
                check_value(v, f"{where}.{k}")
            for b in choices(st["block"]):
                if b not in BLOCK_ARGS:
                    hint = difflib.get_close_matches(str(b), BLOCK_ARGS, 1)
                    raise ConfigError(f"{where}.block: unknown block {b!r}"
                                      + (f"; did you mean {hint[0]!r}?" if hint else f" (searchable: {', '.join(BLOCK_ARGS)})"))
            stages.append({**STAGE_DEFAULTS, **st})
        for where, sec in [("stem", sections["stem"]), ("head", sections["head"]),
                           *((f"stages[{i}]", st) for i, st in enumerate(stages))]:
            for act in choices(sec.get("act")):
                try:
                    create_act(act)
                except ValueError as e:
                    raise ConfigError(f"{source}: {where}.act: {e}") from None
        space = cls(input_size=data["input_size"], stages=stages, stem=sections["stem"], head=sections["head"],
                    train=sections["train"], width_multiple=data.get("width_multiple", 1.0),
                    depth_multiple=data.get("depth_multiple", 1.0), name=data.get("name"), source=source)
        space.start = _check_start(data.get("start") or [], space.params(), source)
        return space

    def params(self) -> dict[str, Any]:
        """Every parameter of the space by its Optuna name, with its spec (a block's unused knobs included)."""
        named = {"input_size": self.input_size, "width_multiple": self.width_multiple,
                 "depth_multiple": self.depth_multiple}
        named |= {f"stem.{k}": v for k, v in self.stem.items()} | {f"head.{k}": v for k, v in self.head.items()}
        named |= {f"train.{k}": v for k, v in self.train.items()}
        for i, st in enumerate(self.stages, 1):
            named |= {f"stage{i}.{k}": v for k, v in st.items()}
        return named

    def random_configs(self, n: int, seed: int = 0) -> list[ModelConfig]:
        """``n`` architectures drawn uniformly at random (Optuna's RandomSampler), e.g. to calibrate a latency table."""
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        return [self.sample(study.ask())[0] for _ in range(n)]

    def sample(self, trial: optuna.Trial) -> tuple[ModelConfig, dict]:
        """An architecture (as a model config) and the training hyper-parameters for ``trial``."""
        stem = {k: suggest(trial, f"stem.{k}", v) for k, v in self.stem.items()}
        backbone: list = [[1, "Conv", [stem["channels"], stem["kernel"], stem["stride"], stem["act"]]]]
        for i, st in enumerate(self.stages, 1):
            block = suggest(trial, f"stage{i}.block", st["block"])
            used = {*SHARED_KNOBS, *BLOCKS[block][0]}
            p = {k: suggest(trial, f"stage{i}.{k}", v) if k in used else _unused(v)
                 for k, v in st.items() if k != "block"}
            p["block"] = block
            args = BLOCK_ARGS[p["block"]](p["channels"], p["kernel"], p["expansion"], p["stride"], p["se"], p["act"])
            backbone.append([p["repeats"], p["block"], args])
        head = {k: suggest(trial, f"head.{k}", v) for k, v in self.head.items()}
        if head["channels"]:
            backbone.append([1, "Conv", [head["channels"], 1, 1, head["act"]]])
        backbone += [[1, "GlobalAvgPool", []], [1, "Flatten", []], [1, "Linear", ["num_classes", None, head["dropout"]]]]
        cfg = ModelConfig(backbone=backbone, input_size=int(suggest(trial, "input_size", self.input_size)),
                          width_multiple=float(suggest(trial, "width_multiple", self.width_multiple)),
                          depth_multiple=float(suggest(trial, "depth_multiple", self.depth_multiple)),
                          name=f"{self.name or Path(self.source).stem}-trial{trial.number}",
                          source=f"{self.source} (trial {trial.number})")
        hparams = {k: suggest(trial, f"train.{k}", v) for k, v in self.train.items()}
        return cfg, hparams


def _unused(spec: Any) -> Any:
    """A knob's value when the block ignores it: any valid one (it changes nothing), never sampled."""
    return choices(spec)[0]


def _allows(spec: Any, value: Any) -> bool:
    if _is_range(spec):
        return isinstance(value, (int, float)) and not isinstance(value, bool) and spec["low"] <= value <= spec["high"]
    return value in (spec if isinstance(spec, list) else [spec])


def _check_start(start: Any, params: dict[str, Any], source: str) -> list[dict]:
    """The ``start`` points, each a mapping of parameter names to values the space allows."""
    if not isinstance(start, list) or not all(isinstance(p, dict) for p in start):
        raise ConfigError(f"{source}: 'start' must be a list of mappings of parameter names to values")
    for i, point in enumerate(start):
        _check_keys(point, set(params), f"{source}: start[{i}]")
        for name, value in point.items():
            if not _allows(params[name], value):
                raise ConfigError(f"{source}: start[{i}].{name}: {value!r} is not in the space ({params[name]!r})")
    return start


def _check_keys(data: dict, known: set, where: str) -> None:
    for k in data:
        if k not in known:
            hint = difflib.get_close_matches(str(k), known, 1)
            raise ConfigError(f"{where}: unknown key {k!r}" + (f"; did you mean {hint[0]!r}?" if hint else
                                                               f" (known: {', '.join(sorted(known))})"))


def load_search_space(path: str | Path) -> SearchSpace:
    """A search-space YAML by path, or a packaged one by name (``default``)."""
    path = find_config(path, "search")
    return SearchSpace.from_dict(read_yaml(path), source=str(path))

