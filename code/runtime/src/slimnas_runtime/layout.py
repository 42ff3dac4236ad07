"""The competition CSV layout, read one way by training and by the predictor.

``train_df.csv`` rows name files in ``train/``, ``test_df.csv`` rows files in ``test/``. A ``file_name`` must
stay inside its folder (no absolute path, no ``..``): a CSV is data, and data never opens ``/etc/passwd``.
Keys are unique: a duplicate ``index`` would score one image twice and write a submission with two rows
for one index. CSVs are read BOM-tolerant (Excel's "CSV UTF-8" starts with one).
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from pathlib import Path, PurePath
from typing import Iterable, Sequence

from .errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def read_csv(path: str | os.PathLike, required: Sequence[str]) -> list[dict[str, str]]:
    """Rows of a CSV as dicts, checking that the ``required`` columns are present."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"{path}: missing column(s) {missing}; found {reader.fieldnames}")
            return list(reader)
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: not a readable UTF-8 CSV ({e})") from None


def split_of(csv_path: Path) -> str:
    """The image folder a layout CSV's rows live in: ``train`` for ``train_df.csv``, else ``test``."""
    return "train" if csv_path.name.lower().startswith("train") else "test"


def contained(folder: Path, name: str, where: str) -> Path:
    """``folder / name``, refused (naming ``where``, the CSV and row) when ``name`` would leave ``folder``."""
    pure = PurePath(name)
    if not name or pure.is_absolute() or pure.anchor or ".." in pure.parts or os.path.isabs(name):
        raise DataError(f"{where}: file_name {name!r} is outside {folder} (absolute or with '..'); "
                        f"file names are relative to {folder.name}/")
    return folder / pure


def check_unique(keys: Iterable[str], where: str, what: str = "index") -> None:
    """Refuse repeated keys, naming up to three of them."""
    repeated = [k for k, n in Counter(keys).items() if n > 1]
    if repeated:
        shown = ", ".join(repr(k) for k in repeated[:3]) + (" …" if len(repeated) > 3 else "")
        raise DataError(f"{where}: {len(repeated)} {what}(es) appear more than once ({shown}); every {what} must be "
                        f"unique")


def layout_rows(csv_path: Path, required: Sequence[str] = ("file_name",),
                skip_missing: bool = False) -> list[tuple[str, Path, dict]]:
    """(index, image path, row) for every row of a layout CSV, resolved in its split's folder.

    Indexes must be unique; a missing image is an error naming the row (or, with ``skip_missing``, left out
    by the caller, which gets the path anyway).
    """
    rows = read_csv(csv_path, ["file_name", *required])
    folder = csv_path.parent / split_of(csv_path)
    out = []
    for i, r in enumerate(rows):
        where = f"{csv_path} row {i + 1}"
        path = contained(folder, r["file_name"], where)
        if not skip_missing and not path.is_file():
            raise DataError(f"{path}: image file not found (listed in {where})")
        out.append((r.get("index") or str(i), path, r))
    if rows and "index" in rows[0]:
        check_unique((r["index"] for r in rows), str(csv_path))
    return out
