#!/usr/bin/env python
"""Training speed in PyTorch's two memory layouts: NCHW (``contiguous``) against NHWC (``channels_last``).

    python bench/train_layout.py                  # 1 thread and one per core, the shipped model YAMLs + tiny draws
    python bench/train_layout.py --threads 1 --draws 8

One training step (forward, backward, AdamW) at batch 32 on the data YAML's image size, for each model, thread
count and layout, timed interleaved (``slimnas.latency.measure.interleaved``: every candidate sees the
machine's load alike) on random images; the ratio is NCHW ms / NHWC ms, measured side by side. The models:
the ``tiny`` space's start point and ``--draws`` random candidates of it (what the search trains), and the
packaged model YAMLs (the baselines). ``train`` times the two layouts itself on every run
(``TrainConfig.layout = "auto"``), so this bench says how much the choice is worth, not what is chosen.
Writes bench/results/train_layout.{json,md}.
"""

import argparse
import statistics
from pathlib import Path

import optuna
import torch
import torch.nn as nn

from common import machine, publish
from slimnas.cli import run_cli
from slimnas.configs import find_config, packaged
from slimnas.io import write_json
from slimnas.latency.measure import interleaved
from slimnas.model import build_model, load_model_config
from slimnas.search.space import load_search_space
from slimnas.train.threads import LAYOUTS, available_cores


def candidates(draws: int, seed: int = 0) -> list[tuple[str, object]]:
    """(name, model config): the tiny space's start point, ``draws`` random candidates, the packaged YAMLs."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = load_search_space(find_config("tiny", "search"))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    study.enqueue_trial(space.start[0])
    models = [(f"tiny trial {i}" + (" (start point)" if i == 0 else ""), space.sample(study.ask())[0])
              for i in range(draws + 1)]
    return models + [(name, load_model_config(path)) for name, path in packaged("model").items()]


def step_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    opt = torch.optim.AdamW(model.parameters(), 1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--draws", type=int, default=4, help="random candidates of the tiny space besides its start point")
    p.add_argument("--threads", type=int, nargs="+", default=sorted({1, available_cores()}))
    p.add_argument("--size", type=int, default=96, help="image size (the data YAMLs': 96)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--out", default="bench/results")
    a = p.parse_args()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(a.batch, 3, a.size, a.size, generator=g)
    y = torch.randint(0, 88, (a.batch,), generator=g)
    rows = []
    for name, cfg in candidates(a.draws):
        fns = {}
        for layout, fmt in LAYOUTS.items():
            model = build_model(cfg, num_classes=88).train().to(memory_format=fmt)
            fns[layout] = step_fn(model, x.contiguous(memory_format=fmt), y)
        for n in a.threads:
            torch.set_num_threads(n)
            ms = {k: t.ms for k, t in interleaved(fns, max_rounds=15).items()}
            rows.append({"model": name, "threads": n, "ms_contiguous": round(ms["contiguous"], 1),
                         "ms_channels_last": round(ms["channels_last"], 1),
                         "speedup": round(ms["contiguous"] / ms["channels_last"], 2)})
            print(rows[-1], flush=True)
    ratios = {n: [r["speedup"] for r in rows if r["threads"] == n] for n in a.threads}
    summary = {str(n): {"median_speedup": statistics.median(v), "min": min(v), "max": max(v)} for n, v in ratios.items()}
    result = {**machine(), "command": f"python bench/train_layout.py --draws {a.draws}", "batch": a.batch,
              "size": a.size, "rows": rows, "summary": summary}
    write_json(Path(a.out) / "train_layout.json", result)
    lines = [f"One training step (forward, backward, AdamW), batch {a.batch}, {a.size} px, median of 5-15 interleaved rounds; "
             f"{result['machine']}; {result['date']}.", "",
             "| model | threads | NCHW ms | NHWC (channels_last) ms | speed-up |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['threads']} | {r['ms_contiguous']:.1f} | {r['ms_channels_last']:.1f} | "
              f"{r['speedup']:.2f}× |" for r in rows]
    lines += ["", "; ".join(f"{n} thread{'s' * (int(n) > 1)}: median speed-up {s['median_speedup']:.2f}× "
                            f"({s['min']:.2f}–{s['max']:.2f}×)" for n, s in summary.items()) + "."]
    publish(Path(a.out) / "train_layout.md", lines)


if __name__ == "__main__":
    run_cli(main)
