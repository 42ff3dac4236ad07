#!/usr/bin/env python
"""The model the road trains, pruned for a measured latency or a MACs target, fine-tuned with distillation, scored
and timed.

    python bench/prune_accuracy.py                                  # train the tiny space's start point 300 s
    python bench/prune_accuracy.py --weight runs/train/x/best.pt --targets 0.6 0.5 --macs-targets 0.4 --seeds 0 1
    python bench/prune_accuracy.py --weight runs/train/x/best.pt --targets 0.62 --also-at 1x1 1x32 2x32
    python bench/prune_accuracy.py --dev --ft-lr 1e-3 3e-3 --kd-alpha 0.5 0.9 --name prune_recipe_dev   # recipes, on dev

Trains the ``tiny`` space's start point on the synthetic default data (``--train-seconds``, its own lr), or
takes ``--weight``; prunes it with ``slimnas prune --target-latency T`` for each latency target, measured where
the user deploys (``--ort-threads``, default ONNX Runtime's own; ``--batch``, default 1; ``--also-at``: more
threads×batch settings the target must hold at), and with ``--target-macs
M --macs-convention pytorch`` for each MACs target (the competition's score; one fraction for all groups, and
``--per-group``), grouped convs with a channel
multiplier widened to depthwise where the rule finds that better; fine-tunes each pruned model ``--ft-seconds``
with distillation from the trained one, once per seed (the seed orders batches and draws augmentations). Every
model is exported as it ships, scored on the val split (which chose its epoch) and on the labelled test split
(read only here, to report), and timed at 1 and 2 ONNX Runtime threads × batch 1 and 32, all models interleaved
per setting.
Writes bench/results/prune_accuracy.{json,md} (``--name``: another name, e.g. for a run with ``--also-at``).

``--dev``: everything on the dev set (the synthetic task drawn at another generator seed; the report's test split
sealed), for choosing the fine-tuning recipe (``--ft-lr``, ``--kd-alpha``, ``--kd-temperature``) by its dev test F1:
several values of ``--ft-lr`` / ``--kd-alpha`` fine-tune the *same* pruned model with each pair (the pruning's pick
moves with the timer's noise between runs, so recipes are compared on one).
"""

import argparse
import itertools
import statistics
from pathlib import Path

from common import choose_on_dev, machine, publish, start_point, timing_settings
from slimnas.checkpoint import model_from_checkpoint
from slimnas.cli import run_cli
from slimnas.data.config import load_data_config
from slimnas.export.compare import compare
from slimnas.io import write_json
from slimnas.macs import count_macs
from slimnas.latency.measure import DeployTarget, add_deploy_arguments, deploy_target, onnx_latencies, setting
from slimnas.prune import prune_checkpoint
from slimnas.runtime import make_session, read_metadata
from slimnas.search.score import competition_score
from slimnas.train import TrainConfig, train
from slimnas.train.finetune import FINETUNE_LR, finetune

SETTINGS = [(1, 1), (1, 32), (2, 1), (2, 32)]  # (ORT threads, batch); 2 = ORT's default here (one per core)


