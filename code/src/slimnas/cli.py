"""What every CLI shares (one copy, in the runtime package): errors become one line and exit code 2."""

from slimnas_runtime.cli import run_cli

__all__ = ["run_cli"]
