"""``python -m slimnas.data.synthetic --out DIR --scale 1 --size 128``: write the synthetic dataset."""

import argparse

from ...cli import run_cli
from .generate import generate


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m slimnas.data.synthetic", description=__doc__)
    p.add_argument("--out", default="data/synthetic", help="output folder (replaced if it exists)")
    p.add_argument("--scale", type=float, default=1.0, help="fraction of the competition's image counts")
    p.add_argument("--size", type=int, default=128, help="image side in pixels")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    out = generate(a.out, a.scale, a.size, a.seed)
    print(f"wrote {out} (train_df.csv, test_df.csv, test_labels.csv)")


if __name__ == "__main__":
    run_cli(main)
