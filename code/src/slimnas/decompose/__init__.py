"""Low-rank decomposition of a trained model's convolutions and linears (Tucker-2, CP, SVD, separable)."""

from .methods import METHODS, decompose, layer_macs, relative_error, shell
from .model import (apply_decomposition, auto_rank_cfg, decomposable, decompose_model, input_sizes, load_rank_cfg,
                    resolve_spec)

__all__ = ["METHODS", "apply_decomposition", "auto_rank_cfg", "decomposable", "decompose", "decompose_model",
           "input_sizes", "layer_macs", "load_rank_cfg", "relative_error", "resolve_spec", "shell"]
