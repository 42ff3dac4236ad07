#!/usr/bin/env python
"""Is the space's start point a dev choice? It against random candidates of the same space, fully trained on dev.

    taskset -c 0 python bench/start_point.py --seeds 0 --sitting S & taskset -c 1 python bench/start_point.py --seeds 1 --sitting S

The ``tiny`` space's ``start:`` point is what a new study trains first and what a short road most often ships. It was
put there after a look at the synthetic *test* split, before the choose-on-dev protocol (issue 26). Here it meets
``--candidates`` architectures drawn uniformly at random from the same space (Optuna's RandomSampler at
``--draw-seed``; only those within ``--max-macs``, counted as the search's gate counts them), each with the lr it drew,
every one trained as the demo's retrain trains the pick: ``--seconds`` of this machine, refit on train + val
(``--final-fit``, chosen on dev), once per training seed. The data is the dev set (the synthetic task drawn at another
seed; ``common.choose_on_dev`` seals the report's test split); its test split scores.

Two answers: (1) the start point stays a dev choice unless a candidate's mean beats it by more than the pooled sd of
the two rows; (2) how much architecture matters at all at this budget: the sd of the candidates' means against the
seed-to-seed sd within a candidate. When the first is not larger than the second, no search that ranks by one short
training can order these candidates (issue 26's Kendall τ), whatever its proxy.

Processes started on separate cores with the same ``--sitting`` (each its own ``--seeds``) are one sitting: their runs
merge under a lock. Writes bench/results/start_point.{json,md}.
"""

import argparse
import statistics
from datetime import datetime, timezone
from pathlib import Path

import optuna

from common import add_run, choose_on_dev, machine, publish, start_point, train_row
from slimnas.cli import run_cli
from slimnas.configs import find_config
from slimnas.io import write_json
from slimnas.search.objective import gate_count
from slimnas.search.space import load_search_space

START = "the space's start point"


def contenders(space: str, n: int, seed: int, max_macs: float, num_classes: int) -> dict[str, tuple]:
    """name -> (model config, hparams, MACs): the start point, then ``n`` random candidates within ``max_macs``."""
    loaded = load_search_space(find_config(space, "search"))
    model, hparams = start_point(space)
    out = {START: (model, hparams, gate_count(model, num_classes)[1].macs)}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    for _ in range(50 * n):
        if len(out) > n:
            break
        trial = study.ask()
        cfg, hp = loaded.sample(trial)
        macs = gate_count(cfg, num_classes)[1].macs
        if macs <= max_macs:
            out[f"random draw {trial.number}"] = (cfg, hp, macs)
    return out


