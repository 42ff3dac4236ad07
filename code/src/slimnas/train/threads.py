"""How many CPU threads to train with: measured on the machine as it is now, not assumed.

On an idle machine torch's default (a thread per core) is fastest. On a busy one, each parallel region
waits for the thread that shares its core with another process, and one thread is faster: on 2 cores
with one core held by another process, two epochs of the demo's model took 11.5 s with 2 threads and
8.1 s with 1 (idle: 5.9 s and 8.0 s). ``fastest_threads`` times the real model's forward + backward on a
batch of the real size with each candidate, interleaved, and keeps the fastest.
"""

from __future__ import annotations

import copy
import os
import statistics
import time

import torch
import torch.nn as nn


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _step_seconds(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    t0 = time.perf_counter()
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    return time.perf_counter() - t0


def fastest_threads(model: nn.Module, batch: tuple[int, ...], num_classes: int, repeats: int = 5
                    ) -> tuple[int, dict[int, float]]:
    """(fastest thread count, median seconds per training step for each count tried).

    ``batch`` is the input shape (N, C, H, W). A copy of the model is timed, so batch-norm statistics and
    gradients of the model being trained are untouched; the random input never touches the seeded RNG.
    """
    cores = available_cores()
    candidates = sorted({1, cores})
    if len(candidates) == 1:
        return cores, {}
    before = torch.get_num_threads()
    probe = copy.deepcopy(model).train()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, generator=gen)
    y = torch.randint(0, num_classes, (batch[0],), generator=gen)
    times: dict[int, list[float]] = {n: [] for n in candidates}
    try:
        for n in candidates:  # warm-up: first calls allocate and pick kernels
            torch.set_num_threads(n)
            _step_seconds(probe, x, y)
        for _ in range(repeats):  # interleaved, so a change in the machine's load hits every count alike
            for n in candidates:
                torch.set_num_threads(n)
                times[n].append(_step_seconds(probe, x, y))
    finally:
        torch.set_num_threads(before)
    medians = {n: statistics.median(t) for n, t in times.items()}
    return min(medians, key=medians.get), medians
