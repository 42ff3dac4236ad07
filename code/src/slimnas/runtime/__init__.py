"""Torch-free deployment: ``Predictor`` runs an exported ONNX file with onnxruntime, numpy and pillow."""

from .predictor import Predictor, list_inputs, write_predictions

__all__ = ["Predictor", "list_inputs", "write_predictions"]
