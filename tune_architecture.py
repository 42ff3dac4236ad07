#!/usr/bin/env python
"""`python tune_architecture.py --help`: the same command as `slimnas search` (code in slimnas/commands/search.py)."""

from slimnas.cli import run_cli
from slimnas.commands.search import main

if __name__ == "__main__":
    run_cli(main)
