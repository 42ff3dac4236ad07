"""``python -m slimnas.data.synthetic --out DIR --scale 1 --size 128``: write the synthetic dataset."""


from ...cli import ArgumentParser, run_cli
from .defects import DEFAULT_DEFECT_SCALE
from .generate import generate


def main() -> None:
    p = ArgumentParser(prog="python -m slimnas.data.synthetic", description=__doc__)
    p.add_argument("--out", default="data/synthetic", help="output folder (replaced if it exists)")
    p.add_argument("--scale", type=float, default=1.0, help="fraction of the competition's image counts")
    p.add_argument("--size", type=int, default=128, help="image side in pixels")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--defect-scale", type=float, default=DEFAULT_DEFECT_SCALE,
                   help="defect size multiplier (smaller = harder task)")
    a = p.parse_args()
    if not a.defect_scale > 0:
        p.error("--defect-scale must be > 0")
    out = generate(a.out, a.scale, a.size, a.seed, defect_scale=a.defect_scale)
    print(f"wrote {out} (train_df.csv, test_df.csv, test_labels.csv)")


if __name__ == "__main__":
    run_cli(main)
