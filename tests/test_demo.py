"""demo.py: the whole road on tiny data in the two real layouts (the competition CSV and MVTec AD folders),
read through the data YAMLs the README tells users to use; a second run reuses every finished step."""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import sys

import optuna
import pytest
import yaml

from conftest import REPO, TINY_MODEL, run_in_process, run_script
from slimnas.runtime import Predictor


def shipped_data_yaml(name: str, root, tmp_path):
    """The shipped ``code/configs/data/<name>.yaml`` pointed at ``root``, at test size."""
    cfg = yaml.safe_load((REPO / "code" / "configs" / "data" / f"{name}.yaml").read_text())
    cfg.update(root=str(root), img_size=32, batch_size=32, num_workers=0)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def demo_args(out, data, space) -> list[str]:
    # --minutes 0: the road with the epochs and seconds given; the time plan (sized for the default data, and
    # scaled by the pace measured on a machine busy with the rest of the suite) has its own tests in test_pace.py
    return ["demo.py", "--out", str(out), "--data", str(data), "--space", str(space), "--minutes", "0",
            "--search-budget", "3", "--search-epochs", "1", "--max-macs", "none", "--epochs", "2", "--ft-epochs", "1"]


def test_demo_on_the_csv_layout_runs_every_step_then_reuses_them(tmp_path, tiny_space_yaml, tiny_dataset):
    out, data_yaml = tmp_path / "demo", shipped_data_yaml("dacon_csv", tiny_dataset, tmp_path)
    args = demo_args(out, data_yaml, tiny_space_yaml)
    r = run_script(*args)
    assert r.returncode == 0, r.stderr[-3000:]
    for cmd in ("search", "train", "decompose", "prune", "finetune"):
        assert f"$ slimnas {cmd} " in r.stdout  # each step shows the command that re-runs it
    for f in ("search/best.yaml", "search/pareto_front.png", "train/best.pt", "decompose/rank_cfg.yaml",
              "finetune/model.onnx", "finetune/predictions.csv", "summary.md"):
        assert (out / f).is_file(), f
    rows = {r["model"]: r for r in json.loads((out / "summary.json").read_text())}
    assert list(rows)[:3] == ["searched + trained", "decomposed", "fine-tuned FP32"]
    searched, decomposed, tuned = rows["searched + trained"], rows["decomposed"], rows["fine-tuned FP32"]
    # the demo decomposes for measured latency: on a tiny model no factorised layer may be faster, and then
    # the model is kept whole, and the step says so
    assert decomposed["macs"] <= searched["macs"] and tuned["macs"] == decomposed["macs"]
    assert decomposed["macs"] < searched["macs"] or "no layer is decomposed" in r.stderr
    for row in rows.values():
        assert 0 <= row["val_f1"] <= 1 and 0 <= row["test_f1"] <= 1 and row["bytes"] > 0 and row["ms_b1"] > 0
    table = (out / "summary.md").read_text()
    assert "| searched + trained |" in table and "test macro-F1" in table and "torch-free predictor" in table
    # what it ships is the model its summary chose, with that model's predictions of the whole test split
    chosen = re.search(r"shipped: \S+ \(= (.+?)\), its predictions", table).group(1)
    assert (out / "model.onnx").read_bytes() == open(chosen, "rb").read()
    predicted = list(csv.DictReader(open(out / "predictions.csv")))
    assert [p["index"] for p in predicted] == [t["index"] for t in csv.DictReader(open(tiny_dataset / "test_df.csv"))]
    predictor = Predictor(out / "model.onnx")
    first = next(csv.DictReader(open(tiny_dataset / "test_df.csv")))
    probs = predictor.predict([tiny_dataset / "test" / first["file_name"]])
    assert predicted[0]["label"] == predictor.classes[int(probs[0].argmax())]
    train_cmd = r.stdout.split("$ slimnas train")[1].split("\n")[0]  # goes on from the search trial's weights
    best = json.loads((out / "search" / "best.json").read_text())
    weights = out / "search" / "trials" / f"{best['trial']:04d}" / "best.pt"
    assert f"--initial-checkpoint {weights}" in train_cmd and "from the weights it trained there" in r.stdout
    # and refits on train + val: the search has chosen on val already
    assert "--final-fit" in train_cmd and json.loads((out / "train" / "results.json").read_text())["val_held_out"] is False
    finetune_cmd = r.stdout.split("$ slimnas finetune")[1].split("\n")[0]
    if decomposed["macs"] == searched["macs"]:  # kept whole: nothing to recover, exported as it is, and said
        assert "--epochs 0" in finetune_cmd and "the rows are the same model" in table
    else:
        assert "--epochs 1" in finetune_cmd

    trained_at = (out / "train" / "best.pt").stat().st_mtime_ns
    n_trials = len(optuna.load_study(study_name="search", storage=f"sqlite:///{out / 'search' / 'study.db'}").trials)
    again = run_in_process(*args)  # (the first run was the script itself)
    assert again.returncode == 0, again.stderr[-3000:]
    # the pruned model is a candidate unless it ran slower; the exact depthwise rewrite alone too, when there is one
    record = json.loads((out / "prune" / "prune.json").read_text())
    pruned = (out / "finetune_pruned" / "export.json").is_file()
    widened = (out / "finetune_widened" / "export.json").is_file()
    assert pruned == (not record["slower"] and record["ratio"] > 0)
    assert widened == (record["widened"] and (record["ratio"] > 0 or not record["slower"]))
    if pruned:
        assert rows["pruned + fine-tuned FP32"]["macs"] < searched["macs"] or record["widened"]
    if widened:  # computes what the trained model does
        assert rows["widened, exact FP32"]["val_f1"] == pytest.approx(searched["val_f1"], abs=0.02)
    assert again.stdout.count(": reusing ") == 5 + pruned + widened + (widened and record["ratio"] > 0)
    assert (out / "train" / "best.pt").stat().st_mtime_ns == trained_at
    assert len(optuna.load_study(study_name="search", storage=f"sqlite:///{out / 'search' / 'study.db'}").trials) == n_trials

    # a time plan too short for the decomposed candidate: the summary has the searched model and the others, and says so
    from slimnas.commands.demo import WIDENED, summary
    from slimnas.data.config import load_data_config

    a = argparse.Namespace(decompose=False, f1_tolerance=0.01, target_macs=None)
    lines = summary(a, out, load_data_config(str(data_yaml)), False, {WIDENED: out / "finetune_widened"} if widened else {})
    names = [row["model"] for row in json.loads((out / "summary.json").read_text())]
    assert names[0] == "searched + trained" and not any(n.startswith(("decomposed", "fine-tuned")) for n in names)
    assert len(names) in ((2, 3) if widened else (1,))  # and the rewrite's FP32 (and its INT8 if that won)
    assert "no decomposed candidate" in "\n".join(lines) and (out / "model.onnx").is_file()


