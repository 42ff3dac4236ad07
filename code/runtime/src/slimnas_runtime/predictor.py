"""The deployment predictor: an exported ONNX file in, labels out. Imports onnxruntime, numpy and pillow only.

The ONNX file carries what preprocessing needs (``metadata_props``: classes, input_size, resize, mean,
std), so the predictor reproduces the evaluation transform of training: RGB conversion, bilinear resize
(or pad) to ``input_size``, ``(x / 255 - mean) / std``, N×3×H×W float32.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import onnxruntime as ort

from .errors import DataError
from .images import load_image, normalize, resize
from .io import write_csv
from .layout import IMAGE_SUFFIXES, check_unique, layout_rows


def read_metadata(sess: ort.InferenceSession) -> dict:
    raw = sess.get_modelmeta().custom_metadata_map
    out = {}
    for k, v in raw.items():
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
    return out


def check_providers(providers: Sequence[str]) -> None:
    """Refuse execution providers this onnxruntime build lacks, naming the ones it has."""
    available = ort.get_available_providers()
    unknown = [p for p in providers if p not in available]
    if unknown:
        raise DataError(f"execution provider {', '.join(unknown)} is not available in this onnxruntime "
                        f"{ort.__version__} (available: {', '.join(available)})")


def make_session(model: str | Path | bytes, providers: Sequence[str] | None = None,
                 threads: int | None = None) -> ort.InferenceSession:
    """An ONNX Runtime session as deployed (ORT's graph optimisations on, sequential execution): on
    ``providers`` in order, by default CUDA when available, else CPU; ``threads`` intra-op threads (None: ORT's
    default, one per core; idle ones spin for the next call, as ORT's default). The one place every slimnas
    session is made, so timing sees what deployment runs."""
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    check_providers(providers or ())
    available = ort.get_available_providers()
    providers = providers or [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    return ort.InferenceSession(model if isinstance(model, bytes) else str(model), opts, providers=list(providers))


def load_session(path: str | Path, providers: Sequence[str] | None = None,
                 threads: int | None = None) -> ort.InferenceSession:
    """:func:`make_session` on a file that must exist and load; any failure is one ``DataError`` naming it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: ONNX model not found")
    try:
        return make_session(path, providers, threads)
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - ORT raises its own types for corrupt files
        raise DataError(f"{path}: not a loadable ONNX model ({type(e).__name__}: {str(e).splitlines()[0]})") from None


def check_metadata(sess: ort.InferenceSession, meta: dict, path: Path) -> tuple[list[str], int]:
    """(classes, input_size) from the metadata, checked against the graph: a class list shorter than the
    logits would put a label on the wrong index without a word."""
    missing = [k for k in ("classes", "input_size", "mean", "std") if k not in meta]
    if missing:
        raise DataError(f"{path}: metadata lacks {missing}; export it with finetune_inference.py")
    classes, size = meta["classes"], meta["input_size"]
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise DataError(f"{path}: metadata 'classes' must be a non-empty list of names, got {str(classes)[:60]}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise DataError(f"{path}: metadata 'input_size' must be a positive integer, got {size!r}")
    logits = sess.get_outputs()[0].shape
    if len(logits) != 2 or (isinstance(logits[1], int) and logits[1] != len(classes)):
        raise DataError(f"{path}: metadata names {len(classes)} classes but the graph outputs {logits[1:]} logits; "
                        f"the file was edited or mixed up, re-export it")
    dims = sess.get_inputs()[0].shape
    if len(dims) != 4 or any(isinstance(d, int) and d != want for d, want in zip(dims[1:], (3, size, size))):
        raise DataError(f"{path}: metadata input_size {size} does not fit the graph's input {dims}; re-export it")
    return classes, size


class Predictor:
    def __init__(self, path: str | Path, providers: Sequence[str] | None = None, threads: int | None = None):
        path = Path(path)
        self.session = load_session(path, providers, threads)
        self.meta = read_metadata(self.session)
        self.path = path
        self.classes, self.input_size = check_metadata(self.session, self.meta, path)
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

    def predict_to_csv(self, items: Sequence[tuple[str, Path]], path: str | Path, batch_size: int = 32,
                       tta: bool = False, topk: int = 0) -> Path:
        """Predict every ``(index, path)`` of ``items`` (see :func:`list_inputs`) into the CSV ``path``
        (:func:`write_predictions`)."""
        probs = self.predict([p for _, p in items], batch_size, tta)
        return write_predictions(path, [i for i, _ in items], probs, self.classes, topk)


_VIEWS = {"hflip": lambda x: x[..., ::-1], "vflip": lambda x: x[..., ::-1, :],
          "rot90": lambda x: np.rot90(x, 1, axes=(2, 3))}


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def list_inputs(items: Iterable[str | Path]) -> list[tuple[str, Path]]:
    """(index, path) pairs from image files, folders of images, or a competition layout (a folder with
    ``test_df.csv`` + ``test/``, or a layout CSV itself: ``test_df.csv`` rows are read in ``test/``,
    ``train_df.csv`` rows in ``train/``, as training reads them).

    Every index is unique over all ``items``: two folders that both hold ``x.png`` are refused, since their
    predictions could not be told apart.
    """
    items = [Path(i) for i in items]
    out: list[tuple[str, Path]] = []
    for item in items:
        csv_path = item if item.suffix.lower() == ".csv" else item / "test_df.csv"
        if csv_path.is_file():
            out += [(index, path) for index, path, _ in layout_rows(csv_path)]
        elif item.is_dir():
            files = sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not files:
                raise DataError(f"{item}: no images found")
            out += [(p.relative_to(item).as_posix(), p) for p in files]
        elif item.is_file():
            out.append((item.name, item))
        else:
            raise DataError(f"{item}: no such file or folder")
    check_unique((i for i, _ in out), "the inputs (" + ", ".join(map(str, items[:3])) + (", …" if len(items) > 3 else "")
                 + ")")
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
