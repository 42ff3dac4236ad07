"""A latency lookup table of the deployment runtime, and the model latency it predicts.

A model is cut into **pieces** (a slimnas YAML's blocks, a timm model's stages' blocks); each piece is
exported alone to ONNX and timed with ONNX Runtime at its input shape (HALP, nn-Meter: latency is close
to additive over blocks, while MACs are not a proxy for it). A piece's time is keyed by its structure
(``repr``), input shape and the runtime (threads, batch, execution provider, ORT version, CPU), and
cached in a JSON file, so a search measures each distinct block once.

A piece is priced **in context**, as the difference its predecessor makes: ``T(prev → piece) − T(prev)``,
both timed alone, and the first piece alone. The sum telescopes to what the whole model runs: ONNX Runtime
moves a run of convs into its blocked (NCHWc) layout once, reordering only where a piece it cannot block
(a grouped conv with a channel multiplier, a pool) breaks the run, and a piece timed alone pays its own
reorders in and out, which inside the model it may not. On 30 random models of the ``tiny`` space (1 thread,
batch 1; ``bench/latency_model.py``) pieces priced alone came within ±10 % of the whole model for 33 % of them
(67 % calibrated), in context for 93 % (90 % calibrated). A piece whose predecessor's output is not its input
(a timm model's children) is priced alone: ``piece − overhead``, the overhead of one ``session.run`` timed on a
one-op model. Pieces still run a little differently than inside a model (cold inputs and weights), so
:meth:`LatencyTable.calibrate` times a few whole models on the runtime and fits
``predicted = overhead + a·Σ (piece − overhead) + b·pieces`` by least squares (nn-Meter learns its
predictors from measurements the same way); the fit is stored with the table.

At 1 thread every time is taken **beside a yardstick**: a small fixed CNN (:func:`slimnas.pace.probe_model`) timed in the
same rounds, and kept as the ratio to it, in the yardstick's ms when the table first timed it. A shared machine's
speed wanders by 20-30 % over minutes (another tenant, the host's clock): on 30 random models of the ``tiny`` space
(1 thread, batch 1), a file's timings minutes apart agreed within ±10 % for 37-73 % of the models, their ratios
to the yardstick for 83-90 %; and the table priced in ratios came within ±10 % of 80-97 % of the models in three
runs (47-73 % priced in plain ms, two runs). A table made in a slow minute and a model timed in a fast one no longer disagree.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import math
import platform
import sys
import warnings
from pathlib import Path

import torch
import onnx
import torch.nn as nn

from ..onnx_rewrite import global_pooling
from ..io import cache_dir, file_lock, write_json
from ..pace import probe_model
from ..shapes import input_shapes, pieces
from .measure import SPIN_SETTLE_S, DeployTarget, Timing, interleaved, ort_version, timed_call


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def piece_inputs(model: nn.Module, input_size: int, channels: int = 3) -> list[tuple[str, nn.Module, tuple]]:
    """(name, piece, input shape without batch) for every piece the forward pass calls, in call order."""
    named = dict(pieces(model))
    return [(n, named[n], shape) for n, shape in input_shapes(model, named.items(), input_size, channels).items()]


EXPORTER = {"exporter": "torchscript", "opset": 18, "pooling": "global"}  # how pieces are exported (onnx_bytes): part of every timing


def onnx_bytes(module: nn.Module, shape: tuple) -> bytes:
    """``module`` as an ONNX model for input 1×``shape`` (TorchScript exporter: ~0.1 s a piece, where the
    dynamo exporter that ships models takes seconds; ORT's graph optimisations make the two run alike)."""
    module = module.eval().cpu()
    buf = io.BytesIO()
    x = torch.zeros(1, *shape)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), buf, dynamo=False, opset_version=EXPORTER["opset"], input_names=["input"],
                          dynamic_axes={"input": {0: "batch"}})
    proto = onnx.load_from_string(buf.getvalue())
    return proto.SerializeToString() if global_pooling(proto) else buf.getvalue()  # as export_onnx ships it


# the probe CNN at 64 px: about as long a call as the pieces it is timed beside. At 128 px (activations as large as
# the models', 30 random models at 1 thread, one run each): `tiny` 93 % within ±10 % (80 % at 64 px), τ 0.839 (0.880);
# `default` 77 % (70 %), τ 0.871 (0.931): closer in ms, worse in rank, both within the runs' noise; kept at 64 px
YARDSTICK_SHAPE = (3, 64, 64)


@functools.cache
def yardstick_bytes() -> bytes:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return onnx_bytes(probe_model(), YARDSTICK_SHAPE)


def model_call(model: nn.Module, input_size: int, runtime: DeployTarget):
    """One inference of ``model`` (input N×3×S×S) exported to ONNX and run on ``runtime``: for :func:`interleaved`."""
    shape = (3, input_size, input_size)
    return timed_call(onnx_bytes(model, shape), runtime, shape)


