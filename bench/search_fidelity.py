#!/usr/bin/env python
"""Multi-fidelity (ASHA by non-dominated rank) against the dominance pruner, at equal wall time, and how well
each search's ranking predicts the ranking after a full retrain.

    python bench/search_fidelity.py --search-budget 900 --epochs 12 --top 10 --retrain-epochs 30

For each pruner, the same search (space, data, seed, MACs budget) runs for ``--search-budget`` seconds. Then:

- **front quality**: every fully trained trial's own checkpoint is scored on the labelled test split (never seen
  by the search); the hypervolume of the test-F1-vs-MACs front (reference F1 = 0 at the MACs budget, as a
  fraction of the budget; higher is better) says what the search delivered in that time;
- **proxy fidelity**: the search's ``--top`` trials are retrained from scratch for ``--retrain-epochs``
  (``--seeds``) and scored on the test split. The search's own order ranks a trial trained further above one
  stopped at an earlier rung (that is what stopping it said), then by val F1; Kendall τ between that order and
  the retrained test F1 says how much the search's ranking is worth (1: same order, 0: unrelated). A pruner that
  trains few trials to the end still has a top 10 this way. τ among the fully trained ones alone is reported too.

Writes bench/results/search_fidelity.{json,md}.
"""

import argparse
import shutil
import time
from pathlib import Path
from statistics import mean

from optuna.trial import TrialState
from scipy.stats import kendalltau

from common import machine, train_row, publish
from search_pruning import hypervolume
from slimnas.cli import deprecated_alias, run_cli
from slimnas.io import write_json
from slimnas.search import SearchConfig, run_search
from slimnas.search.pareto import non_dominated_fronts
from slimnas.search.report import pareto_front, train_hparams, trained
from slimnas.train.evaluate import checkpoint_f1


def test_front(done, run_dir: Path, data) -> list[dict]:
    """Each trained trial's (MACs, test F1 of its own search checkpoint)."""
    return [{"trial": t.number, "macs": t.user_attrs["macs"], "val_f1": t.user_attrs["f1"],
             "test_f1": checkpoint_f1(run_dir / "trials" / f"{t.number:04d}" / "best.pt", data, "test")} for t in done]


def search_order(study) -> list:
    """Every trial the search trained at all, best first as the search ranks them: further trained first (a trial
    stopped at a rung lost there), then by val F1 (the best of its curve)."""
    ts = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
          if t.user_attrs.get("f1_curve") and "duplicate_of" not in t.user_attrs]
    return sorted(ts, key=lambda t: (-t.user_attrs["epochs"], -max(t.user_attrs["f1_curve"])))


def tau(xs: list[float], ys: list[float]) -> tuple[float | None, float | None]:
    if len(xs) < 2:
        return None, None
    t, p = kendalltau(xs, ys)
    return round(float(t), 3), round(float(p), 3)


