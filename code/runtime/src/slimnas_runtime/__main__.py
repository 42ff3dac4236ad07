"""``slimnas-predict model.onnx IMAGES... --out preds.csv``: predict with an exported model.

The same command as ``python -m slimnas_runtime``, ``python -m slimnas.runtime`` and ``slimnas predict``.

IMAGES are image files, folders (searched recursively), or a competition layout (a folder with
test_df.csv + test/, or a layout CSV itself). Writes ``index,label`` (+ top-k columns with --topk).
"""

from pathlib import Path

from .cli import ArgumentParser, check_output_file, run_cli
from .errors import DataError
from .predictor import Predictor, list_inputs


def main() -> None:
    p = ArgumentParser(prog="slimnas-predict", description=__doc__)
    p.add_argument("model", help="an ONNX file exported by finetune_inference.py")
    p.add_argument("images", nargs="+")
    p.add_argument("--out", default="predictions.csv")
    p.add_argument("--topk", type=int, default=None, help="also write the k most likely labels and probabilities")
    p.add_argument("--tta", action="store_true", help="average over the label-preserving flips/turns the model's data declares (invariant_to)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--provider", action="append", default=None,
                   help="ONNX Runtime execution provider, in order of preference (default: CUDA when present, else CPU)")
    p.add_argument("--ort-threads", type=int, default=None,
                   help="ONNX Runtime threads (default ORT's own: one per physical core; a model of a fraction of a "
                        "millisecond often runs faster on 1 at batch 1: compare them in the demo's summary)")
    a = p.parse_args()
    if a.batch_size < 1:
        raise DataError(f"--batch-size must be >= 1, got {a.batch_size}")
    if a.ort_threads is not None and a.ort_threads < 1:
        raise DataError(f"--ort-threads must be >= 1, got {a.ort_threads}")
    if Path(a.out).is_dir():
        raise DataError(f"--out {a.out}: is a folder; give the CSV file to write (e.g. {Path(a.out) / 'predictions.csv'})")
    predictor = Predictor(a.model, a.provider, a.ort_threads)
    if a.topk is not None and not 1 <= a.topk <= len(predictor.classes):
        raise DataError(f"--topk must be between 1 and the model's {len(predictor.classes)} classes, got {a.topk}")
    if a.tta:
        predictor.check_tta()
    items = list_inputs(a.images)
    csvs = [Path(i) / "test_df.csv" for i in a.images if Path(i).is_dir()]
    check_output_file(a.out, "--out", [a.model, *a.images, *csvs, *(path for _, path in items)])
    out = predictor.predict_to_csv(items, a.out, a.batch_size, a.tta, a.topk or 0)
    print(f"{len(items)} predictions -> {out}")


def entry() -> None:
    """The ``slimnas-predict`` console script."""
    run_cli(main)


if __name__ == "__main__":
    entry()
