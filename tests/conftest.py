"""Shared fixtures: a tiny synthetic dataset and tiny model/data YAMLs, all made by the tests themselves."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def _one_core_per_worker() -> None:
    """Under pytest-xdist (``-n auto``: a worker per core) each worker runs on a core of its own, as the benches pin
    theirs: otherwise torch and ONNX Runtime each start a thread per core in every worker, two workers' threads spin
    against each other, and every timing at ORT's default threads waits out the others' spinning. Pinned, a worker
    sees one core, so its defaults are 1 thread (tests that need 2 threads ask for them). Done before any test module
    imports torch; the scripts the tests start inherit it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not worker.startswith("gw") or len(cpus) < 2 or int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0")) > len(cpus):
        return
    os.sched_setaffinity(0, {cpus[int(worker[2:]) % len(cpus)]})
    os.environ.setdefault("OMP_NUM_THREADS", "1")


_one_core_per_worker()

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


ENTRY_POINTS = {  # what each script or ``-m`` module runs: its command's main(), through run_cli
    "train.py": "slimnas.commands.train", "decompose.py": "slimnas.commands.decompose",
    "finetune_inference.py": "slimnas.commands.finetune", "tune_architecture.py": "slimnas.commands.search",
    "demo.py": "slimnas.commands.demo", "prune.py": "slimnas.commands.prune", "slimnas.runtime": "slimnas_runtime.__main__",
    "slimnas.latency": "slimnas.latency.__main__",
}


def run_in_process(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """:func:`run_script`'s result without a new interpreter: the same ``main()`` and ``run_cli`` (argv parsing,
    one-line errors, exit code), minus the 4-5 s of importing torch & co. again. The catalogue runs most cases
    this way and one per entry point through :func:`run_script`, so the scripts themselves stay covered."""
    import contextlib
    import importlib
    import io
    import traceback
    import warnings

    from slimnas.cli import run_cli

    script = args[1] if args[0] == "-m" else args[0]
    argv = list(args[2:] if args[0] == "-m" else args[1:])
    main = importlib.import_module(ENTRY_POINTS[script]).main
    out, err = io.StringIO(), io.StringIO()
    saved_argv, saved_env, saved_cwd = sys.argv, dict(os.environ), os.getcwd()
    sys.argv = [script, *argv]
    os.environ.update(env or {})
    os.chdir(REPO)
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                run_cli(main)
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
            except BaseException:  # noqa: BLE001 - what the interpreter would print before exit 1
                traceback.print_exc()
                code = 1
    finally:
        sys.argv = saved_argv
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


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
