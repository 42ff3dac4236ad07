"""Low-rank decomposition of a trained model's convolutions and linears (Tucker-2, CP, SVD, separable)."""

from ..factorized import METHODS, apply_decomposition, decomposable, resolve_spec, shell
from ..macs import layer_macs
from .methods import decompose, relative_error
from .model import auto_rank_cfg, decompose_model, input_sizes, load_rank_cfg

__all__ = ["METHODS", "apply_decomposition", "auto_rank_cfg", "decomposable", "decompose", "decompose_model",
           "input_sizes", "layer_macs", "load_rank_cfg", "relative_error", "resolve_spec", "shell"]
