"""The docs say what the code and the benches say: a short README whose every measured number is in
bench/results.json, and a command reference generated from the commands' own --help."""

from __future__ import annotations

import json
import re

from conftest import REPO


def _numbers(value) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    return []


def _renderings(values: list[float]) -> set[str]:
    """Every way the README may print a measured value: as is, in millions, or as a percentage, rounded to 0-4
    decimals; a negative one after its sign (the README writes −, which the number pattern leaves out)."""
    out = set()
    for v in map(abs, values):
        for scaled in (v, v / 1e6, v * 100):
            out |= {f"{scaled:.{d}f}" for d in range(5)}
    return out


def test_the_readme_is_a_front_door():
    assert len((REPO / "README.md").read_text().splitlines()) <= 300


def test_every_measured_number_in_the_readme_is_in_the_results():
    readme = (REPO / "README.md").read_text()
    results = readme.split("\n## Results\n", 1)[1].split("\n## ", 1)[0]
    known = _renderings(_numbers(json.loads((REPO / "bench" / "results.json").read_text())))
    measured = [m for m in re.findall(r"(?<![\w.])\d+\.\d+(?![\w.])", results)]
    assert len(measured) >= 15  # the section does quote numbers
    missing = [m for m in measured if m not in known]
    assert not missing, f"README numbers with no source in bench/results.json: {missing}"
    for section in re.findall(r"section `(\w+)`|\(`(\w+)`\)", results):
        name = next(s for s in section if s)
        assert name in json.loads((REPO / "bench" / "results.json").read_text()), name


def test_the_command_reference_is_generated_from_the_commands():
    from slimnas.commands.reference import markdown

    assert (REPO / "docs" / "cli.md").read_text() == markdown() + "\n", \
        "docs/cli.md is stale: python -m slimnas.commands.reference > docs/cli.md"
