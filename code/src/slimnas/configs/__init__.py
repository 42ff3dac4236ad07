"""The configs that ship inside the package, found by name: ``--model baseline``, ``--data synthetic``,
``--space default``. An installed slimnas finds them from any directory; a file path always wins."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..errors import ConfigError

KINDS = ("model", "data", "search")


def packaged(kind: str) -> dict[str, Path]:
    """``{name: path}`` of the shipped ``kind`` configs (model, data or search)."""
    folder = Path(str(resources.files(__name__) / kind))
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def find_config(value: str | Path, kind: str) -> Path:
    """A config file by path, or by the name of a packaged one (``baseline`` or ``baseline.yaml``)."""
    path = Path(value)
    if path.is_file():
        return path
    if len(path.parts) > 1:  # a path, not a name
        raise ConfigError(f"{value}: file not found")
    shipped = packaged(kind)
    name = path.name.removesuffix(".yaml").removesuffix(".yml")
    if name in shipped:
        return shipped[name]
    raise ConfigError(f"{value}: no such file, and no packaged {kind} config of that name "
                      f"(packaged: {', '.join(shipped)})")
