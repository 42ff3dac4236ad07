"""``slimnas <command> [options]``: every step of the road from one console script.

    slimnas --help
    slimnas train --model baseline --epochs 1
    slimnas predict model.onnx images/ --out preds.csv
"""

from __future__ import annotations

import difflib
import sys

from .cli import run_cli
from .commands import COMMANDS, command_main


def usage() -> str:
    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {what}" for name, (_, what) in COMMANDS.items())
    return (f"usage: slimnas <command> [options]   (slimnas <command> --help for its options)\n\n"
            f"Find, shrink and ship small image classifiers.\n\ncommands:\n{rows}\n")


def main() -> None:
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(usage(), end="")
        sys.exit(0 if args else 2)
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, COMMANDS, 1)
        print(f"error: unknown command {name!r}" + (f"; did you mean {close[0]!r}?" if close else "")
              + f" (commands: {', '.join(COMMANDS)})", file=sys.stderr)
        sys.exit(2)
    sys.argv = [f"slimnas {name}", *rest]  # argparse names the command in usage and errors
    run_cli(command_main(name))


if __name__ == "__main__":
    main()
