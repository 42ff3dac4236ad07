#!/usr/bin/env python
"""`python decompose.py --help`: the same command as `slimnas decompose` (code in slimnas/commands/decompose.py)."""

from slimnas.cli import run_cli
from slimnas.commands.decompose import main

if __name__ == "__main__":
    run_cli(main)
