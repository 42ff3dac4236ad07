"""The command line: one module per command, each a ``main()`` that parses ``sys.argv``.

The same code runs as ``slimnas <command>`` (the console script), ``python -m slimnas <command>`` and
the repository's top-level scripts (``train.py`` …), which the design card names.
"""

from __future__ import annotations

import importlib
from typing import Callable

COMMANDS = {  # name -> (module, what it does); `predict` lives in the deploy-only runtime package
    "search": ("slimnas.commands.search", "architecture search with Optuna: macro-F1 vs MACs (tune_architecture.py)"),
    "train": ("slimnas.commands.train", "train a model YAML or a timm model (train.py)"),
    "prune": ("slimnas.commands.prune", "channel pruning of a checkpoint, for a MACs or latency target (prune.py)"),
    "decompose": ("slimnas.commands.decompose", "Tucker-2 / CP / SVD decomposition of a checkpoint (decompose.py)"),
    "finetune": ("slimnas.commands.finetune", "fine-tune, then export ONNX (FP32/INT8), check it and predict (finetune_inference.py)"),
    "predict": ("slimnas_runtime.__main__", "predict images with an exported ONNX model, torch-free (slimnas-predict)"),
    "demo": ("slimnas.commands.demo", "the whole road on the embedded synthetic data (demo.py)"),
}


def command_main(name: str) -> Callable[[], None]:
    """The ``main()`` of ``slimnas <name>`` (it parses ``sys.argv``), imported only when asked for."""
    return importlib.import_module(COMMANDS[name][0]).main