class LatencyTable:
    """Measured milliseconds of model pieces on one runtime, cached in ``path`` (JSON).

    The cache is only a cache: a file that is unreadable, of another shape, or made with other versions
    (CPU, ONNX Runtime, torch, exporter, opset, slimnas) is measured again, with a one-line warning for
    damage. Several processes may share it: :meth:`save` merges under a lock, so no writer loses another's
    entries.
    """

    def __init__(self, runtime: DeployTarget = DeployTarget(), path: str | Path | None = None):
        self.runtime = runtime
        self.path = Path(path) if path else default_path(runtime)
        self.entries: dict[str, dict] = self._read()
        self._overhead: float | None = self.entries.get("__overhead__", {}).get("ms")
        self._yardstick = None

    def context(self) -> dict:
        from .. import __version__

        return {"cpu": cpu_name(), "ort": ort_version(), "provider": self.runtime.provider,
                "threads": self.runtime.threads, "batch": self.runtime.batch, "torch": torch.__version__,
                # earlier tables timed unspun sessions; 1-thread tables, alone (not beside the yardstick)
                "timing": f"one spinning session, {SPIN_SETTLE_S:g} s settle" + (
                    f", beside the yardstick {'x'.join(map(str, YARDSTICK_SHAPE))}" if self.runtime.threads == 1 else ""),
                **EXPORTER, "slimnas": __version__}

    def _read(self) -> dict[str, dict]:
        """The cached entries that are well-formed and were measured in this context."""
        if not self.path.is_file():
            return {}
        try:
            stored = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            return _damaged(self.path, f"not readable JSON ({type(e).__name__})")
        if not isinstance(stored, dict) or not isinstance(stored.get("entries"), dict) \
                or not isinstance(stored.get("context"), dict):
            return _damaged(self.path, "not a latency table (no 'context' and 'entries' mappings)")
        if stored.get("context") != self.context():
            return {}  # another machine, runtime or version: its timings do not hold here
        good = {k: v for k, v in stored["entries"].items() if _well_formed(k, v)}
        if len(good) < len(stored["entries"]):
            _damaged(self.path, f"{len(stored['entries']) - len(good)} malformed entr(ies) dropped")
        return good

    def save(self) -> None:
        """Write the table, merged with what other processes saved since it was read (under a lock)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(self.path.with_name(self.path.name + ".lock")):
            stored = self._read()
            self._adopt_unit(stored.get("__yardstick__"))
            merged = {**stored, **self.entries}
            write_json(self.path, {"context": self.context(), "entries": merged})
            self.entries = merged

    def _adopt_unit(self, theirs: dict | None) -> None:
        """Another process made the stored file with its own first yardstick timing: rescale this table's entries
        into that unit, so every entry of the merged file is a ratio to one yardstick timing."""
        ours = self.entries.get("__yardstick__")
        if not theirs or not ours or theirs["ms"] == ours["ms"]:
            return
        factor = theirs["ms"] / ours["ms"]
        for k, v in self.entries.items():
            if k not in ("__yardstick__", "__calibration__"):
                self.entries[k] = {**v, "ms": v["ms"] * factor}
        self.entries["__yardstick__"] = theirs
        self._overhead = self.entries.get("__overhead__", {}).get("ms")

    @staticmethod
    def key(module: nn.Module, shape: tuple) -> str:
        return hashlib.sha1(f"{module!r}|{tuple(shape)}".encode()).hexdigest()[:20]

    def overhead(self) -> float:
        """ms of one ``session.run`` around (almost) nothing: what every piece timed alone pays once."""
        if self._overhead is None:
            t = self.time_alone(nn.ReLU(), (8, 8, 8))
            self.entries["__overhead__"] = {**t.as_dict(), "what": "ReLU 8x8x8"}
            self._overhead = self.entries["__overhead__"]["ms"]  # as stored, so a reloaded table predicts the same
        return self._overhead

    def beside_yardstick(self, model: str | Path | bytes, shape: tuple, **kw) -> tuple[Timing, float]:
        """An ONNX model on the runtime, timed in the same rounds as the yardstick: (its timing in plain ms, its ms in
        the table's unit: × the yardstick's ms when this table first timed it / the yardstick's ms in these rounds).

        At 1 thread only. At 2+ threads a second session's turn needs the settle pause (``measure.SPIN_SETTLE_S``),
        tripling a table's time, for nothing: there the same file in the same session times in one of two modes
        (0.095 or 0.20 ms, switching every few seconds: where the vCPUs land), which a yardstick does not share
        (30 random ``tiny`` models at 2 threads: 30 % within ±10 % beside it, 33 % in plain ms)."""
        if self.runtime.threads > 1:
            t = interleaved({"model": timed_call(model, self.runtime, shape)}, **kw)["model"]
            return t, t.ms
        if self._yardstick is None:  # one session for the table's life
            self._yardstick = timed_call(yardstick_bytes(), self.runtime, YARDSTICK_SHAPE)
        t = interleaved({"yardstick": self._yardstick, "model": timed_call(model, self.runtime, shape)}, **kw)
        unit = self.entries.setdefault("__yardstick__", {**t["yardstick"].as_dict(), "what": "slimnas.pace.probe_model "
                                                         + "x".join(map(str, YARDSTICK_SHAPE))})["ms"]
        return t["model"], t["model"].ms * unit / t["yardstick"].ms

    def timed(self, model: str | Path | bytes, shape: tuple, **kw) -> Timing:
        """An ONNX model's latency in the table's unit (:meth:`beside_yardstick`)."""
        plain, ms = self.beside_yardstick(model, shape, **kw)
        return Timing(ms, plain.spread, plain.rounds)

    def time_alone(self, module: nn.Module, shape: tuple) -> Timing:
        return self.timed(onnx_bytes(module, shape), shape, max_seconds=2.0)

    def measure_model(self, model: nn.Module, input_size: int, channels: int = 3) -> Timing:
        """The whole model's latency, exported as the pieces are, in the table's unit."""
        shape = (channels, input_size, input_size)
        return self.timed(onnx_bytes(model, shape), shape)

    def ms(self, module: nn.Module, shape: tuple) -> float:
        """The piece's time on the runtime, measured once and cached."""
        k = self.key(module, shape)
        if k not in self.entries:
            t = self.time_alone(module, shape)
            self.entries[k] = {**t.as_dict(), "what": f"{type(module).__name__} {'x'.join(map(str, shape))}"}
        return self.entries[k]["ms"]

    def predict(self, model: nn.Module, input_size: int, channels: int = 3) -> dict:
        """{"ms": predicted latency, "raw": the uncalibrated sum, "pieces": [(name, ms less the call overhead)]},
        each piece priced in context (the module docstring)."""
        over = self.overhead()
        called = piece_inputs(model, input_size, channels)
        rows = []
        for i, (name, m, shape) in enumerate(called):
            prev = called[i - 1] if i else None
            if prev is not None and _output_shape(prev[1], prev[2]) == shape:
                ms = self.ms(nn.Sequential(prev[1], m), prev[2]) - self.ms(prev[1], prev[2])
            else:
                ms = self.ms(m, shape) - over
            rows.append((name, max(ms, 0.0)))
        total = sum(ms for _, ms in rows)
        a, b = self.entries.get("__calibration__", {}).get("fit", (1.0, 0.0))
        return {"ms": over + a * total + b * len(rows), "raw": over + total, "pieces": rows}

    @property
    def calibrated(self) -> bool:
        return "__calibration__" in self.entries

    def calibrate(self, models: list[tuple[nn.Module, int]]) -> dict:
        """Time each whole model alone (warm, as deployed) and fit the prediction to them; returns the fit."""
        import numpy as np

        over = self.overhead()
        x, y = [], []
        for model, size in models:
            p = self.predict(model, size)
            x.append([p["raw"] - over, len(p["pieces"])])
            y.append(self.measure_model(model, size).ms - over)
        x, y = np.array(x), np.array(y)
        (a, b), *_ = np.linalg.lstsq(x, y, rcond=None)
        rms = lambda pred: float(np.sqrt(np.mean((pred - y) ** 2)))  # noqa: E731
        self.entries["__calibration__"] = {"fit": [float(a), float(b)], "models": len(models),
                                           "rms_ms": rms(x @ [a, b]), "raw_rms_ms": rms(x[:, 0])}
        return self.entries["__calibration__"]


def _output_shape(module: nn.Module, shape: tuple) -> tuple | None:
    """``module``'s output shape (batch left out) for one input of ``shape``; None if it is not one tensor."""
    was = module.training
    try:
        with torch.no_grad():
            y = module.eval()(torch.zeros(1, *shape))
    finally:
        module.train(was)
    return tuple(y.shape[1:]) if isinstance(y, torch.Tensor) else None


def _well_formed(key: str, entry) -> bool:
    def number(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0

    if not isinstance(entry, dict):
        return False
    if key == "__calibration__":
        fit = entry.get("fit")
        return isinstance(fit, list) and len(fit) == 2 and all(isinstance(v, (int, float)) and math.isfinite(v)
                                                               for v in fit)
    return number(entry.get("ms"))


def _damaged(path: Path, why: str) -> dict:
    print(f"warning: latency cache {path}: {why}; measuring again", file=sys.stderr, flush=True)
    return {}


def default_path(runtime: DeployTarget) -> Path:
    cache = cache_dir()
    ep = runtime.provider.replace("ExecutionProvider", "").lower()
    cpu = hashlib.sha1(cpu_name().encode()).hexdigest()[:8]
    return cache / "latency" / f"ort{ort_version()}-{ep}-t{runtime.threads}-b{runtime.batch}-{cpu}.json"
