#!/usr/bin/env python
"""`python prune.py --help`: the same command as `slimnas prune` (code in slimnas/commands/prune.py)."""

from slimnas.cli import run_cli
from slimnas.commands.prune import main

if __name__ == "__main__":
    run_cli(main)
