#!/usr/bin/env python
"""Search architectures from a search-space YAML with Optuna, macro-F1 against MACs (Pareto front).

Not implemented yet: it lands with issue 3.
"""

from slimnas.cli import planned_command

if __name__ == "__main__":
    planned_command(__doc__, 3)
