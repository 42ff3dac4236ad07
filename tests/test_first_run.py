"""The first run and exact commands (issue 13): cold cache, validate-before-work, resume, schedules,
search knobs and duplicates, MACs conventions, orientation-defined labels, decomposition rank rules,
timm checkpoints offline, and parallel synthetic generation."""

from __future__ import annotations

import csv
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
import torch.nn as nn
import yaml
from PIL import Image

from conftest import REPO, TINY_MODEL, TINY_SPACE, run_in_process, run_script
from slimnas.data.images import load_image
from slimnas.errors import ConfigError
from slimnas.model import ModelConfig, build_model
from slimnas.search import SearchConfig, load_search_space, run_search
from slimnas.search.space import BLOCKS, SearchSpace
from slimnas.train import TrainConfig, load_checkpoint, model_from_checkpoint, save_checkpoint, train


# ------------------------------------------------------------------------------------- validate first

def test_bad_model_yaml_fails_before_any_data_is_made(tmp_path):
    """A cold cache and the default synthetic data: the YAML error comes before generation starts."""
    cache = tmp_path / "cache"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**TINY_MODEL, "backbone": [[1, "Conv", [8, 3, 2]], [1, "Nope", [8]],
                                                             *TINY_MODEL["backbone"][2:]]}))
    r = subprocess.run([sys.executable, "train.py", "--model", str(bad), "--dst", str(tmp_path / "run")], cwd=REPO,
                       capture_output=True, text=True, timeout=120, env={**os.environ, "SLIMNAS_CACHE": str(cache)})
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith(f"error: {bad}: backbone[1]")
    assert not cache.exists() or not any(cache.iterdir())  # nothing generated
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------------------------------- resume

