#!/usr/bin/env python
"""Fine-tune a decomposed checkpoint, export ONNX (FP32/INT8), check parity and predict.

Not implemented yet: it lands with issue 5.
"""

from slimnas.cli import planned_command

if __name__ == "__main__":
    planned_command(__doc__, 5)
