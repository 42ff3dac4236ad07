#!/usr/bin/env python
"""What early stopping saves: the same search (seed, trials, epochs) with and without the dominance pruner.

    python bench/search_pruning.py --n-trials 16 --epochs 6

Reports wall time, trained epochs, trial states and the front's quality (hypervolume of val macro-F1
against MACs, reference point F1 = 0 at the MACs budget; higher is better) for both runs.
Writes bench/results/search_pruning.{json,md}.
"""

import argparse
import shutil
import time
from pathlib import Path

from common import machine, publish
from slimnas.cli import run_cli
from slimnas.io import write_json
from slimnas.search import SearchConfig, run_search
from slimnas.search.report import pareto_front, trained


def hypervolume(front, max_macs: float) -> float:
    """Area dominated by the front in (MACs in [0, max_macs], F1 in [0, 1]), as a fraction of max_macs."""
    area, best = 0.0, 0.0
    for t in sorted(front, key=lambda t: t.user_attrs["macs"]):
        f1 = t.user_attrs["f1"]
        if f1 > best:
            area += (max_macs - t.user_attrs["macs"]) * (f1 - best)
            best = f1
    return area / max_macs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-trials", type=int, default=16)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="bench/results")
    a = p.parse_args()
    rows = []
    for prune in (False, True):
        cfg = SearchConfig(study=f"bench-prune-{'on' if prune else 'off'}", out=a.out, n_trials=a.n_trials,
                           epochs=a.epochs, seed=a.seed, pruner="dominance" if prune else "none")
        shutil.rmtree(cfg.run_dir, ignore_errors=True)
        t0 = time.perf_counter()
        study = run_search(cfg)
        seconds = time.perf_counter() - t0
        done = trained(study)
        states = [t.state.name for t in study.trials]
        rows.append({"pruning": prune, "seconds": round(seconds, 1),
                     "epochs_trained": sum(t.user_attrs.get("epochs", 0) for t in study.trials),
                     "states": {s: states.count(s) for s in sorted(set(states))},
                     "hypervolume": round(hypervolume(pareto_front(done), cfg.max_macs), 4),
                     "best_f1": round(max((t.user_attrs["f1"] for t in done), default=0.0), 4)})
        print(rows[-1], flush=True)
    off, on = rows
    result = {**machine(), "command": f"python bench/search_pruning.py --n-trials {a.n_trials} --epochs {a.epochs}",
              "rows": rows, "time_saved": round(1 - on["seconds"] / off["seconds"], 3),
              "hypervolume_ratio": round(on["hypervolume"] / off["hypervolume"], 3) if off["hypervolume"] else None}
    write_json(Path(a.out) / "search_pruning.json", result)
    lines = [f"{a.n_trials} trials x {a.epochs} epochs, TPE seed {a.seed}, default space and data; {result['machine']}; "
             f"{result['date']}.", "", "| pruning | wall s | epochs trained | trials | front hypervolume | best F1 |",
             "|---|---:|---:|---|---:|---:|"]
    lines += [f"| {'on' if r['pruning'] else 'off'} | {r['seconds']:.0f} | {r['epochs_trained']} | {r['states']} | "
              f"{r['hypervolume']:.4f} | {r['best_f1']:.4f} |" for r in rows]
    lines += ["", f"Pruning saved {result['time_saved']:.0%} of the wall time; front hypervolume ratio (on/off) "
                  f"{result['hypervolume_ratio']}."]
    publish(Path(a.out) / "search_pruning.md", lines)


if __name__ == "__main__":
    run_cli(main)