def test_resume_takes_the_runs_own_model_data_and_settings(tmp_path, tiny_dataset, tiny_data_yaml):
    """A run on a non-default model and data, interrupted (Ctrl-C) and resumed with nothing but --resume."""
    model = tmp_path / "wide.yaml"
    model.write_text(yaml.safe_dump({**TINY_MODEL, "width_multiple": 2.0}))
    data = tmp_path / "data.yaml"
    data.write_text(yaml.safe_dump({"kind": "dacon_csv", "root": str(tiny_dataset), "img_size": 24,
                                    "batch_size": 16, "val_fraction": 0.25, "seed": 3}))
    run = tmp_path / "run"
    # ~0.12 s an epoch: 60 epochs leave the Ctrl-C ~7 s to land (12 left 1.3 s, which a busy CI host overran)
    epochs = 60
    proc = subprocess.Popen([sys.executable, "train.py", "--model", str(model), "--data", str(data), "--dst", str(run),
                             "--epochs", str(epochs), "--lr", "0.004", "--no-progress"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            # pytest-xdist workers ignore SIGINT, and a child would inherit that: Ctrl-C as a user has it
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 300
    while time.time() < deadline and not (run / "metrics.csv").is_file():
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=120)
    assert proc.returncode == 130
    # last.pt is the truth: a Ctrl-C between writing it and metrics.csv leaves the table one epoch behind,
    # and the resumed run writes the table again from last.pt's history
    stopped_at = load_checkpoint(run / "last.pt")["train_state"]["epoch"] + 1
    assert 1 <= stopped_at < epochs and len(list(csv.DictReader(open(run / "metrics.csv")))) in (stopped_at, stopped_at - 1)
    before = {n: (run / n).read_bytes() for n in ("model.yaml", "data.yaml", "train.yaml")}

    r = run_in_process("train.py", "--resume", str(run), "--no-progress")
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"resuming from {run / 'last.pt'} at epoch {stopped_at}" in r.stdout
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [int(x["epoch"]) for x in rows] == list(range(1, epochs + 1))
    assert {n: (run / n).read_bytes() for n in before} == before  # the run's configs are untouched
    ckpt = load_checkpoint(run / "best.pt")
    classes = sorted({r["label"] for r in csv.DictReader(open(tiny_dataset / "train_df.csv"))})
    assert ckpt["classes"] == classes and ckpt["preprocessing"]["input_size"] == 24
    assert ckpt["model"]["width_multiple"] == 2.0
    results = json.loads((run / "results.json").read_text())
    assert results["data"]["root"] == str(tiny_dataset) and results["data"]["seed"] == 3
    assert results["train"]["lr"] == 0.004

    other = run_in_process("train.py", "--resume", str(run), "--data", str(tiny_data_yaml))
    assert other.returncode == 2 and f"--data {tiny_data_yaml} differs from the data of the run" in other.stderr
    other = run_in_process("train.py", "--resume", str(run), "--lr", "0.1")
    assert other.returncode == 2 and "--lr 0.1 differs from the run being resumed (lr: 0.004" in other.stderr


def test_cosine_reaches_its_floor_after_warmup(tmp_path, tiny_model_yaml, tiny_data_yaml):
    cfg = TrainConfig(epochs=3, lr=5e-3, warmup_epochs=1, min_lr=1e-5, progress=False)
    train(tiny_model_yaml, tiny_data_yaml, tmp_path, cfg, verbose=False)
    lrs = [float(r["lr"]) for r in csv.DictReader(open(tmp_path / "metrics.csv"))]
    assert lrs[-1] == pytest.approx(1e-5, rel=1e-6)  # the last step lands on min_lr: warm-up did not cut it short
    assert lrs[0] == pytest.approx(5e-3, rel=0.02)  # end of warm-up: the peak


# ------------------------------------------------------------------------------------------- search

def test_knobs_a_block_ignores_are_not_sampled():
    space = load_search_space(REPO / "code/configs/search/default.yaml")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(60):
        trial = study.ask()
        space.sample(trial)
        for i in range(1, len(space.stages) + 1):
            block = trial.params.get(f"stage{i}.block", space.stages[i - 1]["block"])
            knobs = {k.split(".")[1] for k in trial.params if k.startswith(f"stage{i}.")} - {"block"}
            allowed = {"channels", "repeats", "stride", *BLOCKS[block][0]}
            assert knobs <= allowed, (block, knobs - allowed)
            seen.add(block)
        study.tell(trial, 0.0)
    assert {"Fire", "Conv", "InvertedResidualv3"} <= seen


def test_identical_candidate_is_not_trained_twice(tmp_path, tiny_data_yaml, monkeypatch):
    fixed = {**TINY_SPACE, "input_size": 24, "stem": {"channels": 8, "act": "relu"},
             "stages": [{"block": "DWConv", "channels": 8, "stride": 2, "kernel": 3, "act": "relu"}],
             "head": {"channels": 0}, "train": {"lr": 0.005, "batch_size": 16}}
    space = tmp_path / "one.yaml"
    space.write_text(yaml.safe_dump(fixed))
    from slimnas.search import objective as objective_mod

    calls = []
    real = objective_mod.fit
    monkeypatch.setattr(objective_mod, "fit", lambda *a, **k: calls.append(1) or real(*a, **k))
    cfg = SearchConfig(space=str(space), data=str(tiny_data_yaml), out=str(tmp_path / "runs"), epochs=1, n_trials=3)
    study = run_search(cfg)
    assert len(calls) == 1
    assert [t.user_attrs.get("duplicate_of") for t in study.trials] == [None, 0, 0]
    assert study.trials[1].values == study.trials[0].values
    notes = [r["note"] for r in csv.DictReader(open(cfg.run_dir / "trials.csv"))]
    assert notes[1] == "same candidate as trial 0; not trained again"
    best = json.loads((cfg.run_dir / "best.json").read_text())
    assert best["train"] == {"lr": 0.005, "batch_size": 16}
    argv = shlex.split(best["command"])
    assert argv[argv.index("--batch-size") + 1] == "16" and argv[argv.index("--data") + 1] == str(tiny_data_yaml)
    assert argv[argv.index("--initial-checkpoint") + 1] == str(cfg.run_dir / "trials" / "0000" / "best.pt")  # the twin's


def test_macs_convention_follows_the_mode():
    assert SearchConfig().convention == "aten"
    assert SearchConfig(mode="score").convention == "pytorch"  # the competition's 13,863,553 were counted so
    assert SearchConfig(mode="score", macs_convention="aten").convention == "aten"
    with pytest.raises(ConfigError, match="--max-macs must be > 0"):
        SearchConfig(max_macs=0).check()


# ------------------------------------------------------------------------------ orientation and EXIF

def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (40, 20), (200, 0, 0))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    path = tmp_path / "turned.jpg"
    img.save(path, exif=exif)
    assert load_image(path).size == (20, 40)


def test_tta_uses_only_declared_symmetries(tmp_path, tiny_dataset):
    from slimnas.export.onnx import export_onnx
    from slimnas.runtime import Predictor

    torch.manual_seed(0)
    model = build_model(ModelConfig.from_dict(TINY_MODEL), num_classes=3, input_size=32).eval()
    meta = {"classes": ["a", "b", "c"], "input_size": 32, "mean": [0.5] * 3, "std": [0.25] * 3}
    files = sorted((tiny_dataset / "test").glob("*.png"))[:4]
    for sym in ([], ["hflip"], ["hflip", "vflip"]):
        path = export_onnx(model, tmp_path / f"m{len(sym)}.onnx", 32, {**meta, "invariant_to": sym})
        pred = Predictor(path)
        batch = pred.preprocess(files)
        with torch.no_grad():
            views = [torch.from_numpy(batch.copy())]
            views += [torch.from_numpy(np.ascontiguousarray(batch[..., ::-1]))] if "hflip" in sym else []
            views += [torch.from_numpy(np.ascontiguousarray(batch[..., ::-1, :]))] if "vflip" in sym else []
            want = torch.stack([model(v).softmax(1) for v in views]).mean(0).numpy()
        if sym:
            assert np.allclose(pred.predict(files, tta=True), want, atol=1e-5)
        else:
            with pytest.raises(Exception, match="--tta needs label-preserving transforms"):
                pred.predict(files, tta=True)


