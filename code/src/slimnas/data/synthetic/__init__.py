"""A deterministic, procedurally drawn look-alike of the MVTec AD anomaly-classes task."""

from .defects import DEFAULT_DEFECT_SCALE, defect_scale
from .generate import generate, render, scaled_counts
from .scenes import SCENES

__all__ = ["DEFAULT_DEFECT_SCALE", "SCENES", "defect_scale", "generate", "render", "scaled_counts"]
