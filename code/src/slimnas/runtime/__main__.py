"""``python -m slimnas.runtime model.onnx IMAGES... --out preds.csv``: predict with an exported model.

IMAGES are image files, folders (searched recursively), or a competition test layout (a folder with
test_df.csv + test/, or the CSV itself). Writes ``index,label`` (+ top-k columns with --topk).
"""

import argparse

from ..cli import run_cli
from .predictor import Predictor, list_inputs, write_predictions


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m slimnas.runtime", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="an ONNX file exported by finetune_inference.py")
    p.add_argument("images", nargs="+")
    p.add_argument("--out", default="predictions.csv")
    p.add_argument("--topk", type=int, default=0, help="also write the k most likely labels and probabilities")
    p.add_argument("--tta", action="store_true", help="average over flips and a quarter turn")
    p.add_argument("--batch-size", type=int, default=32)
    a = p.parse_args()
    predictor = Predictor(a.model)
    items = list_inputs(a.images)
    probs = predictor.predict([path for _, path in items], a.batch_size, a.tta)
    out = write_predictions(a.out, [i for i, _ in items], probs, predictor.classes, a.topk)
    print(f"{len(items)} predictions -> {out}")


if __name__ == "__main__":
    run_cli(main)