def pytorch_macs(checkpoint: Path) -> int:
    """MACs as the competition counts them (ptflops' module hooks)."""
    model, ckpt = model_from_checkpoint(checkpoint)
    return count_macs(model, int(ckpt["preprocessing"]["input_size"]), convention="pytorch").macs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weight", default=None, help="a trained checkpoint (default: train the tiny start point)")
    p.add_argument("--train-seconds", type=float, default=300)
    p.add_argument("--targets", nargs="*", type=float, default=[0.6], help="latency targets (fraction of the time)")
    p.add_argument("--macs-targets", nargs="*", type=float, default=[0.5],
                   help="MACs targets (fraction of the MACs, pytorch convention: the competition's score)")
    p.add_argument("--per-group", action=argparse.BooleanOptionalAction, default=True,
                   help="each MACs target with --per-group too (default: both rules)")
    p.add_argument("--ft-seconds", type=float, default=150)
    p.add_argument("--ft-lr", type=float, nargs="+", default=[FINETUNE_LR],
                   help="fine-tuning lr (finetune --lr); several: each pruned model fine-tuned with each")
    p.add_argument("--kd-alpha", type=float, nargs="+", default=[0.5],
                   help="weight of the distillation term (finetune --kd-alpha); several: a grid with --ft-lr")
    p.add_argument("--kd-temperature", type=float, default=4.0, help="finetune --kd-temperature")
    p.add_argument("--criterion", nargs="+", choices=["magnitude", "bn"], default=["magnitude"],
                   help="prune --criterion; several: each prunes the trained model, to compare them (on --dev)")
    p.add_argument("--dev", action="store_true", help="train, prune, fine-tune and score on the dev set, test sealed")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--out", default="bench/results")
    p.add_argument("--name", default="prune_accuracy", help="results file name (<out>/<name>.json, .md)")
    p.add_argument("--divergence", action="store_true",
                   help="cost per-group cuts by the divergence of the model's answers on training images (prune --data)")
    add_deploy_arguments(p, "the latency target")
    p.add_argument("--also-at", nargs="*", type=setting, default=[], metavar="THREADSxBATCH",
                   help="more settings the latency target must hold at (prune --also-at)")
    a = p.parse_args()
    settings = timing_settings(SETTINGS)  # said now, not after the training
    deploy = deploy_target(p, a)
    work = Path(a.out) / a.name
    data = choose_on_dev() if a.dev else load_data_config(None)
    if a.weight:
        weight = Path(a.weight)
    else:
        cfg, hp = start_point("tiny")
        trained = train(cfg, data, work / "train", TrainConfig(epochs=400, time_budget=a.train_seconds, progress=False,
                                                               **hp), verbose=False)
        weight = trained.out / "best.pt"
    models, pruned = {"trained": weight}, {}
    judge = {"data": data} if a.divergence else {}
    rules = [("latency", t, {"target_latency": t, "also_at": a.also_at, **judge}) for t in a.targets] + \
            [(kind, t, {"target_macs": t, "macs_convention": "pytorch", "per_group": kind != "MACs", **judge})
             for t in a.macs_targets for kind in ("MACs", "MACs-per-group")[:2 if a.per_group else 1]]
    recipes = [(lr, alpha) for lr in a.ft_lr for alpha in a.kd_alpha]
    for (kind, target, rule), criterion in itertools.product(rules, a.criterion):
        by = f", {criterion}" if len(a.criterion) > 1 else ""
        rule_name, folder = f"{kind} {target:g}{by}", f"{kind}{by.replace(', ', '_')}_{target:g}"
        r = prune_checkpoint(weight, work / f"prune_{folder}", runtime=deploy, criterion=criterion, verbose=False,
                             **rule)
        info = {"rule": kind, "criterion": criterion, "target": target, "ratio": r.ratio, "widened": r.widened,
                "macs_fraction": round(r.macs_after / r.macs_before, 4),
                "macs_pytorch_fraction": round(pytorch_macs(r.checkpoint) / pytorch_macs(weight), 4)}
        models[f"pruned {rule_name}, no fine-tuning"] = r.checkpoint
        for lr, alpha in recipes:
            recipe = f"lr {lr:g} alpha {alpha:g}" if len(recipes) > 1 else ""
            name = f"{rule_name}, {recipe}" if recipe else rule_name
            pruned[name] = {**info, "ft_lr": lr, "kd_alpha": alpha, "recipe": recipe}
            for seed in a.seeds:
                tag = f"_lr{lr:g}_a{alpha:g}" if recipe else ""
                ft = finetune(r.checkpoint, work / f"ft_{folder}{tag}_s{seed}", data,
                              TrainConfig(epochs=400, time_budget=a.ft_seconds, lr=lr, warmup_epochs=0, seed=seed,
                                          progress=False), teacher=weight, alpha=alpha,
                              temperature=a.kd_temperature, verbose=False)
                models[f"pruned {name}, fine-tuned seed {seed}"] = ft["checkpoint"]
            print(name, pruned[name], flush=True)
    rows = compare(models, data, work / "onnx")
    sizes = {r["model"]: int(read_metadata(make_session(r["onnx"]))["input_size"]) for r in rows}
    for threads, batch in settings:
        t = onnx_latencies({r["model"]: r["onnx"] for r in rows}, sizes, DeployTarget(threads, batch), max_rounds=30)
        for r in rows:
            r[f"ms_t{threads}_b{batch}"] = round(t[r["model"]].ms, 4)
            r[f"speedup_t{threads}_b{batch}"] = round(t["trained"].ms / t[r["model"]].ms, 3)
    summary, source_macs = [], pytorch_macs(weight)
    for name, p in pruned.items():
        tuned = [r for r in rows if r["model"].startswith(f"pruned {name}, fine-tuned")]
        test = [r["test_f1"] for r in tuned]
        summary.append({**p, "test_f1_mean": round(statistics.mean(test), 4),
                        "test_f1_sd": round(statistics.stdev(test), 4) if len(test) > 1 else 0.0,
                        "test_f1_change_pt": round(100 * (statistics.mean(test) - rows[0]["test_f1"]), 2),
                        # the competition's score (lower is better) of the trained model and of the mean pruned one
                        "score_before": round(competition_score(source_macs, rows[0]["test_f1"]), 4),
                        "score_after": round(competition_score(p["macs_pytorch_fraction"] * source_macs,
                                                               statistics.mean(test)), 4),
                        **{f"speedup_t{t}_b{b}": round(statistics.median(r[f"speedup_t{t}_b{b}"] for r in tuned), 3)
                           for t, b in settings}})
    meta = {**machine(), "weight": str(weight), "pruned_for": [deploy.describe(), *(r.describe() for r in a.also_at)],
            "train_seconds": None if a.weight else a.train_seconds,
            "ft_seconds": a.ft_seconds, "seeds": a.seeds, "summary": summary, "dev": a.dev,
            "recipes": {"lr": a.ft_lr, "kd_alpha": a.kd_alpha, "kd_temperature": a.kd_temperature},
            "command": f"python bench/prune_accuracy.py --targets {' '.join(map(str, a.targets))} --macs-targets "
                       f"{' '.join(map(str, a.macs_targets))} --ft-seconds "
                       f"{a.ft_seconds:g} --seeds {' '.join(map(str, a.seeds))} --ort-threads {deploy.threads} "
                       f"--batch {deploy.batch} --name {a.name}" + " --no-per-group" * (not a.per_group) +
                       " --divergence" * a.divergence + " --dev" * a.dev + f" --ft-lr {' '.join(f'{v:g}' for v in a.ft_lr)}"
                       f" --kd-alpha {' '.join(f'{v:g}' for v in a.kd_alpha)} --kd-temperature {a.kd_temperature:g}"
                       + f" --criterion {' '.join(a.criterion)}" * (a.criterion != ["magnitude"])
                       + " --also-at" * bool(a.also_at) +
                       "".join(f" {r.threads}x{r.batch}" for r in a.also_at)}
    write_json(Path(a.out) / f"{a.name}.json", {**meta, "rows": rows})
    cols = " | ".join(f"{t} thr b{b}" for t, b in settings)
    lines = [f"Trained model ({weight}) pruned for a latency target measured on {'; '.join(meta['pruned_for'])}, fine-tuned "
             f"{a.ft_seconds:g} s with distillation (T {a.kd_temperature:g}; lr {', '.join(f'{v:g}' for v in a.ft_lr)}; "
             f"alpha {', '.join(f'{v:g}' for v in a.kd_alpha)}) per "
             f"seed{'; all on the dev set (test column: dev test)' if a.dev else ''}; ONNX, ORT CPU, speed-ups against the trained model timed "
             f"interleaved; {meta['machine']}; {meta['date']}.", "",
             f"| model | val macro-F1 | test macro-F1 | MACs | {cols} |", "|---|---:|---:|---:|" + "---:|" * len(settings)]
    lines += [f"| {r['model']} | {r['val_f1']:.4f} | {r['test_f1']:.4f} | {r['macs'] / 1e6:.2f} M | " +
              " | ".join(f"{r[f'speedup_t{t}_b{b}']:.2f}×" for t, b in settings) + " |" for r in rows]
    lines += ["", "| target | ratio | widened | MACs kept (pytorch) | test macro-F1 (mean ± sd) | change (pt) | "
                  "competition score | " + cols + " |", "|---:|---:|:-:|---:|---:|---:|---:|" + "---:|" * len(settings)]
    lines += [f"| {s['rule']} {s['target']:g}{', ' + s['criterion'] if len(a.criterion) > 1 else ''}"
              f"{', ' + s['recipe'] if s['recipe'] else ''} | {s['ratio']:.3g} | {'yes' if s['widened'] else 'no'} | "
              f"{s['macs_pytorch_fraction']:.0%} | {s['test_f1_mean']:.4f} ± {s['test_f1_sd']:.4f} | "
              f"{s['test_f1_change_pt']:+.2f} | {s['score_before']:.4f} → {s['score_after']:.4f} | " +
              " | ".join(f"{s[f'speedup_t{t}_b{b}']:.2f}×" for t, b in settings) + " |" for s in summary]
    publish(Path(a.out) / f"{a.name}.md", lines)


if __name__ == "__main__":
    run_cli(main)