def test_the_road_on_mvtec_folders(tmp_path, tiny_dataset):
    """MVTec AD's own layout: good images under train/good, defects under test/<state>; no test answers."""
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(TINY_MODEL))
    root = tmp_path / "mvtec_anomaly_detection"
    with open(tiny_dataset / "train_df.csv", newline="") as f:
        for k, row in enumerate(csv.DictReader(f)):
            split = "train" if row["state"] == "good" and k % 4 else "test"
            dst = root / row["class"] / split / row["state"] / f"{k:04d}.png"
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(tiny_dataset / "train" / row["file_name"], dst)
    # the road's own commands on it (the demo runs the same ones; its steps are covered on the CSV layout above)
    data = shipped_data_yaml("mvtec", root, tmp_path)
    r = run_in_process("train.py", "--model", str(tmp_path / "m.yaml"), "--data", str(data), "--epochs", "1",
                       "--dst", str(tmp_path / "train"), "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    r = run_in_process("finetune_inference.py", "--weight", str(tmp_path / "train" / "best.pt"), "--epochs", "0",
                       "--data", str(data), "--dst", str(tmp_path / "ft"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert not (tmp_path / "ft" / "predictions.csv").exists()  # MVTec ships no test split to predict or score
    labels = {f"{c.parent.parent.name}-{c.name}" for c in root.glob("*/*/*")}
    assert Predictor(tmp_path / "ft" / "model.onnx").classes == sorted(labels)  # label = <category>-<state>


def test_cold_start_demo_with_a_budget_shorter_than_data_generation(tmp_path, tiny_space_yaml):
    """A fresh machine: empty data cache, synthetic data generated on first use, a 0.2 s search budget.

    Generating the data takes longer than the whole search budget; it is its own step, outside the
    search's clock, and the search still trains one candidate to the end.
    """
    cache = tmp_path / "empty_cache"
    data = tmp_path / "synthetic.yaml"
    data.write_text(yaml.safe_dump({"kind": "synthetic", "synthetic": {"scale": 0.03, "size": 32, "seed": 0},
                                    "img_size": 32, "batch_size": 32}))
    out = tmp_path / "demo"
    args = [*demo_args(out, data, tiny_space_yaml), "--target-macs", "0.7",  # (the latency rule: the test above)
            "--prune-latency", "0"]  # (pruning: the test above)
    args[args.index("--search-budget") + 1] = "0.2"
    r = run_in_process(*args, env={"SLIMNAS_CACHE": str(cache)})
    assert r.returncode == 0, r.stderr[-3000:]
    made = re.search(r"data: generated in ([\d.]+) s", r.stdout)
    assert made and float(made.group(1)) > 0.2 and "[0/5] prepare the data" in r.stdout.split("data: generated")[0]  # before any step's clock
    assert list(cache.glob("synthetic-*/synthetic.json"))  # generated into the (empty) cache
    best = json.loads((out / "search" / "best.json").read_text())
    assert 0 <= best["f1"] <= 1  # a trained candidate, not a placeholder
    trials = list(csv.DictReader(open(out / "search" / "trials.csv")))
    assert any(t["state"] == "COMPLETE" and t["val_f1"] for t in trials)
    assert (out / "finetune" / "model.onnx").is_file() and (out / "summary.md").is_file()


def test_demo_refuses_a_missing_teacher_before_any_step(tmp_path, tiny_space_yaml, tiny_data_yaml):
    out = tmp_path / "demo"
    r = run_in_process(*demo_args(out, tiny_data_yaml, tiny_space_yaml), "--teacher", str(tmp_path / "gone.pt"))
    assert r.returncode == 2 and "gone.pt: checkpoint not found" in r.stderr
    assert not (out / "search").exists()


def test_demo_refuses_a_search_budget_its_time_plan_cannot_hold_before_any_step(tmp_path, tiny_space_yaml,
                                                                                  tiny_data_yaml):
    out = tmp_path / "demo"
    r = run_in_process("demo.py", "--out", str(out), "--data", str(tiny_data_yaml), "--space", str(tiny_space_yaml),
                       "--budget", "1200", "--search-budget", "3600")  # --budget: the whole run, in seconds
    assert r.returncode == 2 and "a 3600 s search leaves the retrain too little of the 20-minute plan" in r.stderr
    assert "--minutes (about" in r.stderr and not out.exists()


def test_the_demo_budget_in_minutes_or_seconds_not_both():
    from slimnas.commands.demo import DEFAULT_MINUTES, whole_budget_minutes
    from slimnas.errors import SlimnasError

    assert whole_budget_minutes(None, None) == DEFAULT_MINUTES
    assert whole_budget_minutes(None, 600) == 10 and whole_budget_minutes(0, None) == 0
    with pytest.raises(SlimnasError, match="--minutes and --budget both set"):
        whole_budget_minutes(10, 600)
    with pytest.raises(SlimnasError, match=">= 0"):
        whole_budget_minutes(None, -60)


def test_a_step_runs_in_process_and_its_failure_stops_the_demo(tmp_path, tiny_model_yaml, tiny_data_yaml, capsys):
    """Steps run their command's main() in this process: its exit code, its one-line error, and nothing of the
    step's argv or torch threads left behind for the next step."""
    import torch

    from slimnas.commands.demo import StepFailed, run_command, step

    argv, before = list(sys.argv), torch.get_num_threads()
    torch.set_num_threads(threads := 3)  # not what the step sets (--torch-threads 1)
    assert run_command(["train", "--model", str(tiny_model_yaml), "--data", str(tmp_path / "nope.yaml")]) == 2
    assert "error: " in capsys.readouterr().err and sys.argv == argv
    with pytest.raises(StepFailed, match=r"step 2 \(train\) failed"):
        step(2, "train", ["train", "--model", str(tiny_model_yaml), "--data", str(tmp_path / "nope.yaml")], None)
    assert run_command(["train", "--model", str(tiny_model_yaml), "--data", str(tiny_data_yaml), "--epochs", "1",
                        "--torch-threads", "1", "--dst", str(tmp_path / "t"), "--no-progress"]) == 0
    assert (tmp_path / "t" / "best.pt").is_file() and torch.get_num_threads() == threads and sys.argv == argv
    torch.set_num_threads(before)


def test_the_summary_ships_the_fastest_candidate_that_pays():
    """Decided on val F1 and measured latency: slower, more val F1 lost than the tolerance, or a speed-up inside the
    timer's spread bought with val macro-F1 ships the searched model; of the candidates that pay, the fastest."""
    from slimnas.commands.demo import advice

    searched = {"ms_b1": 0.119, "ms_b1_spread": 0.02, "val_f1": 0.6351, "macs": 2.52e6, "onnx": "summary/searched.onnx"}

    def rows(ms, spread, val_f1, pruned=None):
        by = {"searched + trained": searched,
              "fine-tuned FP32": {"ms_b1": ms, "ms_b1_spread": spread, "val_f1": val_f1, "macs": 2.49e6,
                                  "onnx": "finetune/model.onnx"}}
        if pruned:
            by["pruned + fine-tuned FP32"] = {"ms_b1": pruned[0], "ms_b1_spread": 0.02, "val_f1": pruned[1],
                                              "macs": 1.4e6, "onnx": "finetune_pruned/model.onnx"}
        return by

    def ship(by, tolerance=0.02, same=False):
        said, shipped = advice(by, [n for n in by if n != "searched + trained"], tolerance, same)
        return "\n".join(said), shipped

    # the 2-core demo of 2026-12-02: 0.119 -> 0.117 ms (2 % faster, inside ±5 %), 0.0155 val macro-F1 lost
    said, shipped = ship(rows(0.117, 0.05, 0.6196))
    assert "NOT WORTH IT: lost 0.0155 val macro-F1" in said and shipped == "summary/searched.onnx"
    said, shipped = ship(rows(0.125, 0.01, 0.64))
    assert "NOT FASTER" in said and shipped == "summary/searched.onnx"
    said, shipped = ship(rows(0.080, 0.05, 0.6196))  # 33 % faster: worth 0.0155
    assert said.startswith("\nship fine-tuned FP32 (finetune/model.onnx)") and "NOT" not in said
    assert shipped == "finetune/model.onnx"
    said, shipped = ship(rows(0.080, 0.05, 0.6196), tolerance=0.01)  # but not beyond the stated tolerance
    assert "LOST TOO MUCH: 0.0155 val macro-F1" in said and shipped == "summary/searched.onnx"
    said, shipped = ship(rows(0.117, 0.05, 0.6400))  # no F1 lost: fewer MACs, not slower
    assert said.startswith("\nship fine-tuned FP32") and shipped == "finetune/model.onnx"
    # two that pay: the faster ships; one that lost too much does not, however fast
    said, shipped = ship(rows(0.100, 0.02, 0.6351, pruned=(0.070, 0.6300)))
    assert shipped == "finetune_pruned/model.onnx" and "faster by 1.70x" in said
    said, shipped = ship(rows(0.100, 0.02, 0.6351, pruned=(0.050, 0.5800)))
    assert shipped == "finetune/model.onnx" and "pruned + fine-tuned FP32: LOST TOO MUCH: 0.0551" in said
    # nothing decomposed: the decomposed rows are the searched model again, not a candidate
    by = rows(0.117, 0.05, 0.6351)
    said, shipped = advice(by, [], 0.01, same_model=True)
    assert "the rows are the same model" in said[1] and shipped == "summary/searched.onnx"


def test_a_short_plan_gives_the_pruned_candidates_time_to_the_retrain(capsys):
    import argparse
    import time

    from slimnas.commands.demo import UNPLANNED_EPOCHS, retrain_plan
    from slimnas.pace import EXPORT_S, PRUNE_S, PRUNE_TAIL_S, ROW_S, TAIL_S, TimePlan

    def demo(left_s: float):
        plan = TimePlan(600, time.time() - (600 - left_s), pace=1.0, tail_s=TAIL_S + PRUNE_TAIL_S)
        return plan, argparse.Namespace(prune_latency=0.6, ft_epochs=4, epochs=None, widen_only=False,
                                        decompose=True)

    plan, a = demo(600)  # ample: 2 s epochs, hundreds of them, every candidate kept
    seconds = retrain_plan(a, plan, epoch_s=2.0, warm=6)
    assert not a.widen_only and a.prune_latency == 0.6 and seconds / 2.0 + 6 >= UNPLANNED_EPOCHS
    plan, a = demo(300)  # 300 s at 10 s an epoch: with the pruned candidate ~8 epochs more, without it ~17
    with_pruned = plan.retrain_seconds(10.0, 8, None, 2, 6)
    seconds = retrain_plan(a, plan, epoch_s=10.0, warm=6)
    assert a.widen_only and a.prune_latency == 0
    assert plan.tail_s == TAIL_S + PRUNE_TAIL_S - PRUNE_S - EXPORT_S - ROW_S  # the rewrite's step and export stay planned
    # the pruned candidate's grid, export and 4 epochs, and 3 of the decomposed candidate's 4, go to the retrain
    assert seconds == pytest.approx(with_pruned + (PRUNE_S + EXPORT_S + ROW_S) + (4 + 3) * 10.0, abs=1.0)
    assert "too little time for the pruned candidate" in capsys.readouterr().out


def test_a_slow_machine_gives_up_the_pruned_candidate_before_refusing(capsys):
    """Pinned to one core beside a busy one (pace 2.7), a cold demo had 321 s left after the venv and the data: with
    the pruned candidate's grid and fine-tune planned it refused; without them, the search and the retrain fit."""
    import argparse
    import time

    from slimnas.commands.demo import retrain_plan, search_seconds
    from slimnas.pace import DECOMPOSE_S, EXPORT_S, MIN_SEARCH_S, PRUNE_S, PRUNE_TAIL_S, ROW_S, TAIL_S, TimePlan, TooSlow

    def demo(left_s: float, prune_latency: float = 0.6):
        tail = TAIL_S + (PRUNE_TAIL_S if prune_latency else 0)
        plan = TimePlan(600, time.time() - (600 - left_s), pace=2.7, tail_s=tail)
        return plan, argparse.Namespace(prune_latency=prune_latency, ft_epochs=4, epochs=None, widen_only=False,
                                        decompose=True)

    plan, a = demo(321)
    with pytest.raises(TooSlow):
        plan.search_seconds()  # the plan with every candidate
    seconds = search_seconds(a, plan)
    assert seconds >= MIN_SEARCH_S and a.widen_only and a.prune_latency == 0
    assert plan.tail_s == TAIL_S + PRUNE_TAIL_S - PRUNE_S - EXPORT_S - ROW_S  # the rewrite's step and export stay planned
    assert "too little time for the pruned candidate" in capsys.readouterr().out
    # the retrain then plans without it, one fine-tune epoch set aside for the decomposed candidate
    seconds = retrain_plan(a, plan, epoch_s=8.0, warm=6)
    assert a.widen_only and seconds == pytest.approx(plan.retrain_seconds(8.0, 1, None, 1, 6), abs=1.0)
    # ample time: every candidate stays; a user's --prune-latency 0 means no rewrite either
    plan, a = demo(600)
    search_seconds(a, plan)
    assert a.prune_latency == 0.6 and not a.widen_only
    plan, a = demo(321, prune_latency=0)
    search_seconds(a, plan)
    assert not a.widen_only
    # slower still: the decomposed candidate's steps give way too (they kept every layer whole in the cold demos)
    plan, a = demo(280)
    plan.pace = 2.96
    search_seconds(a, plan)
    assert not a.decompose and a.widen_only and plan.tail_s == TAIL_S - DECOMPOSE_S - EXPORT_S - 2 * ROW_S + PRUNE_TAIL_S - PRUNE_S - EXPORT_S - ROW_S
    assert "pruned candidate (its timed grid and fine-tune) and the decomposed candidate" in capsys.readouterr().out
    # and before the retrain, when one fine-tune epoch for it is what the retrain lacks
    plan, a = demo(321)
    search_seconds(a, plan)
    # 9.5 epochs fit beside the decomposed candidate's steps with no epoch set aside for it: 8.5 with one, < 15 - 6
    epoch_s = plan.retrain_seconds(8.0, 0, None, 0, 6) / (15 - 6 + 0.5)
    with pytest.raises(TooSlow):
        plan.retrain_seconds(epoch_s, 1, None, 1, 6)
    seconds = retrain_plan(a, plan, epoch_s, warm=6)
    assert not a.decompose and seconds == pytest.approx(plan.retrain_seconds(epoch_s, 0, None, 0, 6), abs=1.0)
    assert seconds / epoch_s > 9.5  # its steps' seconds went to the retrain too
    assert "too little time for the decomposed candidate" in capsys.readouterr().out
    # too slow even without them: refused, with the minutes it would take
    plan, a = demo(200)
    with pytest.raises(TooSlow, match=r"--minutes \(about \d+"):
        search_seconds(a, plan)
