"""One way to time: candidates interleaved round by round, repeated until their ratios are stable.

Every latency slimnas reports or acts on — the INT8 keep rule, the demo and compare tables, the
decomposition report, the latency table of the search, the benches — comes from :func:`interleaved`.
Timing two models one after the other is unreliable on a shared machine (one run kept INT8 as 1.57×
faster, another measured the same model 1.15× slower): interleaving puts every candidate under the
same noise, and the rounds go on until each candidate's ratio to the first has settled.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import statistics
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np


@functools.cache  # read once: every DeployTarget() asks, default arguments included
def default_threads() -> int:
    """ONNX Runtime's default intra-op thread count: one per physical core this process may run on (hyper-threads
    of one core count once). What a deployed session uses unless told otherwise."""
    try:
        cpus = os.sched_getaffinity(0)
    except AttributeError:  # not Linux
        return max(1, (os.cpu_count() or 2) // 2)
    cores = set()
    for cpu in cpus:
        try:
            cores.add(Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list").read_text().strip())
        except OSError:
            cores.add(str(cpu))
    return max(1, len(cores))


@dataclasses.dataclass(frozen=True)
class DeployTarget:
    """Where the deployed model runs: what every latency is measured (and cached) for. By default as a session
    made without options runs: ONNX Runtime's default threads (:func:`default_threads`), batch 1."""

    threads: int = dataclasses.field(default_factory=default_threads)
    batch: int = 1
    provider: str = "CPUExecutionProvider"

    def __post_init__(self):
        if self.threads < 1 or self.batch < 1:
            raise ValueError(f"threads and batch must be >= 1, got {self.threads} and {self.batch}")

    def describe(self) -> str:
        ep = self.provider.replace("ExecutionProvider", "")
        return f"ONNX Runtime {ort_version()} {ep}, {self.threads} thread{'s' * (self.threads > 1)}, batch {self.batch}"


def add_deploy_arguments(parser, what: str = "timing") -> None:
    """``--ort-threads`` and ``--batch``: where the model will run, for every command that times one."""
    parser.add_argument("--ort-threads", type=int, default=None,
                        help=f"ONNX Runtime threads the model will run with ({what}; default ORT's own: one per "
                             f"physical core)")
    parser.add_argument("--batch", type=int, default=1, help=f"batch size the model will run at ({what})")


def deploy_target(parser, args, provider: str | None = None) -> DeployTarget:
    """The :class:`DeployTarget` of :func:`add_deploy_arguments`' flags; bad values are a ``parser.error``."""
    threads = default_threads() if args.ort_threads is None else args.ort_threads
    if threads < 1 or args.batch < 1:
        parser.error(f"--ort-threads and --batch must be >= 1, got {threads} and {args.batch}")
    return DeployTarget(threads, args.batch, *([provider] if provider else []))


def setting(text: str) -> DeployTarget:
    """``THREADSxBATCH`` (e.g. ``1x32``) as a :class:`DeployTarget`: an argparse ``type`` for a setting to time at."""
    import argparse

    try:
        threads, batch = (int(v) for v in text.lower().split("x"))
        return DeployTarget(threads, batch)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give THREADSxBATCH with both >= 1, e.g. 1x32") from None


def ort_version() -> str:
    import onnxruntime as ort

    return ort.__version__


@dataclasses.dataclass(frozen=True)
class Timing:
    ms: float  # median milliseconds per call over the rounds
    spread: float  # interquartile range over the rounds / median: how far to trust ``ms``
    rounds: int

    def as_dict(self) -> dict:
        return {"ms": round(self.ms, 5), "spread": round(self.spread, 4), "rounds": self.rounds}


def _iqr(values: Sequence[float]) -> float:
    q1, _, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else (values[0],) * 3
    return q3 - q1


