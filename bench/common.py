"""What every bench script shares: the machine line, and training one model YAML into a result row."""

from __future__ import annotations

import datetime
import json
import platform
from pathlib import Path

import torch

from slimnas.train import TrainConfig, train
from slimnas.train.evaluate import checkpoint_f1


def machine() -> dict:
    return {"date": datetime.date.today().isoformat(),
            "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
                       f"torch {torch.__version__}"}


def train_row(model, data: str | None, out: Path, epochs: int, seed: int = 0, test: bool = False, **hparams) -> dict:
    """Train ``model`` for ``epochs`` and return its F1, MACs, params and time (as written in results.json).

    With ``test`` the best checkpoint is also scored on the labelled test split, which nothing in training
    or selection has looked at.
    """
    result = train(model, data, out, TrainConfig(epochs=epochs, seed=seed, progress=False, **hparams), verbose=False)
    info = json.loads((out / "results.json").read_text())
    row = {"model": str(getattr(model, "source", model)), "val_macro_f1": round(result.best_f1, 4),
           "best_epoch": result.best_epoch, "macs": info["macs"], "params": info["params"],
           "train_seconds": round(result.seconds, 1)}
    if test:
        row["test_macro_f1"] = round(checkpoint_f1(out / "best.pt", data, "test"), 4)
    return row


def interleaved_latency(fns: dict, rounds: int = 7, reps: int = 20) -> dict[str, float]:
    """Median milliseconds per call of each ``fns[name]()``, the candidates interleaved round by round.

    Interleaving puts every candidate under the same machine noise, so their ratio is fair.
    """
    import statistics
    import time

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
