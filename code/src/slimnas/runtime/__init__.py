"""Torch-free deployment, re-exported from the deploy-only ``slimnas-runtime`` package (one copy of the code).

``Predictor`` runs an exported ONNX file with onnxruntime, numpy and pillow; on a device, install
``slimnas-runtime`` alone.
"""

from slimnas_runtime import Predictor, list_inputs, make_session, read_metadata, write_predictions

__all__ = ["Predictor", "list_inputs", "make_session", "read_metadata", "write_predictions"]
