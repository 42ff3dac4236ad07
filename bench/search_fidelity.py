#!/usr/bin/env python
"""Multi-fidelity (ASHA by non-dominated rank) against the dominance pruner, at equal wall time, and how well
each search's ranking predicts the ranking after a full retrain.

    python bench/search_fidelity.py --search-budget 900 --epochs 12 --top 10 --retrain-epochs 30
    taskset -c 0 python bench/search_fidelity.py --dev --pruners dominance --seed 0 & taskset -c 1 ... --seed 1

For each pruner, the same search (space, data, seed, MACs budget) runs for ``--search-budget`` seconds. Then:

- **front quality**: every fully trained trial's own checkpoint is scored on the labelled test split (never seen
  by the search); the hypervolume of the test-F1-vs-MACs front (reference F1 = 0 at the MACs budget, as a
  fraction of the budget; higher is better) says what the search delivered in that time;
- **proxy fidelity**: each ranker's ``--top`` trials (:data:`RANKERS`: best val macro-F1, or lowest class-balanced
  val NLL) are retrained from scratch for ``--retrain-epochs`` (``--seeds``) and scored on the test split. The search's
  order ranks a trial trained further above one stopped at an earlier rung (that is what stopping it said), then by
  the ranker; Kendall τ between that order and the retrained test F1 says how much the ranking is worth (1: same
  order, 0: unrelated). A pruner that trains few trials to the end still has a top 10 this way.

With ``--revalidate N`` a third ranker joins, ``revalidated``: the ``val_f1`` top trials each trained again to the
search's full epochs on ``N`` other hold-out splits (the data's split seed + 1 … N, the trial's own settings, as
``search --revalidate`` does for the front), ranked by their mean val F1 over those splits and, if the trial was
trained to the end, its own split: a larger, repeated val for the same candidates, at N × top trials' cost.
``--rankers`` picks which rankers run (their tops' union is what is retrained).

``--dev`` chooses on dev (a ranker, a pruner): the search and every score use the dev set, the report's test split
sealed. Each ``--seed`` (the search's sampler seed) adds its own rows; run seeds side by side, one per core.

Writes bench/results/search_fidelity[_dev][_revalidated].{json,md}.
"""

import argparse
import json
import shutil
import time
from pathlib import Path
from statistics import mean

from optuna.trial import TrialState
from scipy.stats import kendalltau

from common import choose_on_dev, machine, train_row, publish
from search_pruning import hypervolume
from slimnas.cli import deprecated_alias, run_cli
from slimnas.configs import find_config
from slimnas.io import file_lock, read_yaml, write_json, write_yaml
from slimnas.search import SearchConfig, run_search
from slimnas.search.pareto import non_dominated_fronts
from slimnas.search.pruning import scores
from slimnas.search.report import pareto_front, train_hparams, trained
from slimnas.train.evaluate import checkpoint_f1


def test_front(done, run_dir: Path, data) -> list[dict]:
    """Each trained trial's (MACs, test F1 of its own search checkpoint)."""
    return [{"trial": t.number, "macs": t.user_attrs["macs"], "val_f1": t.user_attrs["f1"],
             "test_f1": checkpoint_f1(run_dir / "trials" / f"{t.number:04d}" / "best.pt", data, "test")} for t in done]


# how the search orders what it trained: further trained first (a trial stopped at a rung lost there), then by the best
# score of its curve as `search --rank-by` scores it (slimnas.search.pruning.scores): val macro-F1 or class-balanced val NLL
RANKERS = {"val_f1": "val_f1", "val_bnll": "val_nll"}  # bench name -> search --rank-by


def best_score(t, ranker: str) -> float:
    a = t.user_attrs
    return max(scores(RANKERS[ranker], a["f1_curve"], a.get("bnll_curve") or [float("inf")]))


def search_order(study, ranker: str = "val_f1") -> list:
    """Every trial the search trained at all, best first as ``ranker`` ranks them (see :data:`RANKERS`)."""
    ts = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
          if t.user_attrs.get("f1_curve") and "duplicate_of" not in t.user_attrs]
    return sorted(ts, key=lambda t: (-t.user_attrs["epochs"], -best_score(t, ranker)))


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


def split_yaml(data: str | None, split: int, out: Path) -> str:
    """``data`` (a data YAML; None: the embedded default) with its split seed moved on by ``split``."""
    cfg = read_yaml(data or find_config("synthetic", "data"))
    path = out / f"split{split}_data.yaml"
    write_yaml(path, {**cfg, "seed": int(cfg.get("seed", 0)) + split})
    return str(path)