# ------------------------------------------------------------------------------------- decomposition

def test_energy_rule_splits_a_depthwise_conv_only_when_rank_one_holds_the_energy():
    from slimnas.decompose.model import auto_rank_cfg

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 1), nn.Conv2d(8, 8, 3, padding=1, groups=8),
                          nn.Conv2d(8, 8, 3, padding=1, groups=8))
    with torch.no_grad():  # layer 2: exact rank-1 kernels (a column times a row)
        model[2].weight.copy_(torch.randn(8, 1, 3, 1) * torch.randn(8, 1, 1, 3))
    spec = auto_rank_cfg(model, 16, "energy", 0.99)
    assert "2" in spec and spec["2"]["method"] == "separable"
    assert "1" not in spec  # random kernels keep well under 99 % at rank 1
    assert "1" in auto_rank_cfg(model, 16, "energy", 0.3)  # ... but over 30 %
    assert not {"1", "2"} & set(auto_rank_cfg(model, 16, "vbmf"))  # EVBMF cannot judge k×k kernels: left alone


def test_cp_rank_fraction_is_a_fraction_of_the_break_even_rank():
    from slimnas.factorized import resolve_spec

    model = nn.Sequential(nn.Conv2d(16, 32, 3))
    spec = resolve_spec(model, {"0": {"method": "cp", "ranks": 0.5}})
    break_even = 32 * 16 * 9 // (32 + 16 + 3 + 3)  # 85: R (C_in + C_out + kh + kw) weights = the kernel's
    assert spec["0"]["ranks"] == [round(0.5 * break_even)]


def test_unreachable_macs_target_is_said(tmp_path):
    torch.manual_seed(0)
    model = build_model(ModelConfig.from_dict(TINY_MODEL), num_classes=5, input_size=32)
    ckpt = save_checkpoint(tmp_path / "m.pt", model, TINY_MODEL, list("abcde"),
                           {"input_size": 32, "resize": "resize", "mean": [0.5] * 3, "std": [0.25] * 3})
    r = run_in_process("decompose.py", "--weight", str(ckpt), "--target-macs", "0.01", "--dst", str(tmp_path / "d"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "warning: --target-macs 0.01 not reached" in r.stderr


# ---------------------------------------------------------------------------------------- timm offline

def test_timm_checkpoint_reloads_offline_without_fetching_weights(tmp_path, monkeypatch):
    import timm

    cfg = {"timm": "resnet18", "pretrained": True, "kwargs": {"drop_rate": 0.1}}
    model = timm.create_model("resnet18", pretrained=False, num_classes=4, drop_rate=0.1)
    path = save_checkpoint(tmp_path / "t.pt", model, cfg, list("abcd"),
                           {"input_size": 32, "resize": "resize", "mean": [0.5] * 3, "std": [0.25] * 3})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def no_download(*a, **k):
        raise AssertionError("tried to load pretrained weights")

    monkeypatch.setattr(timm.models._builder, "load_pretrained", no_download)
    loaded, _ = model_from_checkpoint(path)
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(loaded(x), model.eval()(x))
    bad = {**cfg, "kwargs": {"pretrained_cfg_overlay": {"file": "/tmp/x.pth"}}}
    with pytest.raises(ConfigError, match="kwargs.pretrained_cfg_overlay is not allowed"):
        ModelConfig.from_dict(bad, "ckpt")


# --------------------------------------------------------------------------------- synthetic, parallel

def test_parallel_generation_writes_the_same_files(tmp_path):
    from slimnas.data.synthetic import generate

    one = generate(tmp_path / "one", scale=0.02, size=24, seed=5, progress=False, workers=1)
    two = generate(tmp_path / "two", scale=0.02, size=24, seed=5, progress=False, workers=2)
    names = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
    assert len(names) > 64 + 5  # enough images for the process pool to be used
    assert names == sorted(p.relative_to(two) for p in two.rglob("*") if p.is_file())
    assert all((one / n).read_bytes() == (two / n).read_bytes() for n in names)
