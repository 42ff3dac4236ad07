"""slimnas-runtime: run a slimnas-exported ONNX classifier with onnxruntime, numpy and pillow only.

The ONNX file carries its own preprocessing (classes, input size, resize mode, mean/std, the
label-preserving symmetries for TTA), so nothing else from training is needed on the device.
"""

from .errors import DataError, SlimnasError
from .predictor import Predictor, list_inputs, make_session, read_metadata, write_predictions

__version__ = "0.1.0"
__all__ = ["DataError", "Predictor", "SlimnasError", "list_inputs", "make_session", "read_metadata",
           "write_predictions"]