def add_draw_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of the draw of contenders and of the sitting, shared with bench/start_margin.py."""
    p.add_argument("--space", default="tiny")
    p.add_argument("--candidates", type=int, default=6, help="random candidates beside the start point")
    p.add_argument("--draw-seed", type=int, default=0, help="the RandomSampler's seed that draws the candidates")
    p.add_argument("--max-macs", type=float, default=4e6, help="the demo's MACs budget")
    p.add_argument("--sitting", default=None, help="the sitting's name (default: now); see the module's doc")
    p.add_argument("--out", default="bench/results")


def drawn(a, dev) -> tuple[dict, str]:
    """(the contenders of ``a``'s draw, the sitting's name): the setup this bench and bench/start_margin.py share."""
    from slimnas.data.config import list_data

    todo = contenders(a.space, a.candidates, a.draw_seed, a.max_macs, len(list_data(dev).classes))
    return todo, a.sitting or datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def pooled(a: list[float], b: list[float]) -> float:
    return ((statistics.variance(a) + statistics.variance(b)) / 2) ** 0.5


def summarise(runs: list[dict]) -> dict:
    """Per sitting: each contender's row, the start point's verdict and architecture's signal against seed noise."""
    by: dict = {}
    for r in runs:
        by.setdefault(r["sitting"], {}).setdefault(r["name"], []).append(r)
    sittings = []
    for sitting, rows in sorted(by.items()):
        table = []
        for name, rs in rows.items():
            f1 = [r["dev_test_f1"] for r in sorted(rs, key=lambda r: r["seed"])]
            table.append({"name": name, "macs": rs[0]["macs"], "lr": rs[0]["lr"], "seeds": sorted(r["seed"] for r in rs),
                          "dev_test_f1": f1, "epochs": [r["epochs"] for r in rs], "mean": round(statistics.mean(f1), 4),
                          "sd": round(statistics.stdev(f1), 4) if len(f1) > 1 else 0.0})
        table.sort(key=lambda r: -r["mean"])
        full = [r for r in table if len(r["dev_test_f1"]) > 1]
        summary = {"sitting": sitting, "budget_s": rs[0]["budget_s"], "rows": table}
        start = next((r for r in full if r["name"] == START), None)
        if start and len(full) > 2:
            beaten = [r["name"] for r in full if r["mean"] - start["mean"] > pooled(start["dev_test_f1"], r["dev_test_f1"])]
            summary["start_rank"] = 1 + [r["name"] for r in full].index(START)
            summary["start_beaten_by"] = beaten
            summary["verdict"] = (f"dev replaces the start point ({', '.join(beaten)} beat it by more than the pooled sd)"
                                  if beaten else "dev keeps the start point (no candidate beats it by more than the "
                                                 "pooled sd)")
            summary["between_candidates_sd"] = round(statistics.stdev(r["mean"] for r in full), 4)
            summary["within_candidate_sd"] = round(statistics.mean(r["sd"] ** 2 for r in full) ** 0.5, 4)
        sittings.append(summary)
    return {**machine(), "runs": runs, "sittings": sittings,
            "command": "python bench/start_point.py --seeds 0 --sitting S & python bench/start_point.py --seeds 1 --sitting S"}


def write_tables(out: Path, runs: list[dict]) -> None:
    result = summarise(runs)
    lines = [f"The `tiny` space's start point against random candidates of the space (within the MACs budget, each with "
             f"its drawn lr), each trained S seconds and refit on train + val on the dev set (the README's test split "
             f"sealed); {result['machine']}.", ""]
    for s in result["sittings"]:
        lines += [f"Sitting {s['sitting']}, S = {s['budget_s']:g} s. {s.get('verdict', '')}", "",
                  "| contender | MACs | lr | dev test macro-F1 per seed | mean ± sd | epochs |", "|---|---:|---:|---|---:|---|"]
        lines += [f"| {r['name']} | {r['macs'] / 1e6:.2f} M | {r['lr']:.4g} | {', '.join(f'{v:.4f}' for v in r['dev_test_f1'])} "
                  f"| {r['mean']:.4f} ± {r['sd']:.4f} | {', '.join(map(str, r['epochs']))} |" for r in s["rows"]]
        if "between_candidates_sd" in s:
            lines += ["", f"Architecture against seed noise: sd of the contenders' means {s['between_candidates_sd']:.4f}, "
                          f"seed-to-seed sd within a contender {s['within_candidate_sd']:.4f}; the start point ranks "
                          f"{s['start_rank']} of {sum(len(r['dev_test_f1']) > 1 for r in s['rows'])}.", ""]
    write_json(out / "start_point.json", result)
    publish(out / "start_point.md", lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_draw_arguments(p)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--seconds", type=float, default=240, help="training wall clock of every run")
    a = p.parse_args()
    dev, out = choose_on_dev(), Path(a.out)  # the report's test split sealed
    todo, sitting = drawn(a, dev)
    for seed in a.seeds:
        for name, (model, hparams, macs) in todo.items():
            hp = {k: v for k, v in hparams.items() if k != "batch_size"}
            row = train_row(model, dev, out / "start_point" / name.replace(" ", "_").replace("'", "") / f"seed{seed}",
                            1000, seed, test=True, time_budget=a.seconds, final_fit=True, **hp)
            run = {"sitting": sitting, "budget_s": a.seconds, "name": name, "seed": seed, "macs": macs,
                   "lr": hp.get("lr", float("nan")), "dev_test_f1": row["test_macro_f1"], "epochs": row["epochs"],
                   "seconds": row["train_seconds"]}
            print(run, flush=True)
            add_run(out, "start_point", run, ("sitting", "name", "seed"), write_tables)  # an interrupted bench keeps them


if __name__ == "__main__":
    run_cli(main)