def revalidated(study, cfg, order: list[int], data: str | None, splits: int, full: set[int]) -> dict[int, dict]:
    """Each trial of ``order`` trained again on ``splits`` other hold-out splits to the search's full epochs: trial ->
    {"f1s": its val F1 per split, "score": their mean, with its own val F1 if it was trained to the end}."""
    out, yamls = {}, {k: split_yaml(data, k, cfg.run_dir) for k in range(1, splits + 1)}  # written once
    for number in order:
        t = study.trials[number]
        f1s = [train_row(cfg.run_dir / "trials" / f"{number:04d}" / "model.yaml", yaml,
                         cfg.run_dir / "revalidate" / f"{number:04d}-split{k}", cfg.epochs, seed=cfg.seed,
                         **train_hparams(t))["val_macro_f1"] for k, yaml in yamls.items()]
        own = [max(t.user_attrs["f1_curve"])] if number in full else []
        out[number] = {"f1s": f1s, "score": round(mean(f1s + own), 5)}
        print(f"revalidated trial {number}: {f1s} (own {own}) -> {out[number]['score']:.4f}", flush=True)
    return out


def dev_yaml(out: Path) -> str:
    """The dev set (``common.choose_on_dev``: the report's test split sealed) as a data YAML the search can read."""
    dev = choose_on_dev()
    path = out / "dev_data.yaml"
    write_yaml(path, {**read_yaml(find_config("synthetic", "data")), "synthetic": dev.synthetic})
    return str(path)


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
    p.add_argument("--seed", type=int, default=0, help="the search's seed (each seed's rows replace only its own)")
    p.add_argument("--rankers", nargs="+", default=list(RANKERS), choices=[*RANKERS, "revalidated"])
    p.add_argument("--revalidate", type=int, default=0, metavar="N",
                   help="other hold-out splits the val_f1 top is trained on again for the 'revalidated' ranker")
    p.add_argument("--data", default=None)
    p.add_argument("--dev", action="store_true",
                   help="choose on dev: search and score the dev set, the report's test split sealed (section *_dev)")
    p.add_argument("--out", default="bench/results")
    deprecated_alias(p, "--budget", "--search-budget")
    a = p.parse_args()
    if ("revalidated" in a.rankers) != (a.revalidate > 0):
        raise SystemExit("search_fidelity: the 'revalidated' ranker and --revalidate N (N >= 1) go together")
    out = Path(a.out)
    data = dev_yaml(out) if a.dev else a.data
    rows = []
    for pruner in a.pruners:
        cfg = SearchConfig(space=a.space, study=f"fidelity-{pruner}{'-dev' if a.dev else ''}-s{a.seed}", out=a.out,
                           data=data, n_trials=10_000, timeout=a.search_budget, epochs=a.epochs, pruner=pruner,
                           seed=a.seed, max_macs=a.max_macs)
        shutil.rmtree(cfg.run_dir, ignore_errors=True)
        t0 = time.perf_counter()
        study = run_search(cfg)
        seconds = time.perf_counter() - t0
        done = trained(study)
        points = test_front(done, cfg.run_dir, data)
        full = {r["trial"] for r in points}
        orders = {name: [t.number for t in search_order(study, name)[:a.top]] for name in a.rankers if name in RANKERS}
        again = {}
        if a.revalidate:
            again = revalidated(study, cfg, [t.number for t in search_order(study, "val_f1")[:a.top]], data,
                                a.revalidate, full)
            orders["revalidated"] = sorted(again, key=lambda n: (-again[n]["score"], n))
        retrained = {}  # trial -> mean retrained test F1; the union of every ranker's top, each retrained once
        for number in dict.fromkeys(n for order in orders.values() for n in order):
            hparams = train_hparams(study.trials[number])
            if "batch_size" in hparams:
                raise SystemExit("search_fidelity: retraining a searched batch_size is not supported; use a space "
                                 "without train.batch_size")
            scores = [train_row(cfg.run_dir / "trials" / f"{number:04d}" / "model.yaml", data,
                                cfg.run_dir / "retrain" / f"{number:04d}-s{s}", a.retrain_epochs, seed=s, test=True,
                                **hparams)["test_macro_f1"] for s in a.seeds]
            retrained[number] = round(mean(scores), 4)
            print(f"{pruner}: trial {number} -> retrained test F1 {retrained[number]:.4f}", flush=True)
        states = [t.state.name for t in study.trials]
        row = {"pruner": pruner, "search_seed": a.seed, "seconds": round(seconds, 1),
               "states": {s: states.count(s) for s in sorted(set(states))},
               "epochs_trained": sum(t.user_attrs.get("epochs", 0) for t in study.trials),
               "val_hypervolume": round(hypervolume(pareto_front(done), a.max_macs), 4),
               "test_hypervolume": round(front_hypervolume(points, "test_f1", a.max_macs), 4),
               "best_test_f1": round(max(r["test_f1"] for r in points), 4), "rankers": {}}
        for name, order in orders.items():
            top = [{"trial": n, "macs": study.trials[n].user_attrs["macs"],
                    "search_epochs": study.trials[n].user_attrs["epochs"],
                    "val_f1": round(max(study.trials[n].user_attrs["f1_curve"]), 4),
                    "val_bnll": round(min(study.trials[n].user_attrs.get("bnll_curve") or [float("nan")]), 4),
                    "fully_trained": n in full, "retrain_test_f1": retrained[n],
                    **({"revalidated_f1s": again[n]["f1s"], "revalidated_score": again[n]["score"]} if n in again else {})}
                   for n in order]
            t, pv = tau([-i for i in range(len(top))], [r["retrain_test_f1"] for r in top])
            done_top = [i for i, r in enumerate(top) if r["fully_trained"]]
            tf, pf = tau([-i for i in done_top], [top[i]["retrain_test_f1"] for i in done_top])
            row["rankers"][name] = {"kendall_tau": t, "kendall_p": pv, "ranked": len(top), "kendall_tau_trained": tf,
                                    "kendall_p_trained": pf, "ranked_trained": len(done_top), "top": top}
        rows.append(row)
        print({k: v for k, v in row.items() if k != "rankers"},
              {k: v["kendall_tau"] for k, v in row["rankers"].items()}, flush=True)
    write_tables(out, a, rows)


