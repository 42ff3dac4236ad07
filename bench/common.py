"""What every bench script shares: the machine line, and training one model YAML into a result row."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
from pathlib import Path

import torch

from slimnas.data.config import DataConfig, dataset_path, load_data_config
from slimnas.data.sources import SEALED_ENV
from slimnas.io import file_lock, write_text
from slimnas.train import TrainConfig, train
from slimnas.train.evaluate import checkpoint_f1


def machine() -> dict:
    return {"date": datetime.date.today().isoformat(),
            "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
                       f"torch {torch.__version__}"}


DEV_SEED = 1  # the synthetic generator's seed of the dev set: another draw of the task; seed 0's test split reports


def dev_data() -> DataConfig:
    """The dev set: the embedded synthetic data drawn again at :data:`DEV_SEED` (other images, same labels and
    counts, same recipe); its own val and test splits are what a choosing bench may score."""
    cfg = load_data_config(None)
    return dataclasses.replace(cfg, synthetic={**cfg.synthetic, "seed": DEV_SEED},
                               source=f"{cfg.source} drawn at seed {DEV_SEED} (dev)")


def choose_on_dev() -> DataConfig:
    """For a bench that chooses something: seal the report's test answers (the embedded data's, seed 0) in
    this process and every command it runs, and return the dev set to choose on."""
    report = str(dataset_path(load_data_config(None)))
    os.environ[SEALED_ENV] = os.pathsep.join(filter(None, [os.environ.get(SEALED_ENV), report]))
    return dev_data()


def timing_settings(settings: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The (ORT threads, batch) settings this process can time: more threads than the cores it may run on (a
    bench pinned with ``taskset``) would share a core and time contention, not the setting. The rest are skipped,
    and said."""
    from slimnas.pace import available_cores

    cores = available_cores()
    skipped = [f"{t}x{b}" for t, b in settings if t > cores]
    if skipped:
        print(f"not timed: {', '.join(skipped)} (more threads than the {cores} core(s) this process may run on)",
              flush=True)
    return [(t, b) for t, b in settings if t <= cores]


def start_point(space: str = "tiny"):
    """(model config, training hyper-parameters) of a shipped search space's first start point: the model a
    short search trains first, and what the road most often ships."""
    import optuna

    from slimnas.configs import find_config
    from slimnas.search.space import load_search_space

    loaded = load_search_space(find_config(space, "search"))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    study.enqueue_trial(loaded.start[0])
    return loaded.sample(study.ask())


def publish(path: Path, lines: list[str]) -> None:
    """Write a bench's markdown table to ``path`` (bench/report.py collects it) and print it."""
    write_text(path, "\n".join(lines) + "\n")
    print("\n".join(lines))


def train_row(model, data: str | None, out: Path, epochs: int, seed: int = 0, test: bool = False, **hparams) -> dict:
    """Train ``model`` for ``epochs`` and return its F1, MACs, params and time (as written in results.json).

    With ``test`` the best checkpoint is also scored on the labelled test split, which nothing in training
    or selection has looked at.
    """
    result = train(model, data, out, TrainConfig(epochs=epochs, seed=seed, progress=False, **hparams), verbose=False)
    info = json.loads((out / "results.json").read_text())
    row = {"model": str(getattr(model, "source", model)), "val_macro_f1": round(result.selected_f1, 4),
           "best_epoch": result.selected_epoch, "epochs": result.epochs_run, "macs": info["macs"], "params": info["params"],
           "train_seconds": round(result.seconds, 1)}
    if test:
        row["test_macro_f1"] = round(checkpoint_f1(out / "best.pt", data, "test"), 4)
    return row


def add_run(out: Path, name: str, run: dict, key: tuple[str, ...], write) -> None:
    """Merge ``run`` into the runs of ``out/<name>.json`` under a lock (processes of one sitting on separate cores
    write the same file), replacing an earlier run with the same ``key`` fields; then ``write(out, runs)``."""
    earlier = out / f"{name}.json"
    with file_lock(out / f"{name}.lock"):
        runs = {tuple(r[k] for k in key): r for r in (json.loads(earlier.read_text())["runs"] if earlier.is_file() else [])}
        runs[tuple(run[k] for k in key)] = run
        write(out, list(runs.values()))
