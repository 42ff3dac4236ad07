"""What every CLI shares: one-line errors with exit code 2, and the checks of where a command may write."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable, Iterable, NoReturn

from .errors import SlimnasError


class UsageError(SlimnasError):
    """A flag argparse refused (unknown, missing, of the wrong type)."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are the house's one ``error: …`` line (exit 2), not a usage block with a prefix."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


class _DeprecatedAlias(argparse.Action):
    def __init__(self, option_strings, dest, new: str = "", **kwargs):
        super().__init__(option_strings, dest, **kwargs)
        self.new = new

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"warning: {option_string} is deprecated and goes in the next release; use {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def deprecated_alias(parser: argparse.ArgumentParser, old: str, new: str) -> None:
    """Keep ``old`` working for one release as a hidden alias of the existing flag ``new``, with a warning."""
    action = next(a for a in parser._actions if new in a.option_strings)
    parser.add_argument(old, dest=action.dest, type=action.type, action=_DeprecatedAlias, new=new,
                        help=argparse.SUPPRESS)


def run_cli(main: Callable[[], object]) -> NoReturn:
    """Run ``main``; a :class:`SlimnasError` becomes ``error: <message>`` on stderr and exit code 2.

    Ctrl-C exits with 130 after whatever ``main`` already wrote (all writes are atomic).
    """
    try:
        main()
    except SlimnasError as e:
        print("error: " + " ".join(str(e).split("\n")), file=sys.stderr)  # one line, whatever the message held
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: files written so far are kept", file=sys.stderr)
        sys.exit(130)
    sys.exit(0)


def _input_at(path: Path, inputs: Iterable[str | os.PathLike | None]) -> Path | None:
    """The input that ``path`` is (the same file, by path or by inode), if any."""
    for given in map(Path, filter(None, inputs)):
        try:
            if path.resolve() == given.resolve() or (path.exists() and given.exists() and os.path.samefile(path, given)):
                return given
        except OSError:
            continue
    return None


def check_output_file(path: str | os.PathLike, flag: str, inputs: Iterable[str | os.PathLike | None] = ()) -> Path:
    """Refuse, before any work, an output file that is one of the ``inputs``, a folder, or not writable."""
    path = Path(path)
    given = _input_at(path, inputs)
    if given is not None:
        raise SlimnasError(f"{flag} {path}: is an input of this command ({given}); writing it would destroy it, "
                           f"give another {flag}")
    if path.is_dir():
        raise SlimnasError(f"{flag} {path}: is a folder; give the file to write")
    _check_writable(path.parent, flag, path)
    return path


def check_output_dir(folder: str | os.PathLike, flag: str, inputs: Iterable[str | os.PathLike | None] = (),
                     outputs: Iterable[str] = (), run_files: Iterable[str] = (), exist_ok: bool = False,
                     hint: str = "") -> Path:
    """Refuse, before any work, an output folder that cannot take this command's files.

    ``outputs`` are the names the command writes into the folder: none may be one of the ``inputs``.
    ``run_files`` mark a finished run of this command: a folder holding one is refused unless ``exist_ok``.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise SlimnasError(f"{flag} {folder}: is a file, not a folder; give a folder for this command's outputs")
    inputs = list(inputs)
    for name in outputs:
        given = _input_at(folder / name, inputs)
        if given is not None:
            raise SlimnasError(f"{flag} {folder}: would write {folder / name}, which is an input of this command "
                               f"({given}); give another {flag}")
    held = sorted(name for name in run_files if (folder / name).exists())
    if held and not exist_ok:
        raise SlimnasError(f"{flag} {folder}: already holds a run ({', '.join(held)}); give another {flag}"
                           + (f", {hint}" if hint else "") + ", or replace it with --exist-ok")
    _check_writable(folder, flag, folder)
    return folder


def _check_writable(folder: Path, flag: str, shown: Path) -> None:
    """The nearest existing ancestor of ``folder`` must be a writable folder (what ``mkdir -p`` then needs)."""
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise SlimnasError(f"{flag} {shown}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise SlimnasError(f"{flag} {shown}: {probe} is not writable")
