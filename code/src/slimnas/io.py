"""Files that are written whole or not at all.

Every file slimnas writes goes through a temp file in the same directory followed by ``os.replace``,
so an interrupted run never leaves a half-written YAML, CSV or checkpoint behind.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Iterator

from slimnas_runtime.io import atomic_path, file_set, recover, write_csv  # one copy, shared with the runtime
from slimnas_runtime.layout import read_csv

from .errors import ConfigError, SlimnasError

__all__ = ["atomic_path", "cache_dir", "file_set", "made_dirs", "parse_problem", "read_csv", "read_yaml", "recover",
           "run_lock", "write_csv", "write_json", "write_text", "write_yaml"]


@contextlib.contextmanager
def run_lock(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold ``folder/.lock`` while a run writes there: a second run into the same folder is refused at once
    (naming the folder) instead of both reporting success while one's files replace the other's.

    An advisory ``flock``, released by the OS however the process ends; the file is removed on release
    (the inode check makes that safe against a run that opened it just before).
    """
    with made_dirs(folder, keep=False) as folder, _locked(folder):
        yield folder


@contextlib.contextmanager
def made_dirs(folder: str | os.PathLike, keep: bool = True) -> Iterator[Path]:
    """``mkdir -p folder`` for the block; the folders it made are removed again if they are left empty when the
    block fails (or, with ``keep=False``, however it ends): a refused run leaves no empty folders behind."""
    folder = Path(folder)
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    ok = False
    try:
        yield folder
        ok = True
    finally:
        if not (ok and keep):
            for p in created:
                with contextlib.suppress(OSError):
                    p.rmdir()


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # no flock (Windows): run unlocked
        yield
        return
    path = folder / ".lock"
    while True:
        f = open(path, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise SlimnasError(f"{folder}: another slimnas run is writing here ({holder}); wait for it to finish "
                               f"or give another output folder") from None
        if path.exists() and os.stat(path).st_ino == os.fstat(f.fileno()).st_ino:
            break
        f.close()  # the holder removed the file as we opened it: take the new one
    try:
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}")
        f.flush()
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        f.close()  # closing releases the lock


@contextlib.contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (blocking), so concurrent writers of one file take turns: read, merge
    and write under it."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): unlocked
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def cache_dir() -> Path:
    """Where slimnas keeps what it can make again (generated data, latency tables): ``$SLIMNAS_CACHE``, else
    ``~/.cache/slimnas``."""
    return Path(os.environ.get("SLIMNAS_CACHE", Path.home() / ".cache" / "slimnas"))


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_yaml(path: str | os.PathLike, data: Any) -> Path:
    import yaml  # imported here so the torch-free runtime, which writes CSV only, needs no pyyaml

    return write_text(path, yaml.safe_dump(data, sort_keys=False, default_flow_style=None))


def write_json(path: str | os.PathLike, data: Any) -> Path:
    return write_text(path, json.dumps(data, indent=2) + "\n")


def read_yaml(path: str | os.PathLike) -> Any:
    """Load YAML (or JSON, a YAML subset) with ``safe_load``; errors name the file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid YAML ({parse_problem(e)})") from None


def parse_problem(e: Exception) -> str:
    """A YAML/JSON parser's error in one line: what is wrong and where (PyYAML's own spans four lines)."""
    mark = getattr(e, "problem_mark", None)
    if mark is not None:
        return f"{getattr(e, 'problem', None) or e.__class__.__name__} at line {mark.line + 1}, column {mark.column + 1}"
    return " ".join(str(e).split())
