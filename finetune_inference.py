#!/usr/bin/env python
"""Fine-tune a decomposed checkpoint, export ONNX (FP32/INT8), check parity and predict.

Not implemented yet: it lands with issue 5. The flags below are the planned interface.
"""

import argparse
import sys


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.parse_known_args()
    print("finetune_inference.py: not yet implemented (issue 5); see README for what works today", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    main()
