#!/usr/bin/env python
"""`python demo.py --help`: the same command as `slimnas demo` (code in slimnas/commands/demo.py)."""

from slimnas.cli import run_cli
from slimnas.commands.demo import main

if __name__ == "__main__":
    run_cli(main)
