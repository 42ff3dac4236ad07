#!/usr/bin/env python
"""The F1 goal of the road: a searched model at <= 1/4 of the baseline YAML's MACs that scores at least the
baseline YAML's test macro-F1, and beats timm mobilenetv3_small_050/100, at the same wall-clock.

    python bench/road_goal.py --budget 1800            # the issue's 30 minutes (~2.7 h in all)
    python bench/road_goal.py --budget 600 --search 300
    python bench/road_goal.py --budget 1800 --only mobilenetv3_small_050   # one contender; the rest kept
    python bench/road_goal.py --budget 1800 --only baseline --baseline-seeds 1 2 --add-seeds   # more seeds
    python bench/road_goal.py --budget 1800 --final-fit   # every retrain on train + val (road_goal_1800s_final_fit)
    python bench/road_goal.py --budget 1800 --final-fit --only road   # the road again; the road it replaces is kept
    python bench/road_goal.py --budget 1800 --only road random --search-seed 1   # another search seed: rows added
    python bench/road_goal.py --budget 600 --data data/photo --only road start random   # the second dataset

Everyone gets ``--budget`` seconds of this machine, one run at a time:

1. The road: the search (the ``tiny`` space, ASHA, MACs budget ``--max-macs``, default 4 M = 1/4 of the baseline's
   15.9 M) for ``--search`` seconds, then its recommended model (best val F1 within the budget) retrained with
   its searched hyper-parameters for the rest of the budget (``train --time-budget``: the first epoch's time sets
   the epoch count and the cosine ends on time), starting from the weights its search trial trained
   (``--initial-checkpoint``, as the search's recommended command does). The retrain is repeated with ``--seeds`` (same time each).
2. The search's own controls (``--only start random``): the space's start point trained for the whole budget
   with its own lr (no search), and the road again with Optuna's random sampler (same start point, pruner,
   search seconds and retrain). The road passes if neither beats it by more than the pooled sd.
3. The baselines: the baseline YAML and timm mobilenetv3_small_050/100 (from scratch), each trained for the
   whole ``--budget`` with the same data and recipe (``--baseline-seeds``); and (``--only baseline-tuned``) the
   baseline YAML given the road's own tuning: its architecture fixed, input size and lr searched in the road's
   ranges for ``--search`` seconds (bench/spaces/baseline_tuned.yaml), then retrained like the road.

With ``--final-fit`` every one of those trainings (not the search, which needs val to choose) runs on train + val
and keeps its last epoch (``train --final-fit``); its rows go to their own files, ``..._final_fit``.

Every model is scored on the labelled test split, which neither training nor the search looked at; the goal is
judged on the means. Writes bench/results/road_goal_<budget>s.{json,md} (road_goal_1800s for the issue's 30 minutes)
after every contender; rows of an earlier run at the same budget are kept, so the contenders can run in separate
sittings (the table says when rows come from different sittings). The study is in bench/results/road-goal-search/.
"""

import argparse
import json
import re
import shutil
import statistics
import time
from pathlib import Path

from common import machine, start_point, train_row
from slimnas.cli import run_cli
from slimnas.errors import ConfigError
from slimnas.io import file_lock, write_json, write_text
from slimnas.model import ModelConfig
from slimnas.search import SearchConfig, run_search
from slimnas.search.report import recommendation, train_hparams, trained, trial_weights

BASELINES = {"baseline YAML": "baseline", "timm mobilenetv3_small_050": "mobilenetv3_small_050",
             "timm mobilenetv3_small_100": "mobilenetv3_small_100"}
MAX_EPOCHS = 1000  # the time budget decides
START, RANDOM = "the space's start point alone", "random search"  # the search's own controls (issue 26)
TUNED = "baseline YAML, tuned as the road"  # input size and lr searched in the road's seconds, then retrained
# the road's time, 1/4 of the baseline's MACs, >= its F1 (untuned and tuned), beats both timm models, vs start and random
CHECKS = 8
SITTING = time.strftime("%Y-%m-%d %H:%M:%S")  # this run of the script: rows of other runs ran at another machine pace


def seeded(model, out: Path, seeds: list[int], seconds: float, hparams: dict, data: str | None = None) -> dict:
    """Train ``model`` on ``data`` once per seed for ``seconds`` each; test F1 per seed, their mean and spread."""
    runs = [train_row(model, data, out / f"seed{s}", MAX_EPOCHS, s, test=True, time_budget=seconds, **hparams)
            for s in seeds]
    test = [r["test_macro_f1"] for r in runs]
    row = {"macs": runs[0]["macs"], "params": runs[0]["params"], "seeds": seeds, "test_f1": test,
           "val_f1": [r["val_macro_f1"] for r in runs], "epochs": [r["epochs"] for r in runs],
           "seconds": [r["train_seconds"] for r in runs], "test_mean": round(statistics.mean(test), 4),
           "test_sd": round(statistics.stdev(test), 4) if len(test) > 1 else 0.0,
           "measured": time.strftime("%Y-%m-%d %H:%M"), "sitting": SITTING}
    print(out.name, row, flush=True)
    return row