def write_tables(out: Path, a, rows: list[dict]) -> None:
    """Merge this sitting's rows into the section's JSON (another search seed may be running beside it), then
    write its markdown table."""
    name = ("search_fidelity_dev" if a.dev else "search_fidelity") + ("_revalidated" if a.revalidate else "")
    command = (f"python bench/search_fidelity.py --space {a.space} --search-budget {a.search_budget:g} --epochs "
               f"{a.epochs} --top {a.top} --retrain-epochs {a.retrain_epochs} --seeds {' '.join(map(str, a.seeds))}"
               + (f" --rankers {' '.join(a.rankers)}" if a.rankers != list(RANKERS) else "")
               + (f" --revalidate {a.revalidate}" if a.revalidate else "") + (" --dev" if a.dev else ""))
    with file_lock(out / f"{name}.lock"):
        path = out / f"{name}.json"
        earlier = json.loads(path.read_text()) if path.is_file() else {}
        if earlier.get("command") == command:  # same settings: keep the other search seeds' rows
            mine = {(r["pruner"], r["search_seed"]) for r in rows}
            rows = [r for r in earlier.get("rows", []) if (r["pruner"], r.get("search_seed")) not in mine] + rows
        rows = sorted(rows, key=lambda r: (r["pruner"], r["search_seed"]))
        result = {**machine(), "command": command, "max_macs": a.max_macs, "rows": rows}
        write_json(path, result)
    split = "the dev set's test split (the report's sealed)" if a.dev else "the test split"
    lines = [f"Search of the `{a.space}` space, {a.search_budget:g} s per pruner and search seed, {a.epochs} epochs per "
             f"fully trained trial, MACs budget {a.max_macs / 1e6:g} M"
             + (f"; `revalidated`: the val_f1 top trained again on {a.revalidate} other split(s), ranked by the mean "
                f"val F1" if a.revalidate else "") + f"; each ranker's top {a.top} retrained "
             f"{a.retrain_epochs} epochs (seeds {a.seeds}) and scored on {split}; {result['machine']}; "
             f"{result['date']}. Kendall τ: the search's order (further trained first, then the ranker) against "
             f"the retrained test F1.", "",
             "| pruner | search seed | wall s | trials | epochs trained | val front HV | test front HV | best test F1 | "
             + " | ".join(f"τ (p), top by {k}" for k in a.rankers) + " |",
             "|---|---:|---:|---|---:|---:|---:|---:|" + "---:|" * len(a.rankers)]

    def cell(r):
        return "–" if r["kendall_tau"] is None else f"{r['kendall_tau']:.3f} ({r['kendall_p']:.3f}), {r['ranked']} trials"

    for r in rows:
        lines.append(f"| {r['pruner']} | {r['search_seed']} | {r['seconds']:.0f} | {r['states']} | {r['epochs_trained']} | "
                     f"{r['val_hypervolume']:.4f} | {r['test_hypervolume']:.4f} | {r['best_test_f1']:.4f} | "
                     + " | ".join(cell(r["rankers"][k]) for k in a.rankers) + " |")
    lines.append("")
    for pruner in dict.fromkeys(r["pruner"] for r in rows):
        for k in a.rankers:
            taus = [r["rankers"][k]["kendall_tau"] for r in rows if r["pruner"] == pruner]
            taus = [t for t in taus if t is not None]
            if taus:
                lines.append(f"- {pruner}, top by {k}: mean Kendall τ {mean(taus):.3f} over {len(taus)} search seeds")
    publish(out / f"{name}.md", lines)


if __name__ == "__main__":
    run_cli(main)
