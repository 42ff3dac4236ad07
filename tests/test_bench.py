"""The bench scripts are not run by the tests (they take an hour), but they must at least import:
a library refactor that breaks one should fail here, not an hour into bench/run_all."""

import ast

import numpy as np
import pytest
from conftest import REPO, run_script

BENCHES = sorted(p.stem for p in (REPO / "bench").glob("*.py"))


def test_every_bench_script_imports():
    code = "import sys; sys.path.insert(0, 'bench'); " + "; ".join(f"import {b}" for b in BENCHES)
    r = run_script("-c", code)
    assert r.returncode == 0, r.stderr[-2000:]


def test_a_bench_times_no_setting_with_more_threads_than_its_cores(monkeypatch, capsys):
    """Pinned to one core (``taskset -c 0``), a 2-thread timing would put both threads on that core."""
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    import common

    monkeypatch.setattr("slimnas.pace.available_cores", lambda: 1)
    assert common.timing_settings([(1, 1), (1, 32), (2, 1), (2, 32)]) == [(1, 1), (1, 32)]
    assert "not timed: 2x1, 2x32 (more threads than the 1 core(s)" in capsys.readouterr().out
    monkeypatch.setattr("slimnas.pace.available_cores", lambda: 2)
    assert common.timing_settings([(1, 1), (2, 32)]) == [(1, 1), (2, 32)] and not capsys.readouterr().out


