"""The architecture search: space parsing, the budget gate, early stopping, outputs, resume, workers."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import shlex

import optuna
import pytest
import yaml
from optuna.trial import TrialState, create_trial

from conftest import REPO, TINY_SPACE, run_in_process, run_script
from slimnas.errors import ConfigError
from slimnas.model import build_model
from slimnas.modules import list_modules
from slimnas.search import DominancePruner, RungPruner, SearchConfig, SearchSpace, competition_score, load_search_space, run_search
from slimnas.search import objective as objective_mod
from slimnas.search import open_study
from slimnas.search.study import SearchError
from slimnas.search.objective import gate_count
from slimnas.search.space import BLOCK_ARGS


def _cfg(tmp_path, space, data, **kw) -> SearchConfig:
    opts = {"epochs": 1, "n_trials": 4, "max_macs": None, **kw}
    return SearchConfig(space=str(space), data=str(data), out=str(tmp_path / "runs"), **opts)


def _trials_csv(cfg):
    with open(cfg.run_dir / "trials.csv") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------------------------------------- space

def test_every_searchable_block_is_registered():
    assert set(BLOCK_ARGS) <= set(list_modules())


def test_default_space_samples_buildable_models():
    space = load_search_space(REPO / "code/configs/search/default.yaml")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    blocks = set()
    for _ in range(25):
        trial = study.ask()
        cfg, hp = space.sample(trial)
        model = build_model(cfg, num_classes=88, input_size=cfg.input_size)  # the dry run checks every shape
        assert cfg.input_size in (64, 80, 96, 112, 128) and 0.003 <= hp["lr"] <= 0.012
        assert cfg.backbone[-1] == [1, "Linear", ["num_classes", None, trial.params["head.dropout"]]]
        blocks |= {row[1] for row in cfg.backbone}
        study.tell(trial, 0.0)
    assert model is not None and len(blocks & set(BLOCK_ARGS)) >= 4


def test_tiny_space_fits_its_budget_at_the_data_resolution():
    """The demo's space: most candidates within 4 M MACs without giving up resolution (the default space reaches
    4 M only at 64-80 px)."""
    space = load_search_space("tiny")  # packaged, by name
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    fits = []
    for _ in range(30):
        trial = study.ask()
        cfg, hp = space.sample(trial)
        _, report = gate_count(cfg, 88)
        assert cfg.input_size in (96, 112, 128) and 0.004 <= hp["lr"] <= 0.012
        fits.append(report.macs <= 4e6)
        study.tell(trial, 0.0)
    assert 0.3 <= sum(fits) / len(fits) < 1  # the budget gate still has something to reject
    study.enqueue_trial(space.start[0])  # the start point: every knob given, within the budget
    trial = study.ask()
    cfg, _ = space.sample(trial)
    assert set(trial.params) == set(space.start[0]) and gate_count(cfg, 88)[1].macs <= 4e6


@pytest.mark.parametrize("patch, culprit", [
    ({"stages": [{**TINY_SPACE["stages"][0], "channels": []}]}, "stages[0].channels: empty choice list"),
    ({"stages": [{**TINY_SPACE["stages"][0], "block": ["MBconv"]}]}, "did you mean 'MBConv'"),
    ({"stages": [{**TINY_SPACE["stages"][0], "kernal": 3}]}, "stages[0]: unknown key 'kernal'"),
    ({"head": {"channels": 0, "act": ["relu", "swishy"]}}, "head.act"),
    ({"input_size": {"low": 64, "high": 32}}, "input_size: range needs numbers with low <= high"),
    ({"stages": []}, "'stages' must be a non-empty list"),
    ({"start": [{"stage1.chanels": 8}]}, "start[0]: unknown key 'stage1.chanels'; did you mean 'stage1.channels'?"),
    ({"start": [{"input_size": 48}]}, "start[0].input_size: 48 is not in the space ([24, 32])"),
    ({"start": [{"train.lr": 0.1}]}, "start[0].train.lr: 0.1 is not in the space"),
    ({"start": {"input_size": 24}}, "'start' must be a list of mappings"),
])
def test_bad_space_names_the_culprit(patch, culprit):
    with pytest.raises(ConfigError, match="space.yaml") as e:
        SearchSpace.from_dict({**TINY_SPACE, **patch}, source="space.yaml")
    assert culprit in str(e.value)


def test_bad_space_cli_exit_2(tmp_path, tiny_data_yaml):
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({**TINY_SPACE, "stem": {"channels": []}}))
    r = run_in_process("tune_architecture.py", "--space", str(space), "--data", str(tiny_data_yaml), "--out", str(tmp_path))
    assert r.returncode == 2
    assert "stem.channels: empty choice list" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "search").exists()


# ---------------------------------------------------------------------------------- score and pruner

def test_competition_score_by_hand():
    assert competition_score(13_863_553, 0.4) == pytest.approx(2.0)  # F1 < 0.5: full penalty
    assert competition_score(6_931_776.5, 0.6) == pytest.approx(0.5 + 1 - 0.6 / 0.8342)
    assert competition_score(0, 0.9) == pytest.approx(0.5 * (1 - 0.9 / 0.8342))
    assert competition_score(1e6, 0.9, macs_ref=2e6, f1_ref=0.9) == pytest.approx(0.5)


def _done(macs, curve):
    return create_trial(state=TrialState.COMPLETE, values=[max(curve), macs],
                        user_attrs={"macs": macs, "f1_curve": curve, "f1": max(curve)})


def test_pruner_stops_only_dominated_trials():
    finished = [_done(1e6, [0.2, 0.4, 0.5]), _done(2e6, [0.3, 0.5, 0.6]), _done(8e6, [0.4, 0.7, 0.8])]
    p = DominancePruner(after_epoch=2, min_trials=3, margin=0.02)
    assert p.rival(finished, 3e6, 2, 0.45).number == finished[1].number  # 2 M MACs had 0.5 at epoch 2
    assert p.rival(finished, 3e6, 2, 0.49) is None  # inside the margin
    assert p.rival(finished, 0.5e6, 2, 0.1) is None  # nothing cheaper to compare with
    assert p.rival(finished, 3e6, 1, 0.0) is None  # too early
    assert DominancePruner(min_trials=4).rival(finished, 3e6, 2, 0.0) is None  # too little evidence


def test_rungs_divide_the_epochs_by_the_reduction_factor():
    p = RungPruner(reduction=3, min_epochs=2)
    assert p.rungs(30) == [2, 4, 10] and p.rungs(12) == [2, 4] and p.rungs(9) == [3] and p.rungs(4) == [2]
    assert p.rungs(2) == [] and RungPruner(reduction=2, min_epochs=1).rungs(8) == [1, 2, 4]


def test_rung_pruner_keeps_the_top_third_by_non_dominated_rank():
    rivals = [_done(1e6, [0.1, 0.5, 0.5]), _done(2e6, [0.3, 0.2, 0.3]), _done(4e6, [0.6, 0.1, 0.8]),
              _done(3e6, [0.2, 0.2, 0.2])]
    p = RungPruner(reduction=3, min_epochs=2)  # rungs of a 6-epoch trial: [2]
    # (F1 so far, MACs) at epoch 2: front 0 is 1e6 (0.5) and 4e6 (0.6); 5 trials -> only the first goes on
    why = p.verdict(rivals, 5e6, [0.1, 0.4], epochs=6)
    assert why.startswith("rung at epoch 2: F1 0.400 ranks 3 of 5") and "top 1 go on" in why
    assert p.verdict(rivals, 0.5e6, [0.7, 0.65], epochs=6) is None  # dominates every rival
    assert p.verdict(rivals, 5e6, [0.1], epochs=6) is None and p.verdict(rivals, 5e6, [0.1, 0.1, 0.1], epochs=6) is None
    assert "ranks 2 of 2" in p.verdict(rivals[:1], 5e6, [0.0, 0.0], epochs=6)  # fewer than 3: only the best goes on
    assert p.verdict([], 5e6, [0.0, 0.0], epochs=6) is None  # the first to reach a rung always goes on
    # a twin of an earlier trial is not a second rival, and trials that never reached the rung do not count
    twin = create_trial(state=TrialState.COMPLETE, values=[0.9, 1e5], user_attrs={"macs": 1e5, "f1_curve": [0.9, 0.9],
                                                                                    "duplicate_of": 0})
    assert p.verdict([_done(1e6, [0.2]), twin], 5e6, [0.0, 0.0], epochs=6) is None


def test_rung_pruner_ranks_by_the_score_curve_the_trials_recorded():
    """Ranked by class-balanced val NLL (scores are minus the NLL): a trial with the best F1 at the rung but a high
    NLL stops, and the message names the NLL."""
    from slimnas.search.pruning import scores

    def done(macs, f1, nll):
        return create_trial(state=TrialState.COMPLETE, values=[max(f1), macs],
                            user_attrs={"macs": macs, "f1_curve": f1, "bnll_curve": nll,
                                        "score_curve": scores("val_nll", f1, nll)})

    rivals = [done(1e6, [0.1, 0.1], [2.0, 1.5]), done(2e6, [0.1, 0.1], [2.0, 1.6]), done(3e6, [0.1, 0.1], [2.0, 1.7])]
    assert scores("val_f1", [0.1, 0.3], [2.0, 1.5]) == [0.1, 0.3] and scores("val_nll", [0.1], [2.0]) == [-2.0]
    why = RungPruner(reduction=3).verdict(rivals, 4e6, scores("val_nll", [0.1, 0.9], [2.0, 1.9]), epochs=6)
    assert why.startswith("rung at epoch 2: val NLL 1.900 ranks 4 of 4 on (val NLL, MACs)")
    assert RungPruner(reduction=3).verdict(rivals, 4e6, scores("val_nll", [0.1, 0.1], [2.0, 1.2]), epochs=6) is None


def test_the_pick_by_val_nll_is_the_lowest_nll_of_the_trials_trained_furthest():
    from slimnas.search.report import pareto_front, recommend

    def done(n, f1, nll, macs, epochs=6):
        return create_trial(state=TrialState.COMPLETE, values=[f1, macs],
                            user_attrs={"f1": f1, "nll": nll, "macs": macs, "epochs": epochs})

    trials = [done(0, 0.30, 1.9, 2e6), done(1, 0.25, 1.6, 3e6), done(2, 0.20, 1.7, 1e6), done(3, 0.1, 1.2, 1e6, epochs=2)]
    for i, t in enumerate(trials):
        t.number = i
    front = pareto_front(trials)
    assert recommend(front, SearchConfig(rank_by="val_f1"), done=trials).number == 0  # best F1
    # trial 3's NLL is lower, but it stopped at a rung: of those trained furthest, trial 1 (off the F1 front)
    assert 1 not in [t.number for t in front]
    assert recommend(front, SearchConfig(rank_by="val_nll"), done=trials).number == 1
    assert recommend(front, SearchConfig(rank_by="val_nll", mode="score"), done=trials).number != 1  # score: F1


def test_the_start_point_stays_unless_beaten_by_more_than_the_margin():
    from slimnas.search.report import keep_start

    def done(n, f1, width, epochs=6):
        t = create_trial(state=TrialState.COMPLETE, values=[f1, 2e6], params={"width": width, "depth": 2},
                         distributions={"width": optuna.distributions.CategoricalDistribution([8, 16, 24]),
                                        "depth": optuna.distributions.CategoricalDistribution([1, 2])},
                         user_attrs={"f1": f1, "macs": 2e6, "epochs": epochs})
        t.number = n
        return t

    start, close, far, pruned_start = done(0, 0.30, 16), done(1, 0.315, 8), done(2, 0.33, 24), done(3, 0.40, 16, epochs=2)
    starts = [{"width": 16}]  # a start point may fix only some parameters
    assert keep_start(close, [start, close], starts, 0.02)[0] is start  # +0.015: inside the noise
    best, why = keep_start(close, [start, close], starts, 0.02)
    assert why.startswith("trial 1 beat the space's start point (trial 0) by +0.0150 val macro-F1, within the 0.0200 "
                          "that the best of 1 equal rival(s)")
    assert keep_start(far, [start, far], starts, 0.02) == (far, None)  # +0.03: beaten
    assert keep_start(close, [start, close], starts, 0.0) == (close, None)  # 0: off
    assert keep_start(close, [close], starts, 0.02) == (close, None)  # no start point trained
    # a start point stopped at a rung was not trained as far as the pick: it cannot be kept over it
    assert keep_start(close, [pruned_start, close], starts, 0.02) == (close, None)
    assert keep_start(start, [start, close], starts, 0.02) == (start, None)
    # the best of several rivals beats the start point by chance more often: the margin grows with their number
    ahead = done(4, 0.325, 24)
    assert keep_start(ahead, [start, ahead], starts, 0.02) == (ahead, None)  # +0.025 beats one rival's 0.02
    rivals = [ahead, *(done(n, 0.29, 8) for n in range(5, 8))]
    assert keep_start(ahead, [start, *rivals], starts, 0.02)[0] is start  # not the 0.0273 of the best of 4
    from slimnas.search.report import rival_margin

    assert rival_margin(0.02, 1) == pytest.approx(0.02)
    assert rival_margin(0.02, 4) == pytest.approx(0.02 * 2.2414 / 1.6449, rel=1e-3)
    assert rival_margin(0.02, 0) == pytest.approx(0.02)
    # on a small val split the start trial's own noise sets the margin when it is larger: z·√2·2·0.02 = 0.093
    noisy = done(0, 0.30, 16)
    noisy.user_attrs["f1_sd"] = 0.02
    assert keep_start(far, [noisy, far], starts, 0.02)[0] is noisy  # +0.03 no longer beats it
    best, why = keep_start(done(5, 0.40, 24), [noisy, far], starts, 0.02)
    assert best.number == 5 and why is None  # +0.10 does


def test_promotion_order_ranks_fronts_then_spread():
    from slimnas.search.pruning import non_dominated_fronts, promotion_order

    pts = [(0.5, 1.0), (0.3, 2.0), (0.6, 4.0), (0.2, 3.0), (0.55, 2.0)]
    assert non_dominated_fronts(pts) == [[0, 2, 4], [1], [3]]
    assert promotion_order(pts) == [2, 0, 4, 1, 3]  # ends of front 0 first (higher F1 first), then its middle


# ------------------------------------------------------------------------------------------ the search

def test_revalidate_picks_by_the_mean_over_splits_and_resumes(tmp_path, tiny_space_yaml, tiny_data_yaml):
    cfg = _cfg(tmp_path, tiny_space_yaml, tiny_data_yaml, pruner="none", revalidate=2, revalidate_splits=1)
    study = run_search(cfg)
    run = cfg.run_dir
    rows = list(csv.DictReader(open(run / "revalidated.csv")))
    assert 1 <= len(rows) <= 2
    means = {}
    for r in rows:
        trial = study.trials[int(r["trial"])]
        f1s = [float(v) for v in r["val_f1_per_split"].split()]
        extra = json.loads((run / "revalidate" / f"{trial.number:04d}-split1" / "results.json").read_text())
        assert len(f1s) == 2 and f1s[0] == pytest.approx(trial.user_attrs["f1"], abs=1e-5)
        assert f1s[1] == pytest.approx(extra["selected_val_f1"], abs=1e-5)
        assert extra["data"]["seed"] == 1 and extra["epochs"] == 1  # another split, the trial's own length
        means[trial.number] = (f1s[0] + f1s[1]) / 2
    best = max(means, key=lambda n: (round(means[n], 5), -study.trials[n].user_attrs["macs"]))
    info = json.loads((run / "best.json").read_text())
    assert info["trial"] == best and [r["recommended"] for r in rows].count("yes") == 1
    assert len(info["f1_per_split"]) == 2
    # a second run re-validates only what it has not: the earlier splits are not trained again
    stamps = {p: p.stat().st_mtime_ns for p in (run / "revalidate").glob("*/results.json")}
    run_search(dataclasses.replace(cfg, n_trials=1))
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    with pytest.raises(ConfigError, match="--revalidate must be an integer >= 0"):
        run_search(dataclasses.replace(cfg, revalidate=-1))


def test_search_writes_outputs_and_the_yaml_trains(tmp_path, tiny_space_yaml, tiny_data_yaml):
    cfg = _cfg(tmp_path, tiny_space_yaml, tiny_data_yaml)
    study = run_search(cfg)
    run = cfg.run_dir
    for name in ("study.db", "trials.csv", "pareto.csv", "best.yaml", "best.json", "pareto_front.png",
                 "pareto_front.html", "history.html"):
        assert (run / name).is_file(), name
    assert len(study.trials) == 4
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    for t in done:
        a = t.user_attrs
        assert a["macs"] > 0 and a["params"] > 0 and 0 <= a["f1"] <= 1 and a["epochs"] == 1 and a["seconds"] > 0
        assert 0 <= a["f1_sd"] < 0.5  # its val F1's bootstrap sd, the start point's noise in keep_start
        assert yaml.safe_load((run / "trials" / f"{t.number:04d}" / "model.yaml").read_text()) == a["model"]
    with open(run / "pareto.csv") as f:
        front = list(csv.DictReader(f))
    assert front and all((run / r["yaml"]).is_file() for r in front)
    macs = [float(r["macs"]) for r in front]
    assert macs == sorted(macs)
    best = yaml.safe_load((run / "best.yaml").read_text())
    assert best in [yaml.safe_load((run / r["yaml"]).read_text()) for r in front]
    assert best["input_size"] in (24, 32)
    info = json.loads((run / "best.json").read_text())
    chosen = study.trials[info["trial"]]
    assert info["f1"] == chosen.user_attrs["f1"] and info["train"] == {"lr": chosen.params["train.lr"]}
    assert info["rank_by"] == "val_f1" and info["nll"] == min(chosen.user_attrs["bnll_curve"]) > 0
    command = shlex.split(info["command"])  # the command the report prints, as a user would paste it
    assert command[:4] == ["slimnas", "train", "--model", str(run / "best.yaml")] and "--lr" in command
    # the retrain starts from the weights the chosen trial trained, not from scratch
    weights = run / "trials" / f"{info['trial']:04d}" / "best.pt"
    assert info["weights"] == str(weights) and command[command.index("--initial-checkpoint") + 1] == str(weights)
    r = run_script("-m", "slimnas", *command[1:], "--data", str(tiny_data_yaml), "--epochs", "1", "--dst", str(tmp_path / "train"),
                   "--no-progress")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "train" / "best.pt").is_file()


def test_resume_adds_trials_and_keeps_the_old_ones(tmp_path, tiny_data_yaml):
    start = {"input_size": 32, "stage1.block": "MBConv", "stage1.channels": 16, "train.lr": 0.005}
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({**TINY_SPACE, "start": [start]}))
    cfg = _cfg(tmp_path, space, tiny_data_yaml, n_trials=3)
    trials = run_search(cfg).trials
    assert {k: trials[0].params[k] for k in start} == start  # the start point is the first trial
    first = {t.number: (t.state, t.values) for t in trials}
    study = run_search(dataclasses.replace(cfg, n_trials=2))
    assert [t.number for t in study.trials] == [0, 1, 2, 3, 4]
    assert [t.params["input_size"] == 32 and t.params["stage1.block"] == "MBConv" and t.params["train.lr"] == 0.005
            for t in study.trials].count(True) == 1  # not enqueued again on resume
    assert {t.number: (t.state, t.values) for t in study.trials if t.number < 3} == first
    assert len(_trials_csv(cfg)) == 5


def test_over_budget_never_trains(tmp_path, tiny_space_yaml, tiny_data_yaml, monkeypatch):
    def no_training(*a, **k):
        raise AssertionError("the trainer was called for an over-budget candidate")

    monkeypatch.setattr(objective_mod, "fit", no_training)
    cfg = dataclasses.replace(_cfg(tmp_path, tiny_space_yaml, tiny_data_yaml), max_macs=1000)
    with pytest.raises(SearchError, match=r"all 4 candidates were over the budget \(--max-macs 1000, aten MACs"):
        run_search(cfg)
    study = open_study(cfg)
    assert len(study.trials) == 4
    for t in study.trials:
        assert t.state == TrialState.COMPLETE
        assert t.constraints["macs"] > 0 and "over budget" in t.user_attrs["rejected"] and "f1" not in t.user_attrs
        assert not (cfg.run_dir / "trials" / f"{t.number:04d}" / "best.pt").exists()
    assert study.best_trials == []  # infeasible trials never make the front
    assert not (cfg.run_dir / "best.yaml").exists()


def test_latency_objective_fronts_and_gates_on_measured_ms(tmp_path, tiny_space_yaml, tiny_data_yaml, monkeypatch):
    cfg = _cfg(tmp_path, tiny_space_yaml, tiny_data_yaml, objective="latency", n_trials=3)
    study = run_search(cfg)
    rows = _trials_csv(cfg)
    assert all(float(r["latency_ms"]) > 0 and float(r["macs"]) > 0 for r in rows)  # both axes, every trial
    assert all(t.values[1] == t.user_attrs["latency_ms"] for t in study.trials if t.state == TrialState.COMPLETE)
    with open(cfg.run_dir / "pareto.csv") as f:
        ms = [float(r["latency_ms"]) for r in csv.DictReader(f)]
    assert ms == sorted(ms)
    info = json.loads((cfg.run_dir / "best.json").read_text())
    assert info["objective"] == "latency" and info["latency_ms"] == study.trials[info["trial"]].user_attrs["latency_ms"]

    def no_training(*a, **k):
        raise AssertionError("the trainer was called for an over-budget candidate")

    monkeypatch.setattr(objective_mod, "fit", no_training)
    gated = dataclasses.replace(cfg, study="gated", max_latency_ms=1e-6)
    with pytest.raises(SearchError, match=r"over the budget \(--max-latency-ms 1e-06; the fastest took"):
        run_search(gated)
    assert all(t.constraints["latency"] > 0 for t in open_study(gated).trials)


def test_latency_settings_are_checked(tmp_path, tiny_space_yaml, tiny_data_yaml):
    for kw, msg in (({"objective": "speed"}, "unknown objective 'speed'"),
                    ({"mode": "score", "objective": "latency"}, "--mode score is the competition's MACs score"),
                    ({"max_latency_ms": 0}, "--max-latency-ms must be > 0"),
                    ({"latency_threads": 0}, "--latency-threads and --latency-batch must be >= 1")):
        with pytest.raises(ConfigError, match=re.escape(msg)):
            run_search(_cfg(tmp_path, tiny_space_yaml, tiny_data_yaml, **kw))


def test_failed_trial_is_recorded_and_the_study_goes_on(tmp_path, tiny_space_yaml, tiny_data_yaml, monkeypatch):
    real_fit = objective_mod.fit

    def flaky(model, data, cfg, out, *a, **k):
        if out.name == "0001":
            raise objective_mod.torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_fit(model, data, cfg, out, *a, **k)

    monkeypatch.setattr(objective_mod, "fit", flaky)
    study = run_search(_cfg(tmp_path, tiny_space_yaml, tiny_data_yaml))
    states = [t.state for t in study.trials]
    assert states[1] == TrialState.FAIL and states.count(TrialState.COMPLETE) == 3
    assert "OutOfMemoryError: CUDA out of memory" in study.trials[1].user_attrs["fail_reason"]
    assert "OutOfMemoryError" in _trials_csv(_cfg(tmp_path, tiny_space_yaml, tiny_data_yaml))[1]["note"]


def test_ctrl_c_keeps_finished_trials_and_writes_outputs(tmp_path, tiny_space_yaml, tiny_data_yaml, monkeypatch):
    real_fit = objective_mod.fit

    def interrupted(model, data, cfg, out, *a, **k):
        if out.name == "0002":
            raise KeyboardInterrupt
        return real_fit(model, data, cfg, out, *a, **k)

    monkeypatch.setattr(objective_mod, "fit", interrupted)
    cfg = _cfg(tmp_path, tiny_space_yaml, tiny_data_yaml)
    with pytest.raises(KeyboardInterrupt):
        run_search(cfg)
    rows = _trials_csv(cfg)
    assert [r["state"] for r in rows[:2]] == ["COMPLETE", "COMPLETE"] and (cfg.run_dir / "best.yaml").is_file()


def test_pruned_trials_stop_early(tmp_path, tiny_space_yaml, tiny_data_yaml, monkeypatch):
    # margin -1: any finished cheaper trial "dominates", so every later costlier trial stops after epoch 1
    from slimnas.search import study as study_mod

    real = study_mod.make_objective

    def eager(c):
        obj = real(c)
        obj.pruner = DominancePruner(after_epoch=1, min_trials=1, margin=-1.0)
        return obj

    monkeypatch.setattr(study_mod, "make_objective", eager)
    study = run_search(_cfg(tmp_path, tiny_space_yaml, tiny_data_yaml, n_trials=6, epochs=2))
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert pruned, [t.state for t in study.trials]
    for t in pruned:
        assert t.user_attrs["epochs"] == 1 and "dominated by trial" in t.user_attrs["pruned"]


def test_asha_stops_trials_at_rungs(tmp_path, tiny_space_yaml, tiny_data_yaml, monkeypatch):
    from slimnas.search import study as study_mod

    real = study_mod.make_objective

    def eager(c):  # a rung after epoch 1 of 2, so the tiny search gets one
        obj = real(c)
        obj.pruner = RungPruner(reduction=3, min_epochs=1)
        return obj

    monkeypatch.setattr(study_mod, "make_objective", eager)
    cfg = _cfg(tmp_path, tiny_space_yaml, tiny_data_yaml, n_trials=6, epochs=2)
    assert cfg.pruner == "asha"
    study = run_search(cfg)
    states = [t.state for t in study.trials]
    assert TrialState.PRUNED in states and TrialState.COMPLETE in states, states
    for t in study.trials:
        if t.state == TrialState.PRUNED:
            assert t.user_attrs["epochs"] == 1 and t.user_attrs["pruned"].startswith("rung at epoch 1")
    first = min((t for t in study.trials if "f1_curve" in t.user_attrs), key=lambda t: t.number)
    assert first.state == TrialState.COMPLETE  # the first to reach the rung goes on
    assert {r["note"] for r in _trials_csv(cfg) if r["state"] == "PRUNED"} <= {t.user_attrs["pruned"] for t in study.trials
                                                                                if "pruned" in t.user_attrs}


def test_a_budget_in_steps_sets_the_epochs_from_the_data(tmp_path, tiny_space_yaml, tiny_data_yaml):
    from slimnas.data.config import build_data, load_data_config
    from slimnas.search.study import make_objective

    data = load_data_config(tiny_data_yaml)
    per_epoch = len(build_data(data).train) // data.batch_size  # full batches: the loader drops the rest
    assert per_epoch >= 1
    for steps, epochs in ((1, 1), (per_epoch, 1), (per_epoch + 1, 2), (7 * per_epoch, 7)):
        cfg = _cfg(tmp_path, tiny_space_yaml, tiny_data_yaml, steps=steps, epochs=99)
        assert cfg.trial_epochs(data) == epochs
        assert make_objective(cfg).train_cfg.epochs == epochs
    assert _cfg(tmp_path, tiny_space_yaml, tiny_data_yaml, epochs=5).trial_epochs(data) == 5
    with pytest.raises(ConfigError, match="--steps must be an integer >= 1"):
        _cfg(tmp_path, tiny_space_yaml, tiny_data_yaml, steps=0).check()
    with pytest.raises(ConfigError, match="unknown pruner 'sha'"):
        _cfg(tmp_path, tiny_space_yaml, tiny_data_yaml, pruner="sha").check()


def test_two_workers_share_one_study(tmp_path, tiny_space_yaml, tiny_data_yaml):
    cfg = _cfg(tmp_path, tiny_space_yaml, tiny_data_yaml, n_workers=2, n_trials=4)
    study = run_search(cfg)
    numbers = [t.number for t in study.trials]
    assert numbers == list(range(len(numbers))) and 4 <= len(numbers) <= 5  # a worker may start one as the other stops
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    dirs = sorted(p.name for p in (cfg.run_dir / "trials").iterdir())
    assert dirs == [f"{n:04d}" for n in numbers]
    assert all((cfg.run_dir / "trials" / d / "results.json").is_file() for d in dirs)


def test_the_samplers_by_name_seeded_and_an_unknown_one_named(tmp_path):
    from slimnas.search.study import make_sampler

    picks = {}
    for name, cls in (("tpe", optuna.samplers.TPESampler), ("nsga2", optuna.samplers.NSGAIISampler),
                      ("random", optuna.samplers.RandomSampler)):
        cfg = SearchConfig(sampler=name, seed=3, out=str(tmp_path))
        assert isinstance(make_sampler(cfg), cls)
    for run in range(2):  # the random control is seeded: one seed, one sequence of candidates
        study = optuna.create_study(sampler=make_sampler(SearchConfig(sampler="random", seed=3, out=str(tmp_path))))
        picks[run] = [study.ask().suggest_int("c", 1, 1000) for _ in range(5)]
    assert picks[0] == picks[1]
    with pytest.raises(ConfigError, match="unknown sampler 'grid'"):
        make_sampler(SearchConfig(sampler="grid", out=str(tmp_path)))