def interleaved(fns: dict[str, Callable[[], object]], min_rounds: int = 5, max_rounds: int = 40, tol: float = 0.02,
                round_ms: float = 20.0, max_seconds: float | None = None) -> dict[str, Timing]:
    """Time each ``fns[name]()``: every round calls each candidate ``reps`` times in turn.

    ``reps`` is set once so a round of the slowest candidate lasts about ``round_ms``. After
    ``min_rounds``, rounds stop when dropping the newest quarter of the rounds moves no candidate's median
    ratio to the first candidate (nor, for one candidate, its median) by more than ``tol``, or after
    ``max_rounds`` (or ``max_seconds``). A candidate with a ``settle_s`` (:func:`timed_call` at 2+ threads)
    is handed the cores only after the one before it has had that long to stop spinning, and its pool is woken
    by one untimed call: each block is timed as that model runs alone, calls back to back.
    """
    names = list(fns)
    settle = max((getattr(fn, "settle_s", 0.0) for fn in fns.values()), default=0.0) if len(names) > 1 else 0.0
    slowest = 0.0
    for fn in fns.values():  # warm-up (first calls allocate and pick kernels), and the cost of one call
        fn()
        t0 = time.perf_counter()
        fn()
        slowest = max(slowest, time.perf_counter() - t0)
    reps = max(1, min(1000, math.ceil(round_ms / 1e3 / max(slowest, 1e-7))))
    per_call: dict[str, list[float]] = {n: [] for n in names}
    start = time.perf_counter()
    for r in range(1, max_rounds + 1):
        for name in names:
            fn = fns[name]
            if settle:
                time.sleep(settle)
                fn()
            t0 = time.perf_counter()
            for _ in range(reps):
                fn()
            per_call[name].append((time.perf_counter() - t0) * 1e3 / reps)
        if r >= min_rounds and (_settled(per_call, names, tol) or
                                (max_seconds is not None and time.perf_counter() - start > max_seconds)):
            break
    return {n: Timing(statistics.median(v), _iqr(v) / statistics.median(v), len(v)) for n, v in per_call.items()}


def _settled(per_call: dict[str, list[float]], names: list[str], tol: float) -> bool:
    n = len(per_call[names[0]])
    older = n - max(1, n // 4)

    def stable(series: list[float]) -> bool:
        a, b = statistics.median(series[:older]), statistics.median(series)
        return abs(a - b) <= tol * abs(b)

    if len(names) == 1:
        return stable(per_call[names[0]])
    ref = per_call[names[0]]
    return all(stable([x / y for x, y in zip(per_call[name], ref)]) for name in names[1:])


def check_provider(runtime: DeployTarget) -> None:
    """Refuse an execution provider this onnxruntime build lacks, naming the ones it has."""
    from slimnas_runtime.predictor import check_providers

    check_providers([runtime.provider])


def session(model: str | Path | bytes, runtime: DeployTarget):
    """An ONNX Runtime session for ``runtime``, made as the deployed predictor makes it (idle threads spin, as ORT's
    default); a file that does not load is a ``DataError`` naming it."""
    from slimnas_runtime.predictor import load_session, make_session

    if isinstance(model, bytes):
        return make_session(model, [runtime.provider], runtime.threads)
    return load_session(model, [runtime.provider], runtime.threads)


def session_call(sess, runtime: DeployTarget, shape: Sequence[int] | None = None) -> Callable[[], object]:
    """One inference of ``sess`` on fixed random input (``shape`` without the batch: read from the model)."""
    inp = sess.get_inputs()[0]
    dims = list(shape) if shape is not None else [int(d) for d in inp.shape[1:]]
    x = np.random.default_rng(0).normal(size=(runtime.batch, *dims)).astype(np.float32)
    name = inp.name
    return lambda: sess.run(None, {name: x})


# After a call, ONNX Runtime's idle intra-op threads spin for ~25-30 ms (CPU time measured during a sleep after a
# run, 2 threads) before they park. Sessions that take turns must leave that long between them, or each one's
# spinning threads steal the cores of the next: a tiny-space model at 2 threads, batch 1, timed 0.135 ms alone
# (spread 1-3 %) and 0.13-1.9 ms (spread 20-60 %) interleaved with three others unsettled. Timing with spinning
# off instead measured 0.17-0.21 ms: 30-50 % slower than the deployed session, and as noisy.
SPIN_SETTLE_S = 0.05


class _Call:
    """A callable inference with the pause (``settle_s``) :func:`interleaved` leaves before handing it the cores."""

    def __init__(self, fn: Callable[[], object], settle_s: float):
        self.fn, self.settle_s = fn, settle_s

    def __call__(self):
        return self.fn()


def timed_call(model: str | Path | bytes, runtime: DeployTarget, shape: Sequence[int] | None = None) -> Callable[[], object]:
    """One inference of ``model`` on ``runtime`` for :func:`interleaved`, on one session made as deployed."""
    return _Call(session_call(session(model, runtime), runtime, shape), SPIN_SETTLE_S if runtime.threads > 1 else 0.0)


def onnx_latencies(paths: dict[str, str | Path], input_size: int | dict[str, int], runtime: DeployTarget = DeployTarget(),
                   **kw) -> dict[str, Timing]:
    """Each ONNX file (input N×3×S×S) at ``runtime``, timed interleaved in one loop."""
    calls = {}
    for name, path in paths.items():
        size = input_size[name] if isinstance(input_size, dict) else input_size
        calls[name] = timed_call(path, runtime, (3, size, size))
    return interleaved(calls, **kw)
