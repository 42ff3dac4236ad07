#!/usr/bin/env python
"""`python train.py --help`: the same command as `slimnas train` (code in slimnas/commands/train.py)."""

from slimnas.cli import run_cli
from slimnas.commands.train import main

if __name__ == "__main__":
    run_cli(main)
