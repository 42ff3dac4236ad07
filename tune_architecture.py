#!/usr/bin/env python
"""Search architectures from a search-space YAML with Optuna

Not implemented yet: it lands with issue  macro-F1 vs MACs (Pareto front).:3.
"""

from slimnas.cli import planned_command

if __name__ == "__main__":
    planned_command(__doc__,  macro-F1 vs MACs (Pareto front).:3)