def front_hypervolume(points: list[dict], key: str, max_macs: float) -> float:
    class P:  # the shape search_pruning.hypervolume reads
        def __init__(self, r):
            self.user_attrs = {"macs": r["macs"], "f1": r[key]}

    fronts = non_dominated_fronts([(r[key], r["macs"]) for r in points])
    return hypervolume([P(points[i]) for i in fronts[0]] if fronts else [], max_macs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--search-budget", type=float, default=900, help="search seconds per pruner")
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
    deprecated_alias(p, "--budget", "--search-budget")
    a = p.parse_args()
    rows = []
    for pruner in a.pruners:
        cfg = SearchConfig(space=a.space, study=f"fidelity-{pruner}", out=a.out, data=a.data, n_trials=10_000,
                           timeout=a.search_budget, epochs=a.epochs, pruner=pruner, seed=a.seed, max_macs=a.max_macs)
        shutil.rmtree(cfg.run_dir, ignore_errors=True)
        t0 = time.perf_counter()
        study = run_search(cfg)
        seconds = time.perf_counter() - t0
        done = trained(study)
        points = test_front(done, cfg.run_dir, a.data)
        full = {r["trial"] for r in points}
        top = [{"trial": t.number, "macs": t.user_attrs["macs"], "search_epochs": t.user_attrs["epochs"],
                "val_f1": round(max(t.user_attrs["f1_curve"]), 4), "fully_trained": t.number in full}
               for t in search_order(study)[:a.top]]
        for r in top:
            hparams = train_hparams(study.trials[r["trial"]])
            if "batch_size" in hparams:
                raise SystemExit("search_fidelity: retraining a searched batch_size is not supported; use a space "
                                 "without train.batch_size")
            scores = [train_row(cfg.run_dir / "trials" / f"{r['trial']:04d}" / "model.yaml", a.data,
                                cfg.run_dir / "retrain" / f"{r['trial']:04d}-s{s}", a.retrain_epochs, seed=s, test=True,
                                **hparams)["test_macro_f1"] for s in a.seeds]
            r["retrain_test_f1"] = round(mean(scores), 4)
            print(f"{pruner}: trial {r['trial']} search F1 {r['val_f1']:.4f} after {r['search_epochs']} epochs -> "
                  f"retrained test F1 {r['retrain_test_f1']:.4f}", flush=True)
        tau_rank, p_rank = tau([-i for i in range(len(top))], [r["retrain_test_f1"] for r in top])
        done_top = [r for r in top if r["fully_trained"]]
        tau_full, p_full = tau([r["val_f1"] for r in done_top], [r["retrain_test_f1"] for r in done_top])
        states = [t.state.name for t in study.trials]
        rows.append({"pruner": pruner, "seconds": round(seconds, 1),
                     "states": {s: states.count(s) for s in sorted(set(states))},
                     "epochs_trained": sum(t.user_attrs.get("epochs", 0) for t in study.trials),
                     "val_hypervolume": round(hypervolume(pareto_front(done), a.max_macs), 4),
                     "test_hypervolume": round(front_hypervolume(points, "test_f1", a.max_macs), 4),
                     "best_test_f1": round(max(r["test_f1"] for r in points), 4),
                     "kendall_tau": tau_rank, "kendall_p": p_rank, "ranked": len(top),
                     "kendall_tau_trained": tau_full, "kendall_p_trained": p_full, "ranked_trained": len(done_top),
                     "top": top})
        print({k: v for k, v in rows[-1].items() if k != "top"}, flush=True)
    command = (f"python bench/search_fidelity.py --space {a.space} --search-budget {a.search_budget:g} --epochs {a.epochs} --top {a.top} "
               f"--retrain-epochs {a.retrain_epochs} --seeds {' '.join(map(str, a.seeds))}")
    result = {**machine(), "command": command, "max_macs": a.max_macs, "rows": rows}
    out = Path(a.out)
    write_json(out / "search_fidelity.json", result)
    lines = [f"Search of the `{a.space}` space, {a.search_budget:g} s per pruner, {a.epochs} epochs per fully trained trial, MACs budget "
             f"{a.max_macs / 1e6:g} M, search seed {a.seed}; top {a.top} retrained {a.retrain_epochs} epochs "
             f"(seeds {a.seeds}); {result['machine']}; {result['date']}.", "",
             "| pruner | wall s | trials | epochs trained | val front HV | test front HV | best test F1 | "
             "Kendall τ (p), the search's top | Kendall τ (p), its fully trained |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|"]

    def cell(t, p, n):
        return "–" if t is None else f"{t:.3f} ({p:.3f}), {n} trials"

    for r in rows:
        lines.append(f"| {r['pruner']} | {r['seconds']:.0f} | {r['states']} | {r['epochs_trained']} | "
                     f"{r['val_hypervolume']:.4f} | {r['test_hypervolume']:.4f} | {r['best_test_f1']:.4f} | "
                     f"{cell(r['kendall_tau'], r['kendall_p'], r['ranked'])} | "
                     f"{cell(r['kendall_tau_trained'], r['kendall_p_trained'], r['ranked_trained'])} |")
    publish(out / "search_fidelity.md", lines)


if __name__ == "__main__":
    run_cli(main)