def check_new_seeds(old: dict, seeds: list[int]) -> None:
    if set(old["seeds"]) & set(seeds):
        raise ConfigError(f"--add-seeds: seeds {sorted(set(old['seeds']) & set(seeds))} are in the row already")


def merged(old: dict, new: dict) -> dict:
    """``new`` seeds added to a row measured earlier (``--add-seeds``); each seed keeps the sitting it ran in."""
    check_new_seeds(old, new["seeds"])
    row = {k: old[k] + new[k] for k in ("seeds", "test_f1", "val_f1", "epochs", "seconds")}
    row["sittings"] = old.get("sittings", [old.get("sitting")] * len(old["seeds"])) + [SITTING] * len(new["seeds"])
    return {**old, **row, "test_mean": round(statistics.mean(row["test_f1"]), 4),
            "test_sd": round(statistics.stdev(row["test_f1"]), 4), "measured": f"{old['measured']} + {new['measured']}"}


ROADS = {  # kind -> (label, folder, sampler, search space or None for --space, MACs cap): what run_road searches
    "road": ("searched", "searched", "tpe", None, True),
    "random": (RANDOM, "random", "random", None, True),
    # the baseline YAML's architecture, fixed, with the road's tuning (input size, lr) in the road's seconds
    "baseline-tuned": (TUNED, "baseline_tuned", "tpe", str(Path(__file__).parent / "spaces" / "baseline_tuned.yaml"),
                       False),
}


def run_road(a, out: Path, runs: Path, kind: str = "road") -> tuple[dict, str, dict]:
    """The search for ``--search`` seconds, then its pick retrained for the rest of the budget, per seed. ``kind``
    (see ROADS): the road itself; the same road with Optuna's random sampler (same start point, pruner and
    retrain); or the baseline YAML given the same tuning (its own space: input size and lr only, no MACs cap)."""
    name, folder, sampler, space, capped = ROADS[kind]
    seed, tag = a.search_seed, f"_s{a.search_seed}" if a.search_seed else ""
    folder += tag
    cfg = SearchConfig(space=space or a.space, study=f"{runs.name}-{'search' if kind == 'road' else kind}{tag}".replace("_", "-"),
                       out=str(out), data=a.data, n_trials=10_000, timeout=a.search, epochs=a.search_epochs,
                       max_macs=a.max_macs if capped else None, sampler=sampler, seed=seed)
    shutil.rmtree(cfg.run_dir, ignore_errors=True)  # a fresh study: the budget is the whole search
    shutil.rmtree(runs / folder, ignore_errors=True)
    t0 = time.perf_counter()
    study = run_search(cfg)  # the deadline lets a started trial finish, so the search may overrun a little
    search_s = time.perf_counter() - t0
    done = trained(study)
    best, kept = recommendation(study, cfg)  # the pick best.json holds, as the demo retrains it
    hparams = {k: v for k, v in train_hparams(best).items() if k != "batch_size"}
    weights = trial_weights(best, cfg.run_dir)  # the retrain goes on from the search's epochs on its pick
    retrain = {**hparams, "final_fit": a.final_fit, "initial_checkpoint": str(weights) if weights else None}
    searched = ModelConfig.from_dict(best.user_attrs["model"], f"trial {best.number}")
    retrain_s = max(a.budget - search_s, 60.0)
    row = seeded(searched, runs / folder, a.seeds, retrain_s, retrain, a.data)
    states = [t.state.name for t in study.trials]
    road = {"search_s": round(search_s, 1), "retrain_budget_s": round(retrain_s, 1),
            "road_s": round(search_s + statistics.mean(row["seconds"]), 1), "trial": best.number, "hparams": hparams,
            "trials": {s: states.count(s) for s in sorted(set(states))}, "trained": len(done), "seeds": a.seeds,
            "search_seed": seed, "input_size": searched.input_size, "warm_start": weights is not None,
            "start_kept": kept}
    label = f"{name} ({f'search seed {seed}, ' if seed else ''}trial {best.number})"
    return road, label, row


def search_seed(label: str) -> int:
    """The sampler seed a road row was searched with (rows before --search-seed: 0)."""
    found = re.search(r"search seed (\d+),", label)
    return int(found.group(1)) if found else 0


