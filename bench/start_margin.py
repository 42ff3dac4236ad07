#!/usr/bin/env python
"""How far must a trial beat the start point's val macro-F1 before the search's pick leaves it? Measured on dev.

    taskset -c 0 python bench/start_margin.py --seeds 0 2 4 6 8 --sitting S & \
    taskset -c 1 python bench/start_margin.py --seeds 1 3 5 7 9 --sitting S

``search --start-margin`` keeps the space's start point as the pick unless a trial trained as far beats its val
macro-F1 by more than the margin. The margin should be the noise of that comparison: how far apart two trials of
*equal* models land by chance. Here the start point is trained as a search trial is (``--epochs`` epochs, the
trial's val macro-F1 as the search records it) once per ``--seed`` (init, data order, augmentation) on the dev set
(the synthetic task drawn at another seed, the report's test split sealed). Its sd over seeds gives the sd of a
difference of two equal trials, √2·sd; the margin that lets an equal challenger through 5 % of the time is
z·√2·sd with z = 1.645, and against the best of k equal challengers z is the normal quantile at 1 − 0.05/k.

With ``--candidates N`` the first N random candidates of ``bench/start_point.py`` (same draw) are trained as trials
too (``--candidate-seeds``), and the trial's ranking is set against the order their 240 s refits reached in
start_point.json (Kendall τ): can a trial at this fidelity tell these candidates apart at all?

Processes on separate cores with the same ``--sitting`` merge their runs under a lock into
bench/results/start_margin.{json,md}. Trials run for a number of epochs, not seconds, so a busy machine changes
their time, not their F1.
"""

import argparse
import json
import statistics
from pathlib import Path

from scipy.stats import kendalltau, norm

from common import add_run, choose_on_dev, machine, publish, train_row
from slimnas.cli import run_cli
from slimnas.io import write_json
from slimnas.train.metrics import macro_f1_sd, read_confusion
from start_point import START, add_draw_arguments, drawn

ALPHA = 0.05  # the chance an equal challenger is let through


def run_folder(out: Path, epochs: int, name: str, seed: int) -> Path:
    return out / "start_margin" / f"e{epochs}" / name.replace(" ", "_").replace("'", "") / f"seed{seed}"


def bootstrap_sd(folder: Path) -> float:
    """The bootstrap sd of the run's val macro-F1, from its confusion matrix, as every search trial records it."""
    return round(macro_f1_sd(read_confusion(folder / "confusion_matrix.csv")), 5)


def margins(f1: list[float], challengers: tuple[int, ...] = (1, 4, 8)) -> dict:
    """The margin z·√2·sd of the trial's val F1 over seeds, for the best of k equal challengers (z at 1 − α/k)."""
    sd = statistics.stdev(f1)
    return {"sd": round(sd, 4), "sd_difference": round(2 ** 0.5 * sd, 4),
            "margin": {str(k): round(float(norm.ppf(1 - ALPHA / k)) * 2 ** 0.5 * sd, 4) for k in challengers}}


def refit_means(out: Path) -> dict[str, float]:
    """Each contender's mean dev test F1 after the 240 s refit, from bench/start_point.py's newest sitting."""
    path = out / "start_point.json"
    if not path.is_file():
        return {}
    sittings = json.loads(path.read_text())["sittings"]
    return {r["name"]: r["mean"] for r in sittings[-1]["rows"]} if sittings else {}


def per_seed_tau(ranked: dict) -> dict[int, float]:
    """Kendall τ of one seed's trials (a search trains each candidate once) against the refits, per seed that
    trained every contender."""
    seeds = set.intersection(*(set(c["seeds"]) for c in ranked.values()))
    return {s: round(float(kendalltau([c["val_f1"][c["seeds"].index(s)] for c in ranked.values()],
                                      [c["refit_dev_test_f1"] for c in ranked.values()]).statistic), 3)
            for s in sorted(seeds)}


