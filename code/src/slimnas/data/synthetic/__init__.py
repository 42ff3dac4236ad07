"""A deterministic, procedurally drawn look-alike of the MVTec AD anomaly-classes task."""

from .generate import generate, render, scaled_counts
from .scenes import SCENES

__all__ = ["SCENES", "generate", "render", "scaled_counts"]
