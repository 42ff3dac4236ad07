"""Structured channel pruning of a trained checkpoint (Torch-Pruning), for a MACs or measured-latency target."""

from .model import CRITERIA, prune_channels
from .run import PruneResult, prune_checkpoint

__all__ = ["CRITERIA", "PruneResult", "prune_channels", "prune_checkpoint"]