def summarise(out: Path, runs: list[dict]) -> tuple[dict, list[str]]:
    by: dict = {}
    for r in runs:
        by.setdefault((r["sitting"], r["epochs"]), {}).setdefault(r["name"], []).append(r)
    refit = refit_means(out)
    lines = [f"The space's start point trained as a search trial is (its val macro-F1), once per seed, on the dev set "
             f"(the README's test split sealed): the spread of that number, and the margin a challenger must clear "
             f"for an equal one to pass {ALPHA:.0%} of the time (best of 1 / 4 / 8 equal challengers).", "",
             "| sitting | trial epochs | seeds | start point's val macro-F1 per seed | mean | sd | √2·sd | margin, "
             "1 / 4 / 8 | bootstrap sd over val images (sd / it) |", "|---|---:|---:|---|---:|---:|---:|---|---:|"]
    ranking_lines, sittings, notes = [], [], []
    for (sitting, epochs), names in sorted(by.items()):
        summary = {"sitting": sitting, "epochs": epochs, "contenders": {}}
        for name, rs in names.items():
            rs.sort(key=lambda r: r["seed"])
            f1 = [r["val_f1"] for r in rs]
            summary["contenders"][name] = {"seeds": [r["seed"] for r in rs], "val_f1": f1,
                                           "mean": round(statistics.mean(f1), 4), "refit_dev_test_f1": refit.get(name),
                                           "bootstrap_sd": round(statistics.mean(r["bootstrap_sd"] for r in rs), 4)}
        start = summary["contenders"].get(START)
        if start and len(start["val_f1"]) > 2:
            summary.update(margins(start["val_f1"]))
            summary["bootstrap_sd"] = start["bootstrap_sd"]  # what a search measures on the user's val split
            summary["seed_per_bootstrap_sd"] = round(summary["sd"] / start["bootstrap_sd"], 2)
            others = [c for n, c in summary["contenders"].items() if n != START and len(c["val_f1"]) > 1]
            if others:  # the same ratio for the other candidates, their seed variances pooled
                pooled_sd = statistics.mean(statistics.variance(c["val_f1"]) for c in others) ** 0.5
                summary["others"] = {"pooled_seed_sd": round(pooled_sd, 4),
                                     "bootstrap_sd": round(statistics.mean(c["bootstrap_sd"] for c in others), 4)}
            m = summary["margin"]
            lines.append(f"| {sitting} | {epochs} | {len(start['val_f1'])} | "
                         f"{', '.join(f'{v:.4f}' for v in start['val_f1'])} | {start['mean']:.4f} | {summary['sd']:.4f} | "
                         f"{summary['sd_difference']:.4f} | {m['1']:.4f} / {m['4']:.4f} / {m['8']:.4f} | "
                         f"{summary['bootstrap_sd']:.4f} ({summary['seed_per_bootstrap_sd']:.2f}) |")
            if "others" in summary:
                notes.append(f"The other candidates of sitting {sitting}: seed sd {summary['others']['pooled_seed_sd']:.4f} "
                             f"pooled, bootstrap sd {summary['others']['bootstrap_sd']:.4f} on average.")
        ranked = {n: c for n, c in summary["contenders"].items() if c["refit_dev_test_f1"] is not None}
        if len(ranked) > 2:
            tau = kendalltau([c["mean"] for c in ranked.values()], [c["refit_dev_test_f1"] for c in ranked.values()])
            summary["kendall_tau"] = round(float(tau.statistic), 3)
            summary["kendall_tau_per_seed"] = per_seed_tau(ranked)
            ranking_lines += ["", f"Sitting {sitting}, {epochs}-epoch trials against the 240 s refits of "
                                  f"bench/start_point.py: Kendall τ {summary['kendall_tau']:.3f} for the trials' mean "
                                  f"over seeds; one seed's trials alone: " +
                              ", ".join(f"{t:.3f} (seed {s})" for s, t in summary["kendall_tau_per_seed"].items()), "",
                              "| contender | trial val macro-F1 per seed | mean | refit dev test macro-F1 |",
                              "|---|---|---:|---:|"]
            ranking_lines += [f"| {n} | {', '.join(f'{v:.4f}' for v in c['val_f1'])} | {c['mean']:.4f} | "
                              f"{c['refit_dev_test_f1']:.4f} |"
                              for n, c in sorted(ranked.items(), key=lambda kv: -kv[1]["refit_dev_test_f1"])]
        sittings.append(summary)
    return {**machine(), "runs": runs, "sittings": sittings,
            "command": "python bench/start_margin.py --seeds 0 2 4 6 8 --sitting S & "
                       "python bench/start_margin.py --seeds 1 3 5 7 9 --sitting S"}, lines + ["", *notes] + ranking_lines


def write_tables(out: Path, runs: list[dict]) -> None:
    result, lines = summarise(out, runs)
    write_json(out / "start_margin.json", result)
    publish(out / "start_margin.md", lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_draw_arguments(p)  # --candidates: bench/start_point.py's random candidates, trained as trials too
    p.add_argument("--epochs", type=int, default=6, help="epochs of a fully trained trial (the demo's --search-epochs)")
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(10)), help="the start point's trial seeds")
    p.add_argument("--candidate-seeds", type=int, nargs="+", default=None,
                   help="the candidates' seeds (default: the first two of --seeds)")
    a = p.parse_args()
    dev, out = choose_on_dev(), Path(a.out)  # the report's test split sealed
    todo, sitting = drawn(a, dev)
    candidate_seeds = a.candidate_seeds if a.candidate_seeds is not None else a.seeds[:2]
    jobs = [(START, s) for s in a.seeds] + [(n, s) for s in candidate_seeds for n in todo if n != START]
    for name, seed in jobs:
        model, hparams, macs = todo[name]
        hp = {k: v for k, v in hparams.items() if k != "batch_size"}
        folder = run_folder(out, a.epochs, name, seed)
        row = train_row(model, dev, folder, a.epochs, seed, **hp)
        run = {"sitting": sitting, "epochs": a.epochs, "name": name, "seed": seed, "macs": macs,
               "val_f1": row["val_macro_f1"], "bootstrap_sd": bootstrap_sd(folder), "seconds": row["train_seconds"]}
        print(run, flush=True)
        add_run(out, "start_margin", run, ("sitting", "epochs", "name", "seed"), write_tables)


if __name__ == "__main__":
    run_cli(main)