def test_road_goal_judges_the_goal_on_the_rows_it_has(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    import road_goal

    def row(macs, tests, sitting="a"):
        return {"macs": macs, "params": 1000, "epochs": [10] * len(tests), "test_f1": tests, "val_f1": tests,
                "test_mean": sum(tests) / len(tests), "test_sd": 0.0, "measured": "now", "sitting": sitting}

    result = {"date": "d", "machine": "m", "budget_s": 1800.0,
              "road": {"search_s": 600.0, "retrain_budget_s": 1200.0, "road_s": 1790.0, "trial": 1,
                       "trials": {"COMPLETE": 4}, "seeds": [0, 1, 2]},
              "rows": {"searched (trial 1)": row(3.9e6, [0.70, 0.68, 0.69]), "baseline YAML": row(15.9e6, [0.68])}}
    result["checks"] = road_goal.checks(result)
    assert result["checks"] == {"the road within 1800 s (+2 %)": True, "at most 1/4 of the baseline YAML's MACs": True,
                                "test F1 >= the baseline YAML's": True}  # the timm rows are not run yet: no check
    road_goal.write_tables(result, tmp_path)
    table = (tmp_path / "road_goal_1800s.md").read_text()
    assert ("not run yet at this budget: the space's start point alone, random search, baseline YAML, tuned as the "
            "road, timm mobilenetv3_small_050, timm mobilenetv3_small_100") in table
    assert "different sittings" not in table

    result["rows"]["timm mobilenetv3_small_050"] = row(4.7e6, [0.71], sitting="b")  # better than the road
    result["checks"] = road_goal.checks(result)
    assert result["checks"]["beats mobilenetv3_small_050"] is False
    road_goal.write_tables(result, tmp_path)
    table = (tmp_path / "road_goal_1800s.md").read_text()
    assert "different sittings" in table and "- beats mobilenetv3_small_050: NO" in table

    # the search's own controls: a start point alone within the pooled sd passes, a random search above it fails
    result["rows"][road_goal.START] = row(2.5e6, [0.70, 0.67, 0.71])
    result["rows"]["random search (trial 3)"] = row(3.1e6, [0.74, 0.75, 0.73])
    for r in result["rows"].values():
        r["test_sd"] = float(np.std(r["test_f1"], ddof=1)) if len(r["test_f1"]) > 1 else 0.0
    judged = road_goal.checks(result)
    assert judged["not worse than the space's start point alone by more than the pooled sd"] is True
    assert judged["not worse than random search by more than the pooled sd"] is False
    assert road_goal.search_seed("random search (search seed 2, trial 0)") == 2
    # the baseline given the road's tuning: judged on its pooled search seeds, like the road
    result["rows"][f"{road_goal.TUNED} (trial 0)"] = row(28.3e6, [0.66])
    result["rows"][f"{road_goal.TUNED} (search seed 1, trial 2)"] = row(15.9e6, [0.75])
    assert road_goal.checks(result)["test F1 >= the baseline YAML's, tuned as the road"] is False  # 0.69 < 0.705
    del result["rows"][f"{road_goal.TUNED} (trial 0)"], result["rows"][f"{road_goal.TUNED} (search seed 1, trial 2)"]
    # another search seed adds its rows, and the checks pool every (search, retrain) seed
    first_road = result["road"]
    road_goal.with_road(result, {**result["road"], "search_seed": 1}, "searched (search seed 1, trial 5)",
                        row(3.0e6, [0.76, 0.77, 0.75]))
    assert {"searched (trial 1)", "searched (search seed 1, trial 5)"} <= set(result["rows"])
    both = road_goal.pooled(result["rows"], "searched")
    assert sorted(both["test_f1"]) == [0.68, 0.69, 0.70, 0.75, 0.76, 0.77] and both["macs"] == 3.9e6
    assert road_goal.checks(result)["not worse than random search by more than the pooled sd"] is True
    del result["rows"][road_goal.START], result["rows"]["random search (trial 3)"]
    del result["rows"]["searched (search seed 1, trial 5)"]
    result["road"] = first_road

    result["final_fit"] = True  # trained on train + val: its own files, and val F1 is no longer held out
    road_goal.write_tables(result, tmp_path)
    assert "val F1 per seed (val trained on)" in (tmp_path / "road_goal_1800s_final_fit.md").read_text()
    assert "(val trained on)" not in (tmp_path / "road_goal_1800s.md").read_text()

    road = {**result["road"], "search_s": 300.0, "retrain_budget_s": 1500.0, "trial": 0}  # a road with a shorter search
    road_goal.with_road(result, road, "searched (trial 0)", row(2.5e6, [0.72, 0.71, 0.73]))
    assert list(result["rows"])[0] == "searched (trial 0)" and "searched (trial 1)" not in result["rows"]
    assert result["earlier_roads"][0]["road"]["search_s"] == 600.0
    assert result["earlier_roads"][0]["rows"]["searched (trial 1)"]["test_f1"] == [0.70, 0.68, 0.69]
    road_goal.write_tables(result, tmp_path)
    table = (tmp_path / "road_goal_1800s_final_fit.md").read_text()
    assert "a 300 s search" in table and "trial 0 retrained for the remaining 1500 s" in table
    assert "An earlier road at this budget: a 600 s search, searched (trial 1) retrained 1200 s" in table
    assert "test F1 0.7000, 0.6800, 0.6900 (mean 0.6900" in table


def test_road_goal_adds_seeds_to_a_row_and_refuses_a_seed_twice(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    import road_goal
    from slimnas.errors import ConfigError

    def row(seeds, tests, sitting):
        return {"macs": 1, "params": 1, "seeds": seeds, "test_f1": tests, "val_f1": tests, "epochs": [99] * len(seeds),
                "seconds": [1800.0] * len(seeds), "test_mean": sum(tests) / len(tests), "test_sd": 0.0,
                "measured": sitting, "sitting": sitting}

    both = road_goal.merged(row([0], [0.70], "a"), row([1, 2], [0.68, 0.72], "b"))
    assert both["seeds"] == [0, 1, 2] and both["test_f1"] == [0.70, 0.68, 0.72]
    assert both["test_mean"] == 0.70 and both["test_sd"] == 0.02
    assert both["sittings"] == ["a", road_goal.SITTING, road_goal.SITTING]
    with pytest.raises(ConfigError, match=r"seeds \[1\] are in the row already"):
        road_goal.merged(both, row([1], [0.5], "c"))


def test_error_kinds_tells_missed_defects_from_false_alarms(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    import error_kinds

    classes = ["bottle-broken", "bottle-good", "cable-cut", "cable-good"]
    y = np.array([0, 0, 1, 0, 2, 3, 1])
    p = np.array([0, 1, 0, 2, 2, 3, 1])  # right, missed, false alarm, wrong category, right, right, right
    assert error_kinds.error_kinds(y, p, classes) == {"errors": 3, "missed": 1, "false_alarm": 1, "wrong_defect": 0,
                                                      "wrong_category": 1}
    classes = ["pill-crack", "pill-color", "pill-good"]
    assert error_kinds.error_kinds(np.array([0, 1]), np.array([1, 1]), classes)["wrong_defect"] == 1


def test_search_fidelity_ranks_trials_as_the_search_did(monkeypatch):
    """Further trained first (stopping a trial at a rung ranked it below those that went on), then by val F1;
    duplicates, budget rejections and failures were never trained and are not ranked."""
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    import optuna
    import search_fidelity
    from optuna.trial import TrialState, create_trial

    study = optuna.create_study(directions=["maximize", "minimize"])

    def add(state, curve=None, bnll=None, **attrs):
        values = [max(curve or [0.0]), 1.0] if state == TrialState.COMPLETE else None
        extra = {"f1_curve": curve, "bnll_curve": bnll, "epochs": len(curve)} if curve else {}
        study.add_trial(create_trial(state=state, values=values, user_attrs={**extra, **attrs}))

    add(TrialState.COMPLETE, [0.1, 0.2, 0.3], [3.0, 2.0, 1.5])                  # 0
    add(TrialState.PRUNED, [0.1, 0.35], [3.0, 2.9])                           # 1: best F1 so far, but stopped at epoch 2
    add(TrialState.COMPLETE, [0.1, 0.2, 0.4], [3.0, 1.8, 2.5])                  # 2
    add(TrialState.COMPLETE, [0.1, 0.2, 0.5], [1.0, 1.0, 1.0], duplicate_of=2)  # 3: a twin of 2, not trained again
    add(TrialState.PRUNED, [0.3], [2.0])                                      # 4
    add(TrialState.COMPLETE, rejected="over budget")                          # 5: never trained
    add(TrialState.FAIL, [0.9], [0.1])                                        # 6: diverged
    assert [t.number for t in search_fidelity.search_order(study)] == [2, 0, 1, 4]
    # by the lowest class-balanced val NLL of its curve: 0 (1.5) before 2 (1.8), where val F1 put 2 first
    assert [t.number for t in search_fidelity.search_order(study, "val_bnll")] == [0, 2, 1, 4]

    t, p = search_fidelity.tau([0, -1, -2, -3], [0.5, 0.4, 0.3, 0.2])
    assert t == 1.0 and 0 < p < 1
    assert search_fidelity.tau([0, -1, -2, -3], [0.2, 0.3, 0.4, 0.5])[0] == -1.0
    assert search_fidelity.tau([0], [0.5]) == (None, None)


CHOOSING = ["dev_defaults", "start_point", "start_margin", "prune_accuracy", "decompose_accuracy"]  # benches whose numbers set a default, a recipe or a bound


def test_a_bench_that_chooses_seals_the_report_test_split_and_works_on_dev(tmp_path, monkeypatch):
    from slimnas.data.config import dataset_path, load_data_config
    from slimnas.data.sources import SEALED_ENV, sealed

    monkeypatch.setenv("SLIMNAS_CACHE", str(tmp_path))
    monkeypatch.setenv(SEALED_ENV, "")
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    import common

    report = load_data_config(None)
    dev = common.choose_on_dev()
    assert sealed(dataset_path(report)) and not sealed(dataset_path(dev))
    assert dev.synthetic["seed"] != report.synthetic["seed"] and dev.img_size == report.img_size
    assert not any(tmp_path.iterdir())  # sealing names the folder; it generates nothing
    for name in CHOOSING:
        tree = ast.parse((REPO / "bench" / f"{name}.py").read_text())
        main = next(f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == "main")
        calls = [n.func.id for n in ast.walk(main) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
        assert "choose_on_dev" in calls, f"bench/{name}.py chooses without sealing the test split"


def test_search_fidelity_dev_searches_the_dev_set_with_the_report_sealed(tmp_path, monkeypatch):
    """``--dev`` (choosing a ranker or a pruner) hands the search a data YAML of the dev set, and seals the test
    split the README reports on for the bench and every command it runs."""
    from slimnas.data.config import dataset_path, load_data_config
    from slimnas.data.sources import SEALED_ENV, sealed

    monkeypatch.setenv("SLIMNAS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(SEALED_ENV, "")
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    import common
    import search_fidelity

    searched = load_data_config(search_fidelity.dev_yaml(tmp_path))
    assert searched.synthetic == common.dev_data().synthetic and searched.img_size == load_data_config(None).img_size
    assert sealed(dataset_path(load_data_config(None))) and not sealed(dataset_path(searched))


def test_road_goal_sittings_at_one_budget_merge_their_rows(monkeypatch):
    """Two runs at one budget (say random search on one core, the road on the other) each save after every
    contender: neither loses the other's rows or road, and a row one of them replaced stays replaced."""
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    import road_goal

    start_row, kept = {"test_f1": [0.5]}, {"test_f1": [0.4]}
    on_disk = {"rows": {road_goal.START: start_row, "baseline YAML": kept}, "road": None, "commands": ["c0"]}
    started = {**on_disk, "rows": dict(on_disk["rows"])}
    mine = {**on_disk, "rows": dict(on_disk["rows"]), "commands": ["c0", "c-random"]}  # this run: random search
    mine["rows"][road_goal.START] = {"test_f1": [0.6]}  # re-measured here
    mine["rows"]["random search (trial 2)"] = {"test_f1": [0.55]}
    del mine["rows"]["baseline YAML"]  # replaced (dropped) here
    # meanwhile the other run wrote its road, and a row of its own
    disk = {"rows": {**on_disk["rows"], "searched (trial 4)": {"test_f1": [0.7]}}, "road": {"trial": 4},
            "commands": ["c0", "c-road"]}
    road_goal.merge_sittings(mine, started, disk)
    assert mine["rows"][road_goal.START] == {"test_f1": [0.6]}  # this run's measurement wins
    assert mine["rows"]["searched (trial 4)"] == {"test_f1": [0.7]} and "random search (trial 2)" in mine["rows"]
    assert "baseline YAML" not in mine["rows"]
    assert mine["road"] == {"trial": 4} and mine["commands"] == ["c0", "c-road", "c-random"]
    # the next save takes the other run's newer road again, and keeps its row as the file has it
    disk = {**disk, "road": {"trial": 5}, "rows": {**disk["rows"], "searched (trial 4)": {"test_f1": [0.71]}}}
    road_goal.merge_sittings(mine, started, disk)
    assert mine["road"] == {"trial": 5} and mine["rows"]["searched (trial 4)"] == {"test_f1": [0.71]}
    assert mine["rows"][road_goal.START] == {"test_f1": [0.6]}
    # a run that starts after the other wrote its tuned baseline's road keeps it, and takes its newer one
    on_disk = {"rows": {}, "road": None, "tuned_road": {"trial": 0}, "commands": ["c-tuned"]}
    started = {**on_disk, "rows": {}}
    mine = road_goal.carried_over(on_disk)
    mine["random_road"] = {"trial": 1}  # measured here
    road_goal.merge_sittings(mine, started, {**on_disk, "tuned_road": {"trial": 2}})
    assert mine["tuned_road"] == {"trial": 2} and mine["random_road"] == {"trial": 1}
    # another dataset's rows and checkpoints never mix with the synthetic data's
    assert road_goal.results_name(600) == "road_goal_600s" and road_goal.runs_name(False) == "road_goal"
    assert road_goal.results_name(600, data="data/photo") == "road_goal_600s_photo"
    assert road_goal.runs_name(True, "data/photo") == "road_goal_final_fit_photo"


def test_photo_data_writes_the_competition_layout_of_31_labels(tmp_path, monkeypatch):
    """The second dataset: real photographs with painted defects, 31 labels at 96 px, read by the CSV lister as a
    user's data is; every defect changes the crop it is painted on, and the files are the seed's alone."""
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    import numpy as np
    import photo_data
    from slimnas.data.config import load_data_config
    from slimnas.data.sources import list_source

    names = photo_data.labels(0)
    assert sum(len(states) for states in names.values()) == 31 and all(s[0] == "good" for s in names.values())
    counts = photo_data.counts(0)
    assert all(80 <= counts[f"{c}-good"][0] <= 150 for c in names)
    assert all(3 <= n <= 12 for label, (n, _) in counts.items() if not label.endswith("-good"))

    photos = {source: photo_data.photo(source) for source, _ in photo_data.CATEGORIES.values()}
    good = photo_data.crop(photos["skimage:coffee"], "object", np.random.default_rng(1))
    for name, paint in photo_data.DEFECTS.items():
        changed = np.abs(paint(good.copy(), np.random.default_rng(2)) - good).max(axis=2) > 0.1
        assert 0.002 < changed.mean() < 0.25, name  # visible, and a part of the image only

    monkeypatch.setattr(photo_data, "counts", lambda seed: {k: (2, 1) for k in counts})  # 93 images, not 1,400
    out = photo_data.generate(tmp_path / "photo", seed=0)
    drawn = [np.asarray(photo_data.render("fur-swap", np.random.default_rng(3), photos)) for _ in range(2)]
    assert np.array_equal(*drawn)  # an image is its seed's alone
    source = list_source("dacon_csv", out)
    assert len(source.classes) == 31 and len(source.train) == 62 and len(source.test_labels) == 31
    assert load_data_config(str(out)).kind == "dacon_csv"  # the folder alone is a data argument, as for a user
    assert not list(tmp_path.glob(".*partial"))
