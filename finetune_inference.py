#!/usr/bin/env python
"""`python finetune_inference.py --help`: the same command as `slimnas finetune` (code in slimnas/commands/finetune.py)."""

from slimnas.cli import run_cli
from slimnas.commands.finetune import main

if __name__ == "__main__":
    run_cli(main)
