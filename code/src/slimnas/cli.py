"""What every CLI shares (one copy, in the runtime package): errors become one line and exit code 2; where a
command may write is checked before it does any work."""

from slimnas_runtime.cli import ArgumentParser, check_output_dir, check_output_file, run_cli

__all__ = ["ArgumentParser", "check_output_dir", "check_output_file", "run_cli"]
