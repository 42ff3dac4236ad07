"""Files written whole or not at all, and sets of files replaced as one.

A single file goes through a temp file in the same folder and ``os.replace``, so an interrupted run never
leaves a half-written CSV (or, in slimnas, YAML, checkpoint or ONNX) behind. Files that belong together (a
decomposed checkpoint and the rank_cfg it used; ``model.onnx`` and its ``export.json``) go through a
:func:`file_set`: they are staged in a hidden folder and swapped in after a write-ahead journal is on disk,
as SQLite does, so a kill at any point leaves the old set or the new one once the folder is next opened.

Written files get the mode the umask gives a new file, or keep the mode of the file they replace
(``mkstemp`` alone would make every output 0600).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _mode_for(path: Path) -> int:
    """The mode a file written at ``path`` should have: the replaced file's, else what the umask allows."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success rename it onto ``path``, on failure remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_csv(path: str | os.PathLike, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return Path(path)


def remove_stale_temps(folder: Path, names: Iterable[str]) -> None:
    """Remove the ``.<name>.*.tmp`` files that a killed :func:`atomic_path` write of ``names`` left in ``folder``."""
    for name in names:
        for stale in folder.glob(f".{name}.*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()


class FileSet:
    """Staged members of a :func:`file_set`; write each member to :meth:`path`."""

    def __init__(self, folder: Path, name: str, members: Sequence[str]):
        self.folder, self.members = folder, list(members)
        self.staging = folder / f".{name}.staging"
        self.journal = folder / f".{name}.commit"

    def path(self, member: str) -> Path:
        if member not in self.members:
            raise ValueError(f"{member!r} is not a member of this file set ({', '.join(self.members)})")
        return self.staging / member

    def commit(self) -> None:
        written = [m for m in self.members if (self.staging / m).is_file()]
        for m in written:  # the mode the member would have got written in place
            os.chmod(self.staging / m, _mode_for(self.folder / m))
        dropped = [m for m in self.members if m not in written]
        with atomic_path(self.journal) as tmp:  # the commit point: from here on the new set wins
            tmp.write_text(json.dumps({"put": written, "drop": dropped}))
        _roll_forward(self)


def _roll_forward(s: FileSet) -> None:
    plan = json.loads(s.journal.read_text())
    for m in plan["put"]:
        if (s.staging / m).is_file():
            os.replace(s.staging / m, s.folder / m)
    for m in plan["drop"]:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(s.folder / m)
    shutil.rmtree(s.staging, ignore_errors=True)
    os.unlink(s.journal)


def recover(folder: str | os.PathLike, name: str, members: Sequence[str]) -> None:
    """Finish or undo what a killed run of file set ``name`` left in ``folder``: a committed set is completed,
    an uncommitted staging folder and the members' stray temp files are removed."""
    s = FileSet(Path(folder), name, members)
    if s.journal.is_file():
        try:
            _roll_forward(s)
        except (ValueError, KeyError, TypeError):  # a journal cut before its rename is never read: only a hand-made one
            os.unlink(s.journal)
    shutil.rmtree(s.staging, ignore_errors=True)
    remove_stale_temps(s.folder, [*members, s.journal.name])


@contextlib.contextmanager
def file_set(folder: str | os.PathLike, name: str, members: Sequence[str]) -> Iterator[FileSet]:
    """Write the files ``members`` of ``folder`` as one set: all new or (if the block fails) all as before.

    A member not written in the block is removed at the commit (it belonged to the old set only). The
    caller holds the folder's run lock, so one writer at a time.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    recover(folder, name, members)
    s = FileSet(folder, name, members)
    s.staging.mkdir()
    try:
        yield s
    except BaseException:
        shutil.rmtree(s.staging, ignore_errors=True)
        raise
    s.commit()
