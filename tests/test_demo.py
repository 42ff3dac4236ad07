"""demo.py: the whole road on tiny data, every step's files in one run folder, and a second run reuses them."""

from __future__ import annotations

import json

import optuna

from conftest import run_script


def test_demo_runs_every_step_then_reuses_them(tmp_path, tiny_space_yaml, tiny_data_yaml):
    out = tmp_path / "demo"
    args = ["demo.py", "--out", str(out), "--data", str(tiny_data_yaml), "--space", str(tiny_space_yaml),
            "--budget", "3", "--search-epochs", "1", "--max-macs", "0", "--epochs", "2", "--ft-epochs", "1"]
    r = run_script(*args)
    assert r.returncode == 0, r.stderr[-3000:]
    for cmd in ("tune_architecture.py", "train.py", "decompose.py", "finetune_inference.py"):
        assert f"$ python {cmd}" in r.stdout  # each step shows the command that re-runs it
    for f in ("search/best.yaml", "search/pareto_front.png", "train/best.pt", "decompose/rank_cfg.yaml",
              "finetune/model.onnx", "finetune/predictions.csv", "summary.md"):
        assert (out / f).is_file(), f
    rows = {r["model"]: r for r in json.loads((out / "summary.json").read_text())}
    assert list(rows)[:3] == ["searched + trained", "decomposed", "fine-tuned FP32"]
    searched, decomposed, tuned = rows["searched + trained"], rows["decomposed"], rows["fine-tuned FP32"]
    assert decomposed["macs"] < searched["macs"] and tuned["macs"] == decomposed["macs"]
    for row in rows.values():
        assert 0 <= row["val_f1"] <= 1 and 0 <= row["test_f1"] <= 1 and row["bytes"] > 0 and row["ms_b1"] > 0
    table = (out / "summary.md").read_text()
    assert "| searched + trained |" in table and "test macro-F1" in table and "torch-free predictor" in table

    trained_at = (out / "train" / "best.pt").stat().st_mtime_ns
    n_trials = len(optuna.load_study(study_name="search", storage=f"sqlite:///{out / 'search' / 'study.db'}").trials)
    again = run_script(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count(": reusing ") == 4
    assert (out / "train" / "best.pt").stat().st_mtime_ns == trained_at
    assert len(optuna.load_study(study_name="search", storage=f"sqlite:///{out / 'search' / 'study.db'}").trials) == n_trials
