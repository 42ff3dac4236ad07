"""What every CLI shares (one copy, in the runtime package): errors become one line and exit code 2; where a
command may write is checked before it does any work."""

from pathlib import Path

from slimnas_runtime.cli import ArgumentParser, check_output_dir, check_output_file, deprecated_alias, run_cli

from .errors import ConfigError

__all__ = ["ArgumentParser", "check_output_dir", "check_output_file", "deprecated_alias", "newest", "run_cli"]


def newest(pattern: str, first: str) -> Path:
    """The newest file matching ``pattern`` (e.g. ``runs/train/*/best.pt``): what a command takes when given no
    ``--weight``; none found is an error saying what to run ``first``."""
    found = sorted(Path().glob(pattern), key=lambda p: p.stat().st_mtime)
    if not found:
        raise ConfigError(f"no --weight given and no {pattern} found: run {first} first")
    return found[-1]
