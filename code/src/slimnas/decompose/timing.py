"""Decomposition measured on the deployment runtime: per-layer ms from the latency table, whole models interleaved.

Fewer MACs is not faster: a k×k conv split into three thinner convs pays for three kernel launches
and lower arithmetic intensity, and on small layers that can cost more than the MACs saved. So the
``latency`` rule prices every candidate by its measured time, and every rule's result is timed against
its source before it is reported.
"""

from __future__ import annotations

import torch.nn as nn

from ..latency.measure import DeployTarget, Timing, interleaved
from ..latency.table import LatencyTable, model_call


def layer_shape(layer: nn.Module, hw: tuple[int, int] | None) -> tuple:
    """A layer's input shape without the batch: (C, H, W) for convs, (features,) for linears."""
    if isinstance(layer, nn.Linear):
        return (layer.in_features,)
    return (layer.in_channels, *(hw or (8, 8)))


class LayerTimer:
    """Milliseconds of a layer (or its replacement) on ``runtime``, without the per-call overhead."""

    def __init__(self, runtime: DeployTarget = DeployTarget(), table: LatencyTable | None = None):
        self.runtime = runtime
        self.table = table or LatencyTable(runtime)
        self.over = self.table.overhead()

    def __call__(self, module: nn.Module, shape: tuple) -> float:
        return max(self.table.ms(module, shape) - self.over, 0.0)

    def save(self) -> None:
        self.table.save()


class ModelTimer:
    """Whole models on ``runtime``; ``compare`` times them interleaved in one loop."""

    def __init__(self, runtime: DeployTarget = DeployTarget()):
        self.runtime = runtime

    def call(self, model: nn.Module, input_size: int):
        return model_call(model, input_size, self.runtime)

    def compare(self, calls: dict) -> dict[str, Timing]:
        return interleaved(calls, max_rounds=30)

    def alone(self, model: nn.Module, input_size: int) -> Timing:
        return self.compare({"model": self.call(model, input_size)})["model"]