def pooled(rows: dict, prefix: str) -> dict | None:
    """The rows of one kind of road over every search seed, as one: every (search, retrain) seed's test F1."""
    mine = [r for k, r in rows.items() if k.startswith(prefix)]
    if len(mine) < 2:
        return mine[0] if mine else None
    test = [v for r in mine for v in r["test_f1"]]
    return {"macs": max(r["macs"] for r in mine), "test_f1": test, "test_mean": round(statistics.mean(test), 4),
            "test_sd": round(statistics.stdev(test), 4)}


def with_road(result: dict, road: dict, name: str, row: dict) -> None:
    """The road's new row first; the road it replaces (another ``--search``, say) kept under ``earlier_roads``."""
    replaced = {k: v for k, v in result["rows"].items()
                if k.startswith("searched") and search_seed(k) == road.get("search_seed", 0)}
    if replaced:
        result["earlier_roads"] = [*result.get("earlier_roads", []), {"road": result["road"], "rows": replaced}]
    result["rows"] = {name: row, **{k: v for k, v in result["rows"].items() if k not in replaced}}
    result["road"] = road


def pooled_sd(a: dict, b: dict) -> float:
    return ((a["test_sd"] ** 2 + b["test_sd"] ** 2) / 2) ** 0.5


def checks(result: dict) -> dict:
    """The goal, judged on the rows there are; a contender not run yet leaves its check out."""
    rows, road = result["rows"], result.get("road")
    ours = pooled(rows, "searched")  # over every search seed run at this budget
    if ours is None:
        return {}
    out = {f"the road within {result['budget_s']:g} s (+2 %)": road["road_s"] <= result["budget_s"] * 1.02} if road else {}
    for label, other in [(START, rows.get(START)), (RANDOM, pooled(rows, RANDOM))]:
        if other is not None:  # the search must earn its keep against its own start point and a random search
            out[f"not worse than {label} by more than the pooled sd"] = \
                ours["test_mean"] >= other["test_mean"] - pooled_sd(ours, other)
    if "baseline YAML" in rows:
        base = rows["baseline YAML"]
        out["at most 1/4 of the baseline YAML's MACs"] = ours["macs"] <= base["macs"] / 4
        out["test F1 >= the baseline YAML's"] = ours["test_mean"] >= base["test_mean"]
    tuned = pooled(rows, TUNED)
    if tuned is not None:  # the baseline given the road's own tuning (issue 26)
        out["test F1 >= the baseline YAML's, tuned as the road"] = ours["test_mean"] >= tuned["test_mean"]
    for label in ("timm mobilenetv3_small_050", "timm mobilenetv3_small_100"):
        if label in rows:
            out[f"beats {label.split()[1]}"] = ours["test_mean"] > rows[label]["test_mean"]
    return out


ROAD_KEYS = ("road", "random_road", "tuned_road")  # each kind of road's last search (ROADS)


def carried_over(earlier: dict) -> dict:
    """What a run's result starts from: the rows, roads and commands of the runs before it at this budget. Every
    road is carried, so that a save keeps the roads it did not run (a random-search run once dropped the tuned
    baseline's road that the other core had written)."""
    return {"road": earlier.get("road"), **{k: earlier[k] for k in ROAD_KEYS[1:] if k in earlier},
            "rows": earlier.get("rows", {}), "earlier_roads": earlier.get("earlier_roads", []),
            "commands": earlier.get("commands", [])}


def merge_sittings(result: dict, started: dict, disk: dict) -> None:
    """Fold into ``result`` what other runs wrote to the file since this one read it (``started``): their rows, the
    roads they ran and their commands; what this run measured or replaced is its own."""
    old_rows = started.get("rows", {})
    mine = {k for k, v in result["rows"].items() if old_rows.get(k) is not v}
    dropped = set(old_rows) - set(result["rows"])
    others = {k: v for k, v in disk.get("rows", {}).items() if k not in mine and k not in dropped}
    rows = {k: v if k in mine else others[k] for k, v in result["rows"].items() if k in mine or k in others}
    result["rows"] = {**rows, **{k: v for k, v in others.items() if k not in rows}}
    started["rows"] = {**old_rows, **others}  # taken from the file: still not this run's at the next save
    for key in (*ROAD_KEYS, "earlier_roads"):
        if result.get(key) is started.get(key) and key in disk:  # not changed here: the file's is newer
            result[key] = started[key] = disk[key]
    result["commands"] = [*disk.get("commands", []),
                          *(c for c in result["commands"] if c not in disk.get("commands", []))]
    result["command"] = " && ".join(result["commands"])


