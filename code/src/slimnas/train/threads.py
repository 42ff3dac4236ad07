"""How many CPU threads, and which memory layout, to train with: measured on the machine as it is now, not assumed.

On an idle machine torch's default (a thread per core) is fastest. On a busy one, each parallel region
waits for the thread that shares its core with another process, and one thread is faster: on 2 cores
with one core held by another process, two epochs of the demo's model took 11.5 s with 2 threads and
8.1 s with 1 (idle: 5.9 s and 8.0 s). ``fastest_setup`` times the real model's forward + backward on a
batch of the real size with each candidate, interleaved, and keeps the fastest.

The layout is timed the same way. oneDNN's convolutions, depthwise ones above all, run faster on NHWC
(``channels_last``) tensors on x86: a training step of the ``tiny`` space's start point took 29 ms against
46-49 ms in PyTorch's default NCHW, the baseline YAML 133 ms against 232-327 ms (1 thread, batch 32, 96 px).
Whether it pays elsewhere (another CPU, another model) is measured, not assumed; the arithmetic is the same,
only the order of the sums (and so the last bits) differs.
"""

from __future__ import annotations

import copy
import statistics
import time

import torch
import torch.nn as nn

from ..pace import available_cores


LAYOUTS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}


def _step_seconds(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    t0 = time.perf_counter()
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    return time.perf_counter() - t0


def fastest_setup(model: nn.Module, batch: tuple[int, ...], num_classes: int, threads: int = 0,
                  layout: str = "auto", repeats: int = 3) -> tuple[int, str, dict[tuple[int, str], float]]:
    """(thread count, layout, median seconds per training step of every pair tried), the fastest pair kept.

    ``threads`` 0 tries 1 and one per core, ``layout`` "auto" tries both :data:`LAYOUTS`; a fixed value is
    not timed. ``batch`` is the input shape (N, C, H, W). A copy of the model is timed, so batch-norm
    statistics and gradients of the model being trained are untouched; the random input never touches the
    seeded RNG.
    """
    counts = sorted({1, available_cores()}) if not threads else [threads]
    layouts = list(LAYOUTS) if layout == "auto" else [layout]
    pairs = [(n, lay) for n in counts for lay in layouts]
    if len(pairs) == 1:
        return counts[0], layouts[0], {}
    before = torch.get_num_threads()
    probes = {lay: copy.deepcopy(model).train().to(memory_format=LAYOUTS[lay]) for lay in layouts}
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, generator=gen)
    xs = {lay: x.contiguous(memory_format=LAYOUTS[lay]) for lay in layouts}
    y = torch.randint(0, num_classes, (batch[0],), generator=gen)
    times: dict[tuple[int, str], list[float]] = {pair: [] for pair in pairs}
    try:
        for n, lay in pairs:  # warm-up: first calls allocate and pick kernels
            torch.set_num_threads(n)
            _step_seconds(probes[lay], xs[lay], y)
        for _ in range(repeats):  # interleaved, so a change in the machine's load hits every pair alike
            for n, lay in pairs:
                torch.set_num_threads(n)
                times[(n, lay)].append(_step_seconds(probes[lay], xs[lay], y))
    finally:
        torch.set_num_threads(before)
    medians = {pair: statistics.median(t) for pair, t in times.items()}
    n, lay = min(medians, key=medians.get)
    return n, lay, medians
