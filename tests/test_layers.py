"""The library's floors: a module imports only from floors below its own, never up or around a circle.

Read from the source with ``ast``, so an import hidden in a function body counts as much as one at the top
of a file (a circle that only runs lazily is still a circle). Within one subpackage the modules may import
each other, but not in a circle either.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from conftest import REPO

SRC = REPO / "code" / "src"

# lowest first; a unit is a top-level module or subpackage of slimnas
FLOORS = [
    {"errors"},
    {"io", "cli", "settings", "configs", "shapes", "onnx_rewrite"},
    {"macs", "modules", "runtime", "pace"},
    {"model", "data", "factorized", "pruned"},
    {"checkpoint"},
    {"train", "latency"},
    {"decompose", "export", "search", "prune"},
    {"commands"},
    {"__main__"},
]
FLOOR = {unit: i for i, units in enumerate(FLOORS) for unit in units}


def _imports(src: Path = SRC) -> list[tuple[str, str, str]]:
    """(importing module, imported slimnas module, where) for every import in the package, lazy ones included."""
    found = []
    for f in sorted((src / "slimnas").rglob("*.py")):
        parts = list(f.relative_to(src).with_suffix("").parts)
        package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = package[:len(package) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                targets = [target] if node.module or not node.level else \
                    [f"{target}.{a.name}" if _is_module(src, f"{target}.{a.name}") else target for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for t in targets:
                if t == "slimnas" or t.startswith("slimnas."):
                    found.append((module, t, f"{f.relative_to(src)}:{node.lineno}"))
    return found


def _is_module(src: Path, name: str) -> bool:
    path = src.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "(root)"


def test_every_unit_has_a_floor():
    units = {_unit(m) for m, _, _ in _imports()} - {"(root)"}
    assert units <= set(FLOOR), f"give these a floor in FLOORS: {sorted(units - set(FLOOR))}"


def _upward(imports) -> list[str]:
    return [f"{where}: {_unit(m)} (floor {FLOOR[_unit(m)]}) imports {t} (floor {FLOOR[_unit(t)]})"
            for m, t, where in imports if _unit(t) not in ("(root)", _unit(m)) and FLOOR[_unit(t)] >= FLOOR[_unit(m)]]


def test_imports_go_down_the_floors_only():
    upward = _upward(_imports())
    assert not upward, "\n".join(upward)


def test_no_circle_between_the_modules_of_a_subpackage():
    graph = defaultdict(set)
    for m, t, _ in _imports():
        if _unit(m) == _unit(t) and m != t and not t.startswith(m + "."):
            graph[m].add(t if t in _modules() else t.rsplit(".", 1)[0])
    state, circles = {}, []

    def visit(node, path):
        state[node] = "open"
        for nxt in graph.get(node, ()):
            if state.get(nxt) == "open":
                circles.append(" -> ".join(path[path.index(nxt):] + [nxt]) if nxt in path else f"{node} -> {nxt}")
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in list(graph):
        if node not in state:
            visit(node, [node])
    assert not circles, circles


def _modules() -> set[str]:
    out = set()
    for f in (SRC / "slimnas").rglob("*.py"):
        parts = list(f.relative_to(SRC).with_suffix("").parts)
        out.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


def test_the_floor_check_sees_a_lazy_import(tmp_path):
    """The check can fail: a function-local import from a higher floor (the circle issue 29 found) is caught."""
    pkg = tmp_path / "slimnas"
    (pkg / "decompose").mkdir(parents=True)
    for f in (pkg / "__init__.py", pkg / "decompose" / "__init__.py"):
        f.write_text("")
    (pkg / "checkpoint.py").write_text("def load(model, spec):\n    from .decompose import apply_decomposition\n")
    assert _upward(_imports(tmp_path)) == ["slimnas/checkpoint.py:2: checkpoint (floor 4) imports slimnas.decompose "
                                           "(floor 6)"]