def judge(result: dict) -> None:
    """The checks, whether all are met, and each kind of road pooled over its search seeds (what they judge)."""
    result["checks"] = checks(result)
    result["met"] = bool(result["checks"]) and all(result["checks"].values()) and len(result["checks"]) == CHECKS
    result["pooled"] = {label: row for label in ("searched", RANDOM, TUNED) if (row := pooled(result["rows"], label))}


def data_tag(data: str | None) -> str:
    """How a results name says which data it measured: nothing for the embedded synthetic data, else the data
    folder's (or YAML's) name, e.g. ``_photo`` for the second dataset (bench/photo_data.py)."""
    return f"_{Path(data).stem}" if data else ""


def runs_name(final_fit: bool, data: str | None = None) -> str:
    """The folder of the trained checkpoints (bench/results/road_goal/<model>/seed<N>/best.pt)."""
    return ("road_goal_final_fit" if final_fit else "road_goal") + data_tag(data)


def results_name(budget: float, final_fit: bool = False, data: str | None = None) -> str:
    """One file per budget, recipe and data: the 10- and the 30-minute comparisons are kept side by side."""
    return f"road_goal_{budget:g}s" + ("_final_fit" if final_fit else "") + data_tag(data)


def f1s(values: list[float]) -> str:
    return ", ".join(f"{v:.4f}" for v in values)


