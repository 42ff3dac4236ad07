#!/usr/bin/env python
"""Multi-fidelity (ASHA by non-dominated rank) against the dominance pruner, at equal wall time, and how well
each search's ranking predicts the ranking after a full retrain.

    python bench/search_fidelity.py --budget 900 --epochs 12 --top 10 --retrain-epochs 30

For each pruner, the same search (space, data, seed, MACs budget) runs for ``--budget`` seconds. Then:

- **front quality**: every fully trained trial's own checkpoint is scored on the labelled test split (never seen
  by the search); the hypervolume of the test-F1-vs-MACs front (reference F1 = 0 at the MACs budget, as a
  fraction of the budget; higher is better) says what the search delivered in that time;
- **proxy fidelity**: the ``--top`` trials by in-search val F1 are retrained from scratch for
  ``--retrain-epochs`` (``--seeds``) and scored on the test split; Kendall τ between the in-search F1 and the
  retrained test F1 says how much the search's ranking is worth (1: same order, 0: unrelated).

Writes bench/results/search_fidelity.{json,md}.
"""

import argparse
import shutil
import time
from pathlib import Path
from statistics import mean

from scipy.stats import kendalltau

from common import machine, train_row
from search_pruning import hypervolume
from slimnas.cli import run_cli
from slimnas.io import write_json, write_text
from slimnas.search import SearchConfig, run_search
from slimnas.search.report import pareto_front, train_hparams, trained
from slimnas.train.evaluate import checkpoint_f1


def test_front(done, run_dir: Path, data) -> list[dict]:
    """Each trained trial's (MACs, test F1 of its own search checkpoint)."""
    return [{"trial": t.number, "macs": t.user_attrs["macs"], "val_f1": t.user_attrs["f1"],
             "test_f1": checkpoint_f1(run_dir / "trials" / f"{t.number:04d}" / "best.pt", data, "test")} for t in done]


def front_hypervolume(points: list[dict], key: str, max_macs: float) -> float:
    class P:  # the shape search_pruning.hypervolume reads
        def __init__(self, r):
            self.user_attrs = {"macs": r["macs"], "f1": r[key]}

    front = [P(r) for r in points if not any(o["macs"] <= r["macs"] and o[key] >= r[key] and o is not r
                                             and (o["macs"] < r["macs"] or o[key] > r[key]) for o in points)]
    return hypervolume(front, max_macs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=float, default=900, help="search seconds per pruner")
    p.add_argument("--epochs", type=int, default=12, help="epochs of a fully trained search trial")
    p.add_argument("--pruners", nargs="+", default=["dominance", "asha"])
    p.add_argument("--space", default="tiny", help="search space (the one made for ~4 M MACs)")
    p.add_argument("--max-macs", type=float, default=4e6)
    p.add_argument("--top", type=int, default=10, help="trials retrained for the proxy-fidelity check")
    p.add_argument("--retrain-epochs", type=int, default=30)
    p.add_argument("--seeds", type=int, nargs="+", default=[1])
    p.add_argument("--seed", type=int, default=0, help="the search's seed")
    p.add_argument("--data", default=None)
    p.add_argument("--out", default="bench/results")
    a = p.parse_args()
    rows = []
    for pruner in a.pruners:
        cfg = SearchConfig(space=a.space, study=f"fidelity-{pruner}", out=a.out, data=a.data, n_trials=10_000,
                           timeout=a.budget, epochs=a.epochs, pruner=pruner, seed=a.seed, max_macs=a.max_macs)
        shutil.rmtree(cfg.run_dir, ignore_errors=True)
        t0 = time.perf_counter()
        study = run_search(cfg)
        seconds = time.perf_counter() - t0
        done = trained(study)
        points = test_front(done, cfg.run_dir, a.data)
        top = sorted(points, key=lambda r: -r["val_f1"])[:a.top]
        for r in top:
            hparams = train_hparams(study.trials[r["trial"]])
            if "batch_size" in hparams:
                raise SystemExit("search_fidelity: retraining a searched batch_size is not supported; use a space "
                                 "without train.batch_size")
            scores = [train_row(cfg.run_dir / "trials" / f"{r['trial']:04d}" / "model.yaml", a.data,
                                cfg.run_dir / "retrain" / f"{r['trial']:04d}-s{s}", a.retrain_epochs, seed=s, test=True,
                                **hparams)["test_macro_f1"] for s in a.seeds]
            r["retrain_test_f1"] = round(mean(scores), 4)
            print(f"{pruner}: trial {r['trial']} search F1 {r['val_f1']:.4f} -> retrained test F1 "
                  f"{r['retrain_test_f1']:.4f}", flush=True)
        tau, pval = kendalltau([r["val_f1"] for r in top], [r["retrain_test_f1"] for r in top]) if len(top) > 1 else (None, None)
        states = [t.state.name for t in study.trials]
        rows.append({"pruner": pruner, "seconds": round(seconds, 1),
                     "states": {s: states.count(s) for s in sorted(set(states))},
                     "epochs_trained": sum(t.user_attrs.get("epochs", 0) for t in study.trials),
                     "val_hypervolume": round(hypervolume(pareto_front(done), a.max_macs), 4),
                     "test_hypervolume": round(front_hypervolume(points, "test_f1", a.max_macs), 4),
                     "best_test_f1": round(max(r["test_f1"] for r in points), 4),
                     "kendall_tau": None if tau is None else round(float(tau), 3),
                     "kendall_p": None if pval is None else round(float(pval), 3),
                     "top": top})
        print({k: v for k, v in rows[-1].items() if k != "top"}, flush=True)
    command = (f"python bench/search_fidelity.py --space {a.space} --budget {a.budget:g} --epochs {a.epochs} --top {a.top} "
               f"--retrain-epochs {a.retrain_epochs} --seeds {' '.join(map(str, a.seeds))}")
    result = {**machine(), "command": command, "max_macs": a.max_macs, "rows": rows}
    out = Path(a.out)
    write_json(out / "search_fidelity.json", result)
    lines = [f"Search of the `{a.space}` space, {a.budget:g} s per pruner, {a.epochs} epochs per fully trained trial, MACs budget "
             f"{a.max_macs / 1e6:g} M, search seed {a.seed}; top {a.top} retrained {a.retrain_epochs} epochs "
             f"(seeds {a.seeds}); {result['machine']}; {result['date']}.", "",
             "| pruner | wall s | trials | epochs trained | val front HV | test front HV | best test F1 | Kendall τ (p) |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        tau = "–" if r["kendall_tau"] is None else f"{r['kendall_tau']:.3f} ({r['kendall_p']:.3f})"
        lines.append(f"| {r['pruner']} | {r['seconds']:.0f} | {r['states']} | {r['epochs_trained']} | "
                     f"{r['val_hypervolume']:.4f} | {r['test_hypervolume']:.4f} | {r['best_test_f1']:.4f} | {tau} |")
    write_text(out / "search_fidelity.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    run_cli(main)
