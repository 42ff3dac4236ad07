"""Training: one call from a model YAML and a data YAML to a checkpoint and its metrics."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..settings import from_dict
from ..data.config import DataConfig, build_data, load_data_config, prepare_data
from ..errors import ConfigError
from ..io import read_yaml, run_lock, write_json, write_yaml
from ..macs import count_macs
from ..model import ModelConfig, build_model, check_model_config, layer_table, load_model_config
from ..checkpoint import load_checkpoint, load_weights, model_from_checkpoint, save_checkpoint
from .evaluate import split_f1
from .losses import check_teacher
from .loop import TrainConfig, TrainingDiverged, TrainResult, check_train_config, fit, seed_everything

__all__ = ["RUN_FILES", "TrainConfig", "TrainResult", "TrainingDiverged", "fit", "increment_path", "load_checkpoint",
           "model_from_checkpoint", "resume_training", "save_checkpoint", "train"]


# what a train run leaves in its folder: a folder holding one of these holds a run (refused unless --exist-ok)
RUN_FILES = ("best.pt", "last.pt", "model.yaml", "data.yaml", "train.yaml", "results.json", "metrics.csv",
             "confusion_matrix.csv", "per_class.csv")


def increment_path(path: str | Path) -> Path:
    """``runs/train/exp`` → the first of ``exp``, ``exp2``, ``exp3``, ... that does not exist yet."""
    path = Path(path)
    if not path.exists():
        return path
    n = 2
    while path.with_name(f"{path.name}{n}").exists():
        n += 1
    return path.with_name(f"{path.name}{n}")


def train(model: str | Path | ModelConfig, data: str | Path | DataConfig | None, out: str | Path,
          cfg: TrainConfig | None = None, resume: str | Path | None = None, verbose: bool = True) -> TrainResult:
    """Check the configs, prepare the data, build the model, count MACs, train, write everything into ``out``.

    Every config is checked (the model built once on a dummy input) before any data is read or
    generated, so a bad YAML fails in seconds even on a cold data cache.
    """
    cfg = cfg or TrainConfig()
    check_train_config(cfg)
    data_cfg = data if isinstance(data, DataConfig) else load_data_config(data)
    model_cfg = model if isinstance(model, ModelConfig) else load_model_config(model)
    if model_cfg.input_size and model_cfg.input_size != data_cfg.img_size:
        if verbose:
            print(f"model {model_cfg.source} was designed for {model_cfg.input_size}px: img_size "
                  f"{data_cfg.img_size} -> {model_cfg.input_size}")
        data_cfg = dataclasses.replace(data_cfg, img_size=model_cfg.input_size)
    check_model_config(model_cfg, data_cfg.img_size)
    out = Path(out)
    initial = load_checkpoint(cfg.initial_checkpoint) if cfg.initial_checkpoint and not resume else None
    with run_lock(out):
        prepare_data(data_cfg)
        bundle = build_data(data_cfg)
        if cfg.teacher:  # refused before anything is written: a failed start leaves the folder as it was
            check_teacher(cfg.teacher, bundle)
        seed_everything(cfg.seed)  # weight init is part of what the seed fixes
        net = build_model(model_cfg, num_classes=len(bundle.classes), input_size=data_cfg.img_size)
        if initial is not None:
            start_from(net, initial, cfg.initial_checkpoint, bundle.classes)
        macs = count_macs(net, data_cfg.img_size, per_layer=verbose)
        if verbose:
            print(layer_table(net))
            print(macs.table())
            trained_on = f"{len(bundle.train)} train + {len(bundle.val)} val (final fit)" if cfg.final_fit else \
                f"{len(bundle.train)} train / {len(bundle.val)} val"
            print(f"data: {data_cfg.kind} {len(bundle.classes)} classes, {trained_on} images at {data_cfg.img_size}px")
        def write_configs() -> None:  # with the first checkpoint: a run that fails before it writes nothing
            write_yaml(out / "model.yaml", model_cfg.to_dict())
            write_yaml(out / "data.yaml", data_cfg.to_dict())
            write_yaml(out / "train.yaml", train_settings(cfg))

        result = fit(net, bundle, cfg, out, model_cfg.to_dict(), resume=resume,
                     before_first_save=None if resume else write_configs,  # a resumed run keeps its configs
                     metrics={"macs": macs.macs, "params": macs.params, "macs_convention": macs.convention})
        test_f1 = score_test_split(out, bundle)
    if verbose:
        tested = f", test macro-F1 {test_f1:.4f}" if test_f1 is not None else ""
        chosen = (f"last epoch {result.selected_epoch} (final fit; val trained on: macro-F1 {result.selected_f1:.4f})"
                  if cfg.final_fit else f"best val macro-F1 {result.selected_f1:.4f} (epoch {result.selected_epoch})")
        print(f"{chosen}{tested} at {macs.macs / 1e6:.2f} M "
              f"MACs, {macs.params / 1e3:.1f} k params, {result.seconds:.0f} s -> {out / 'best.pt'}")
    return result


def start_from(net, ckpt: dict, path: str, classes: list[str]) -> None:
    """Load ``path``'s weights into ``net``: same labels in the same order, and the same architecture."""
    theirs = list(ckpt.get("classes") or [])
    if theirs != list(classes):
        differ = "in another order" if sorted(theirs) == sorted(classes) else f"{len(theirs)} labels, not these {len(classes)}"
        raise ConfigError(f"--initial-checkpoint {path}: trained on other labels ({differ}); start from a checkpoint "
                          f"of this data")
    if ckpt.get("decomposition") or ckpt.get("channels"):
        raise ConfigError(f"--initial-checkpoint {path}: a decomposed or pruned model, not this model YAML's; "
                          f"fine-tune it with slimnas finetune")
    load_weights(net, ckpt["state_dict"], f"--initial-checkpoint {path}")


