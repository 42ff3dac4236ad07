"""The deployment predictor: an exported ONNX file in, labels out. Imports onnxruntime, numpy and pillow only.

The ONNX file carries what preprocessing needs (``metadata_props``: classes, input_size, resize, mean,
std), so the predictor reproduces the evaluation transform of training: RGB conversion, bilinear resize
(or pad) to ``input_size``, ``(x / 255 - mean) / std``, N×3×H×W float32.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import onnxruntime as ort

from .errors import DataError
from .images import load_image, normalize, resize
from .io import write_csv

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def read_metadata(sess: ort.InferenceSession) -> dict:
    raw = sess.get_modelmeta().custom_metadata_map
    out = {}
    for k, v in raw.items():
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
    return out


def make_session(path: str | Path, providers: Sequence[str] | None = None,
                 threads: int | None = None) -> ort.InferenceSession:
    """An ONNX Runtime session on CUDA when available, else CPU."""
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    available = ort.get_available_providers()
    providers = providers or [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    return ort.InferenceSession(str(path), opts, providers=list(providers))


class Predictor:
    def __init__(self, path: str | Path, providers: Sequence[str] | None = None, threads: int | None = None):
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: ONNX model not found")
        try:
            self.session = make_session(path, providers, threads)
        except Exception as e:  # noqa: BLE001 - ORT raises its own types for corrupt files
            raise DataError(f"{path}: not a loadable ONNX model ({type(e).__name__}: {str(e).splitlines()[0]})") from None
        self.meta = read_metadata(self.session)
        missing = [k for k in ("classes", "input_size", "mean", "std") if k not in self.meta]
        if missing:
            raise DataError(f"{path}: metadata lacks {missing}; export it with finetune_inference.py")
        self.path = path
        self.classes: list[str] = self.meta["classes"]
        self.input_size = int(self.meta["input_size"])
        self.resize_mode = self.meta.get("resize", "resize")

    def preprocess(self, paths: Sequence[str | Path]) -> np.ndarray:
        imgs = np.stack([resize(load_image(p), self.input_size, self.resize_mode) for p in paths])
        return normalize(imgs, self.meta["mean"], self.meta["std"])

    @property
    def symmetries(self) -> list[str]:
        """The label-preserving transforms the model's data declared (``invariant_to``): what TTA may use."""
        return list(self.meta.get("invariant_to") or [])

    def check_tta(self) -> None:
        if not self.symmetries:
            raise DataError(f"{self.path}: --tta needs label-preserving transforms, and this model's data declares "
                            f"none (invariant_to: [] — on MVTec a flip can change the label); drop --tta")

    def probabilities(self, x: np.ndarray, tta: bool = False) -> np.ndarray:
        views = [x]
        if tta:  # the declared symmetries only, averaged over softmax outputs
            self.check_tta()
            views += [_VIEWS[s](x) for s in self.symmetries]
        probs = [_softmax(self.session.run(None, {"input": np.ascontiguousarray(v)})[0]) for v in views]
        return np.mean(probs, axis=0)

    def predict(self, paths: Sequence[str | Path], batch_size: int = 32, tta: bool = False) -> np.ndarray:
        """Class probabilities, one row per path."""
        out = [self.probabilities(self.preprocess(paths[i:i + batch_size]), tta) for i in range(0, len(paths), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)), np.float32)


_VIEWS = {"hflip": lambda x: x[..., ::-1], "vflip": lambda x: x[..., ::-1, :],
          "rot90": lambda x: np.rot90(x, 1, axes=(2, 3))}


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def list_inputs(items: Iterable[str | Path]) -> list[tuple[str, Path]]:
    """(index, path) pairs from image files, folders of images, or a competition test layout
    (a folder with ``test_df.csv`` + ``test/``, or the ``test_df.csv`` itself)."""
    out: list[tuple[str, Path]] = []
    for item in map(Path, items):
        csv_path = item if item.suffix == ".csv" else item / "test_df.csv"
        if csv_path.is_file():
            root = csv_path.parent
            with open(csv_path, newline="") as f:
                for row in csv.DictReader(f):
                    if "index" not in row or "file_name" not in row:
                        raise DataError(f"{csv_path}: needs columns index,file_name")
                    name = row["file_name"]
                    path = root / name if (root / name).exists() else root / "test" / Path(name).name
                    out.append((row["index"], path))
        elif item.is_dir():
            files = sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise DataError(f"{item}: no images found")
            out += [(str(p.relative_to(item)), p) for p in files]
        elif item.is_file():
            out.append((item.name, item))
        else:
            raise DataError(f"{item}: no such file or folder")
    return out


def write_predictions(path: str | Path, index: Sequence[str], probs: np.ndarray, classes: Sequence[str],
                      topk: int = 0) -> Path:
    """``index,label`` (the competition format), plus ``label_k,prob_k`` columns for the top-k."""
    header = ["index", "label"] + [c for k in range(1, topk + 1) for c in (f"label_{k}", f"prob_{k}")]
    rows = []
    for i, p in zip(index, probs):
        order = np.argsort(-p)
        rows.append([i, classes[order[0]]] + [v for k in order[:topk] for v in (classes[k], f"{p[k]:.5f}")])
    return write_csv(path, header, rows)