def write_tables(result: dict, out: Path) -> None:
    road, rows = result.get("road"), result["rows"]
    missing = ([label for label in ["searched", START, RANDOM, TUNED] if not any(k.startswith(label) for k in rows)]
               + [label for label in BASELINES if label not in rows])
    head = f"Budget {result['budget_s'] / 60:.0f} min each" + (f", data {result['data']}." if result.get("data") else ".")
    if road:
        trained_note = f", {road['trained']} trained to the end" if "trained" in road else ""
        head += (f" The road: a {road['search_s']:.0f} s search ({road['trials']}{trained_note}), then trial "
                 f"{road['trial']} retrained for the remaining {road['retrain_budget_s']:.0f} s (seeds {road['seeds']}).")
    lines = [f"{head} Each baseline trained for the whole budget. Test split never seen by training or search; "
             f"{result['machine']}; {result['date']}.", "",
             "| model | MACs | params | epochs in the budget | test macro-F1 per seed | mean ± sd | "
             f"{'val F1 per seed (val trained on)' if result.get('final_fit') else 'val F1 per seed'} | measured |",
             "|---|---:|---:|---|---|---:|---|---|"]
    for label, r in rows.items():
        lines.append(f"| {label} | {r['macs'] / 1e6:.2f} M | {r['params'] / 1e3:.0f} k | "
                     f"{', '.join(map(str, r['epochs']))} | {f1s(r['test_f1'])} | "
                     f"{r['test_mean']:.4f} ± {r['test_sd']:.4f} | {f1s(r['val_f1'])} | "
                     f"{r.get('measured', 'earlier sitting')} |")
    if len({s for r in rows.values() for s in r.get("sittings", [r.get("sitting")])}) > 1:
        lines += ["", "Rows measured in different sittings ran at different machine speeds (epochs per second "
                      "varied by up to 30 % here): compare rows of one sitting."]
    for e in result.get("earlier_roads", []):
        for label, r in e["rows"].items():
            lines += ["", f"An earlier road at this budget: a {e['road']['search_s']:.0f} s search, {label} retrained "
                          f"{e['road']['retrain_budget_s']:.0f} s: {r['macs'] / 1e6:.2f} M MACs, epochs "
                          f"{', '.join(map(str, r['epochs']))}, test F1 {f1s(r['test_f1'])} "
                          f"(mean {r['test_mean']:.4f} ± {r['test_sd']:.4f}; {r.get('measured', 'earlier sitting')})."]
    lines += ["", *(f"- {label}, pooled over its (search, retrain) seeds: {r['test_mean']:.4f} ± {r['test_sd']:.4f} "
                    f"({len(r['test_f1'])} runs)" for label, r in result.get("pooled", {}).items())]
    lines += [*(f"- {k}: {'yes' if v else 'NO'}" for k, v in result["checks"].items())]
    if missing:
        lines.append(f"- not run yet at this budget: {', '.join(missing)}")
    name = results_name(result["budget_s"], result.get("final_fit", False), result.get("data"))
    write_json(out / f"{name}.json", result)
    write_text(out / f"{name}.md", "\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=float, default=1800, help="wall-clock seconds each contender gets")
    p.add_argument("--search", type=float, default=None, help="search seconds of the road (default: a sixth of the budget)")
    p.add_argument("--space", default="tiny", help="search space (the one made for ~4 M MACs)")
    p.add_argument("--search-epochs", type=int, default=9, help="epochs of a search trial that survives its rungs")
    p.add_argument("--max-macs", type=float, default=4e6)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of the road's retrain")
    p.add_argument("--search-seed", type=int, default=0,
                   help="the search's sampler seed: a run per seed adds its rows (the road's checks pool every search "
                        "seed's retrains, so the spread covers both)")
    p.add_argument("--baseline-seeds", type=int, nargs="+", default=[0], help="seeds of each baseline")
    p.add_argument("--add-seeds", action="store_true",
                   help="add the --baseline-seeds runs to the baselines' earlier rows instead of replacing them")
    p.add_argument("--only", nargs="+", choices=[*ROADS, "start", *BASELINES.values()],
                   default=[*ROADS, "start", *BASELINES.values()],
                   help="run these contenders; the others keep their rows from an earlier run at the same --budget")
    p.add_argument("--final-fit", action="store_true",
                   help="every retrain and baseline on train + val, keeping the last epoch (the search still holds val out)")
    p.add_argument("--data", default=None,
                   help="a data YAML or folder (default: the embedded synthetic data); its results get their own "
                        "files, named after it (road_goal_600s_photo for bench/photo_data.py's folder data/photo)")
    p.add_argument("--out", default="bench/results")
    a = p.parse_args()
    out = Path(a.out)
    # At 30 min both 600 s searches had their pick by ~190 s and a 300 s search found it too, leaving each retrain
    # 1487 s instead of 1161 s (+0.020 mean test F1 with the final fit): a sixth of the budget searches
    a.search = a.search or a.budget / 6
    runs = out / runs_name(a.final_fit, a.data)  # the checkpoints of this recipe and data
    written = out / f"{results_name(a.budget, a.final_fit, a.data)}.json"
    earlier = json.loads(written.read_text()) if written.is_file() else {}
    started = {**earlier, "rows": dict(earlier.get("rows", {}))}  # as read: what other sittings add is merged in
    result = {**machine(), "budget_s": a.budget, "final_fit": a.final_fit, "data": a.data, **carried_over(earlier)}
    result["commands"].append(f"python bench/road_goal.py --budget {a.budget:g} --search {a.search:g} --space {a.space} "
                              f"--search-epochs {a.search_epochs} --seeds {' '.join(map(str, a.seeds))} "
                              f"--baseline-seeds {' '.join(map(str, a.baseline_seeds))} --only {' '.join(a.only)}"
                              + (f" --search-seed {a.search_seed}" if a.search_seed else "")
                              + (" --add-seeds" if a.add_seeds else "") + (" --final-fit" if a.final_fit else "")
                              + (f" --data {a.data}" if a.data else ""))
    result["command"] = " && ".join(result["commands"])

    for label, model in BASELINES.items():  # refuse before 30 minutes of training, not after
        if a.add_seeds and model in a.only and label in result["rows"]:
            check_new_seeds(result["rows"][label], a.baseline_seeds)

    def save() -> None:  # after every contender: an interrupted run keeps what it measured
        with file_lock(f"{written}.lock"):  # another sitting may run other contenders at this budget meanwhile
            if written.is_file():
                merge_sittings(result, started, json.loads(written.read_text()))
            judge(result)
            write_tables(result, out)

    if "road" in a.only:
        with_road(result, *run_road(a, out, runs))
        save()
    if "start" in a.only:  # no search: the space's start point trained for the whole budget
        model, hparams = start_point(a.space)
        hparams = {k: v for k, v in hparams.items() if k != "batch_size"}
        result["rows"][START] = seeded(model, runs / "start", a.seeds, a.budget, {**hparams, "final_fit": a.final_fit},
                                       a.data)
        save()
    for kind, key in (("random", "random_road"), ("baseline-tuned", "tuned_road")):
        if kind in a.only:
            road, label, row = run_road(a, out, runs, kind)
            prefix = ROADS[kind][0]
            result["rows"] = {**{k: v for k, v in result["rows"].items()
                                 if not (k.startswith(prefix) and search_seed(k) == a.search_seed)}, label: row}
            result[key] = road
            save()
    for label, model in BASELINES.items():
        if model in a.only:
            row = seeded(model, runs / model, a.baseline_seeds, a.budget, {"final_fit": a.final_fit}, a.data)
            old = result["rows"].get(label)
            result["rows"][label] = merged(old, row) if a.add_seeds and old else row
            save()


if __name__ == "__main__":
    run_cli(main)
