#!/usr/bin/env python
"""Search architectures from a search-space YAML with Optuna

Not implemented yet: it lands with issue  macro-F1 vs MACs (Pareto front).:3. The flags below are the planned interface.
"""

import argparse
import sys


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.parse_known_args()
    print("tune_architecture.py: not yet implemented (issue  macro-F1 vs MACs (Pareto front).:3); see README for what works today", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    main()
