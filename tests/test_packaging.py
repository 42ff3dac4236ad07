"""Installable outside the repository: console scripts, packaged configs, and the deploy-only runtime wheel."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from conftest import REPO
from slimnas.commands import COMMANDS

BIN = Path(sys.executable).parent


def _run(argv, cwd, timeout=900, **env) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONWARNINGS": "ignore", **env})


def _wheel(project: Path, out: Path) -> Path:
    """Build ``project``'s wheel from a copy (setuptools writes build/ and *.egg-info beside the sources)."""
    out.mkdir(parents=True, exist_ok=True)
    src = out / "src"
    shutil.copytree(project, src, symlinks=True, ignore=shutil.ignore_patterns("build", "dist", "*.egg-info",
                                                                               "__pycache__"))
    r = _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(src)], out)
    assert r.returncode == 0, r.stderr[-2000:]
    (wheel,) = out.glob("*.whl")
    return wheel


def test_slimnas_help_lists_every_command(tmp_path):
    r = _run([str(BIN / "slimnas"), "--help"], tmp_path)
    assert r.returncode == 0
    for name in ("search", "train", "prune", "decompose", "finetune", "predict", "demo"):
        assert f"\n  {name} " in r.stdout
    assert set(COMMANDS) == {"search", "train", "prune", "decompose", "finetune", "predict", "demo"}
    bad = _run([str(BIN / "slimnas"), "trian"], tmp_path)
    assert bad.returncode == 2 and "did you mean 'train'" in bad.stderr


def test_wheels_install_and_train_outside_the_checkout(tmp_path, tiny_data_yaml):
    """Both wheels installed (no checkout on the path): the packaged baseline by name, runs under the cwd."""
    runtime = _wheel(REPO / "code" / "runtime", tmp_path / "dist")
    wheel = zipfile.ZipFile(_wheel(REPO / "code", tmp_path / "dist2"))
    names = wheel.namelist()
    for cfg in ("model/baseline.yaml", "data/synthetic.yaml", "data/mvtec.yaml", "search/default.yaml", "search/tiny.yaml"):
        assert f"slimnas/configs/{cfg}" in names
    assert not [n for n in names if n.startswith("slimnas_runtime/")]  # one copy: it comes from slimnas-runtime
    meta = wheel.read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "Requires-Dist: slimnas-runtime==0.1.0" in meta
    assert "slimnas = slimnas.__main__:main" in wheel.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()

    site = tmp_path / "site"  # the two wheels alone; torch & co. come from this interpreter's environment
    r = _run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(runtime),
              wheel.filename], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = _run([sys.executable, "-c", "import slimnas, slimnas_runtime; print(slimnas.__file__, slimnas_runtime.__file__)"],
                 work, PYTHONPATH=str(site))
    assert where.stdout.split() and all(f.startswith(str(site)) for f in where.stdout.split())
    r = _run([sys.executable, "-m", "slimnas", "train", "--model", "baseline", "--data", str(tiny_data_yaml),
              "--epochs", "1", "--no-progress"], work, PYTHONPATH=str(site))
    assert r.returncode == 0, r.stderr[-2000:]
    assert (work / "runs" / "train" / "baseline" / "best.pt").is_file()
    assert "next: slimnas decompose --weight runs/train/baseline/best.pt" in r.stdout
    missing = _run([sys.executable, "-m", "slimnas", "train", "--model", "basline"], work, PYTHONPATH=str(site))
    assert missing.returncode == 2 and "no packaged model config of that name (packaged: baseline" in missing.stderr


@pytest.fixture(scope="module")
def exported_model(tmp_path_factory, tiny_data_yaml) -> Path:
    from conftest import TINY_MODEL
    from slimnas.data.config import build_data, load_data_config
    from slimnas.export.pipeline import export_checkpoint
    from slimnas.model import ModelConfig
    from slimnas.train import TrainConfig, train

    out = tmp_path_factory.mktemp("exported")
    train(ModelConfig.from_dict(TINY_MODEL), tiny_data_yaml, out, TrainConfig(epochs=1, progress=False), verbose=False)
    report = export_checkpoint(out / "best.pt", out, build_data(load_data_config(tiny_data_yaml)), verbose=False)
    return Path(report["onnx"])


def test_runtime_wheel_alone_predicts_a_folder(tmp_path, exported_model, tiny_dataset):
    """The deploy-only wheel in a fresh virtualenv holding only onnxruntime, numpy and pillow: no torch."""
    wheel = _wheel(REPO / "code" / "runtime", tmp_path / "dist")
    env_dir = tmp_path / "device"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    r = _run([str(py), "-m", "pip", "install", "--quiet", str(wheel)], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    installed = _run([str(py), "-m", "pip", "list", "--format=freeze"], tmp_path).stdout.lower()
    assert "torch" not in installed and "slimnas-runtime==0.1.0" in installed and "onnxruntime" in installed
    images = tmp_path / "images"
    images.mkdir()
    for p in sorted((tiny_dataset / "test").glob("*.png"))[:5]:
        (images / p.name).write_bytes(p.read_bytes())
    r = _run([str(env_dir / "bin" / "slimnas-predict"), str(exported_model), str(images), "--out",
              str(tmp_path / "preds.csv"), "--topk", "2"], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = list(csv.DictReader(open(tmp_path / "preds.csv")))
    assert sorted(r["index"] for r in rows) == sorted(p.name for p in images.iterdir())
    assert all(r["label"] == r["label_1"] for r in rows)
    size = sum(f.stat().st_size for f in env_dir.rglob("*") if f.is_file())
    site = next(env_dir.glob("lib/python*/site-packages"))
    tooling = sum(f.stat().st_size for d in ("pip", "setuptools", "pkg_resources", "_distutils_hack")
                  for f in (site / d).rglob("*") if f.is_file())
    print(f"\ndeploy-only virtualenv: {size / 1e6:.0f} MB, {(size - tooling) / 1e6:.0f} MB without pip/setuptools")
    assert size < 300e6  # the training stack (torch alone is GBs) stayed out
