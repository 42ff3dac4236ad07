#!/usr/bin/env python
"""Train a model YAML (or a timm model YAML) on a data YAML; keeps the best checkpoint by val macro-F1.

With no arguments it trains the tiny baseline on the embedded synthetic MVTec look-alike.
"""

import argparse
from pathlib import Path

from slimnas.cli import run_cli
from slimnas.train import TrainConfig, increment_path, train

DEFAULT_MODEL = "code/configs/model/baseline.yaml"
DEFAULT_DATA = "code/configs/data/synthetic.yaml"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default=DEFAULT_MODEL, help="model YAML (slimnas backbone or 'timm: name')")
    p.add_argument("--data", default=DEFAULT_DATA, help="data YAML")
    p.add_argument("--dst", "--out", dest="dst", default=None, help="run folder (default runs/train/<model name>, incremented)")
    p.add_argument("--resume", default=None, help="a last.pt to continue from (writes into its folder)")
    d = TrainConfig()
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--optimizer", choices=["adamw", "sgd"], default=d.optimizer)
    p.add_argument("--warmup-epochs", type=float, default=d.warmup_epochs)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device, help="auto, cpu, cuda or cuda:N")
    p.add_argument("--no-amp", action="store_true", help="disable mixed precision on CUDA")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args()
    out = Path(a.resume).parent if a.resume else Path(a.dst) if a.dst else increment_path(f"runs/train/{Path(a.model).stem}")
    cfg = TrainConfig(epochs=a.epochs, lr=a.lr, weight_decay=a.weight_decay, optimizer=a.optimizer,
                      warmup_epochs=a.warmup_epochs, seed=a.seed, device=a.device, amp=not a.no_amp,
                      progress=not a.no_progress)
    train(a.model, a.data, out, cfg, resume=a.resume)
    print(f"next: python decompose.py --weight {out / 'best.pt'}")


if __name__ == "__main__":
    run_cli(main)
