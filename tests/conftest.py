"""Shared fixtures: a tiny synthetic dataset and tiny model/data YAMLs, all made by the tests themselves."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

TINY_MODEL = {
    "input_channel": 3,
    "depth_multiple": 1.0,
    "width_multiple": 1.0,
    "backbone": [
        [1, "Conv", [8, 3, 2]],
        [1, "InvertedResidualv2", [16, 2, 2]],
        [1, "GlobalAvgPool", []],
        [1, "Flatten", []],
        [1, "Linear", ["num_classes"]],
    ],
}


def pytest_configure(config):
    config.addinivalue_line("markers", "postgres: needs a PostgreSQL server (started by the test; skipped with the "
                                       "reason when none can be had)")


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Nothing a test does touches the user's ~/.cache/slimnas."""
    os.environ["SLIMNAS_CACHE"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    from slimnas.data.synthetic import generate

    return generate(tmp_path_factory.mktemp("data") / "tiny", scale=0.03, size=32, seed=0, progress=False)


@pytest.fixture(scope="session")
def tiny_data_yaml(tiny_dataset, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "tiny_data.yaml"
    path.write_text(yaml.safe_dump({
        "kind": "dacon_csv", "root": str(tiny_dataset), "img_size": 32, "batch_size": 32,
        "val_fraction": 0.3, "augment": ["HorizontalFlip"], "invariant_to": ["hflip"],
    }))
    return path


@pytest.fixture()
def tiny_model_yaml(tmp_path) -> Path:
    path = tmp_path / "tiny_model.yaml"
    path.write_text(yaml.safe_dump(TINY_MODEL))
    return path


def run_script(*args: str, cwd: Path = REPO, timeout: int = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a repo script or module with this interpreter, as a user would (``env``: extra variables)."""
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})})


TINY_SPACE = {
    "input_size": [24, 32],
    "stem": {"channels": [8], "kernel": 3, "stride": 2, "act": ["relu", "hswish"]},
    "stages": [
        {"block": ["InvertedResidualv2", "MBConv", "DWConv"], "channels": [8, 16], "repeats": {"low": 1, "high": 2},
         "stride": 2, "expansion": [2, 3], "kernel": [3, 5], "se": [False, True]},
    ],
    "head": {"channels": [0, 32], "dropout": 0.0},
    "train": {"lr": {"low": 0.002, "high": 0.01, "log": True}},
}


@pytest.fixture()
def tiny_space_yaml(tmp_path) -> Path:
    path = tmp_path / "tiny_space.yaml"
    path.write_text(yaml.safe_dump(TINY_SPACE))
    return path