def score_test_split(out: Path, bundle) -> float | None:
    """Macro-F1 of ``out/best.pt`` on the labelled test split, when the data has one (recorded in results.json
    as ``test_f1``). Reported, never used to choose: the best epoch is picked on val."""
    if bundle.labelled_test() is None:
        return None
    model, _ = model_from_checkpoint(out / "best.pt")
    f1 = split_f1(model, bundle, "test")
    write_json(out / "results.json", {**read_yaml(out / "results.json"), "test_f1": f1})  # JSON is YAML
    return f1


def train_settings(cfg: TrainConfig) -> dict:
    """What ``train.yaml`` records: every setting that shapes the result (not progress bars or devices)."""
    return {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("progress", "device", "amp")}


RESUMABLE = ("epochs", "device", "threads", "layout", "amp", "progress")  # may differ on resume; the rest must match the run


def resume_training(run: str | Path, model: str | Path | None = None, data: str | Path | None = None,
                    overrides: dict | None = None, verbose: bool = True) -> TrainResult:
    """Continue the run in ``run`` (a run folder or its ``last.pt``) with the model, data and settings it
    was started with (its ``model.yaml``, ``data.yaml`` and ``train.yaml``).

    ``model``/``data``/``overrides`` are what the user gave explicitly: one that contradicts the run is an
    error naming both; ``epochs`` may grow, and device/progress may change.
    """
    run = Path(run)
    last = run if run.suffix == ".pt" else run / "last.pt"
    folder = last.parent
    for name in ("model.yaml", "data.yaml", "train.yaml", "last.pt"):
        if not (folder / name).is_file():
            raise ConfigError(f"--resume {run}: {folder / name} not found; resume takes a train.py run folder "
                              f"(or its last.pt)")
    stored_model = load_model_config(folder / "model.yaml")
    if model is not None and load_model_config(model).to_dict() != stored_model.to_dict():
        raise ConfigError(f"--model {model} differs from the model of the run being resumed ({folder / 'model.yaml'}); "
                          f"drop --model to continue that run, or start a new one with --dst")
    stored_data = load_data_config(folder / "data.yaml")
    if data is not None:
        given = load_data_config(data)
        given = dataclasses.replace(given, img_size=stored_data.img_size) if stored_model.input_size else given
        if given.to_dict() != stored_data.to_dict():
            raise ConfigError(f"--data {data} differs from the data of the run being resumed ({folder / 'data.yaml'}); "
                              f"drop --data to continue that run, or start a new one with --dst")
    stored = read_yaml(folder / "train.yaml") or {}
    overrides = dict(overrides or {})
    batch = overrides.pop("batch_size", None)
    if batch is not None and batch != stored_data.batch_size:
        raise ConfigError(f"--batch-size {batch} differs from the run being resumed (batch_size: "
                          f"{stored_data.batch_size} in {folder / 'data.yaml'}); drop it to continue that run")
    for key, value in overrides.items():
        if key not in RESUMABLE and key in stored and stored[key] != value:
            raise ConfigError(f"--{key.replace('_', '-')} {value} differs from the run being resumed "
                              f"({key}: {stored[key]} in {folder / 'train.yaml'}); drop it to continue that run")
    cfg = from_dict(TrainConfig, {**stored, **{k: v for k, v in overrides.items() if k in RESUMABLE}},
                    str(folder / "train.yaml"))
    return train(stored_model, stored_data, folder, cfg, resume=last, verbose=verbose)
