#!/usr/bin/env python
"""The F1 goal of the road: a searched model at <= 1/4 of the baseline YAML's MACs that scores at least the
baseline YAML's test macro-F1, and beats timm mobilenetv3_small_050/100, within one wall-clock budget.

    python bench/road_goal.py --search 600 --epochs 30 --seeds 0 1 2 --jobs 2

1. The road: the search (default space, ASHA, MACs budget ``--max-macs``, default 4 M = 1/4 of the baseline's
   15.9 M) for ``--search`` seconds, then its recommended model (best val F1 within the budget) retrained with
   its searched hyper-parameters for ``--epochs``. Its wall time (search + one retrain) is measured and must
   stay within ``--budget`` (30 min).
2. The baselines: the baseline YAML and timm mobilenetv3_small_050/100 (from scratch), trained with the same
   data and recipe for the same ``--epochs``; each one's training time is reported (all within the budget).
3. Every model of (1) and (2) is trained once per ``--seeds`` (new init and sampling order) and scored on the
   labelled test split, which neither training nor the search looked at; the goal is judged on the means.
   Runs of step 3 go ``--jobs`` at a time, one CPU thread each (their times are per run, not the budget).

Writes bench/results/road_goal.{json,md}; the study is in bench/results/road-goal-search/.
"""

import argparse
import shutil
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from common import machine, train_row
from slimnas.cli import run_cli
from slimnas.io import write_json, write_text
from slimnas.model import ModelConfig
from slimnas.search import SearchConfig, run_search
from slimnas.search.report import pareto_front, recommend, train_hparams, trained

BASELINES = {"baseline YAML": "baseline", "timm mobilenetv3_small_050": "mobilenetv3_small_050",
             "timm mobilenetv3_small_100": "mobilenetv3_small_100"}


def _train(job: tuple) -> tuple:
    name, model, out, epochs, seed, threads, hparams = job
    return name, seed, train_row(model, None, Path(out), epochs, seed, test=True, threads=threads, **hparams)


def run_jobs(jobs: list[tuple], n: int) -> list[tuple]:
    if n <= 1:
        return [_train(j) for j in jobs]
    with ProcessPoolExecutor(n, mp_context=get_context("spawn")) as pool:  # torch and fork do not mix
        return list(pool.map(_train, jobs))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=float, default=1800, help="wall-clock seconds the road (search + retrain) may take")
    p.add_argument("--search", type=float, default=600, help="search seconds")
    p.add_argument("--search-epochs", type=int, default=9, help="epochs of a search trial that survives its rungs")
    p.add_argument("--epochs", type=int, default=30, help="epochs of the retrain and of every baseline")
    p.add_argument("--max-macs", type=float, default=4e6)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--jobs", type=int, default=2, help="seeded runs side by side (one CPU thread each)")
    p.add_argument("--out", default="bench/results")
    a = p.parse_args()
    out = Path(a.out)
    cfg = SearchConfig(study="road-goal-search", out=str(out), n_trials=10_000, timeout=a.search,
                       epochs=a.search_epochs, max_macs=a.max_macs)
    shutil.rmtree(cfg.run_dir, ignore_errors=True)  # a fresh study: the budget is the whole search
    t0 = time.perf_counter()
    study = run_search(cfg)
    search_s = time.perf_counter() - t0
    done = trained(study)
    best = recommend(pareto_front(done), cfg)
    hparams = {k: v for k, v in train_hparams(best).items() if k != "batch_size"}
    searched = ModelConfig.from_dict(best.user_attrs["model"], f"trial {best.number}")
    t0 = time.perf_counter()  # the road's own retrain, timed alone on the whole machine
    road = train_row(searched, None, out / "road_goal" / "road-timed", a.epochs, a.seeds[0], test=True, **hparams)
    retrain_s = time.perf_counter() - t0
    name = f"searched (trial {best.number})"
    jobs = [(name, searched, str(out / "road_goal" / f"road-seed{s}"), a.epochs, s, 1, hparams) for s in a.seeds]
    jobs += [(label, model, str(out / "road_goal" / f"{model}-seed{s}"), a.epochs, s, 1, {})
             for label, model in BASELINES.items() for s in a.seeds]
    rows: dict[str, dict] = {}
    for label, seed, r in run_jobs(jobs, a.jobs):
        row = rows.setdefault(label, {"macs": r["macs"], "params": r["params"], "test_f1": [], "val_f1": [], "seconds": []})
        row["test_f1"].append(r["test_macro_f1"])
        row["val_f1"].append(r["val_macro_f1"])
        row["seconds"].append(r["train_seconds"])
    for r in rows.values():
        r["test_mean"] = round(statistics.mean(r["test_f1"]), 4)
        r["test_sd"] = round(statistics.stdev(r["test_f1"]), 4) if len(r["test_f1"]) > 1 else 0.0
        r["val_mean"] = round(statistics.mean(r["val_f1"]), 4)
    ours, base = rows[name], rows["baseline YAML"]
    checks = {"road within budget": search_s + retrain_s <= a.budget,
              "at most 1/4 of the baseline's MACs": ours["macs"] <= base["macs"] / 4,
              "test F1 >= baseline YAML": ours["test_mean"] >= base["test_mean"],
              "beats mobilenetv3_small_050": ours["test_mean"] > rows["timm mobilenetv3_small_050"]["test_mean"],
              "beats mobilenetv3_small_100": ours["test_mean"] > rows["timm mobilenetv3_small_100"]["test_mean"]}
    states = [t.state.name for t in study.trials]
    command = (f"python bench/road_goal.py --search {a.search:g} --search-epochs {a.search_epochs} --epochs {a.epochs} "
               f"--seeds {' '.join(map(str, a.seeds))} --jobs {a.jobs}")
    result = {**machine(), "command": command, "budget_s": a.budget, "search_s": round(search_s, 1),
              "retrain_s": round(retrain_s, 1), "road_s": round(search_s + retrain_s, 1),
              "road_timed_test_f1": road["test_macro_f1"], "trial": best.number, "hparams": hparams,
              "trials": {s: states.count(s) for s in sorted(set(states))}, "rows": rows,
              "checks": checks, "met": all(checks.values())}
    write_json(out / "road_goal.json", result)
    lines = [f"The road: a {search_s:.0f} s search ({result['trials']}) + a {a.epochs}-epoch retrain of trial "
             f"{best.number} ({retrain_s:.0f} s) = {result['road_s'] / 60:.1f} min of a {a.budget / 60:.0f}-min budget; "
             f"every model trained {a.epochs} epochs with seeds {a.seeds} and scored on the labelled test split; "
             f"{result['machine']}; {result['date']}.", "",
             "| model | MACs | params | test macro-F1 per seed | mean ± sd | val mean | train s (1 thread) |",
             "|---|---:|---:|---|---:|---:|---:|"]
    for label, r in rows.items():
        lines.append(f"| {label} | {r['macs'] / 1e6:.2f} M | {r['params'] / 1e3:.0f} k | "
                     f"{', '.join(f'{v:.4f}' for v in r['test_f1'])} | {r['test_mean']:.4f} ± {r['test_sd']:.4f} | "
                     f"{r['val_mean']:.4f} | {statistics.median(r['seconds']):.0f} |")
    lines += ["", *(f"- {k}: {'yes' if v else 'NO'}" for k, v in checks.items())]
    write_text(out / "road_goal.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    run_cli(main)
