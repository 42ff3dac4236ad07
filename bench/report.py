#!/usr/bin/env python
"""Collect every bench's JSON and markdown table into bench/results.json and bench/RESULTS.md.

    python bench/report.py        # after the benches have run (bench/run_all runs them and then this)

Each section keeps the machine, the date and the command of its own run; bench/history.md, the dated
notebook of earlier measurements, follows them. The search-front plot is
copied beside RESULTS.md (bench/search_front.png) so that RESULTS.md and the README can show it.
"""

import argparse
import json
import re
import shutil
from pathlib import Path

from common import machine
from slimnas.cli import run_cli
from slimnas.errors import ConfigError
from slimnas.io import write_json, write_text

RUN_ALL = Path(__file__).with_name("run_all")
HISTORY = Path(__file__).with_name("history.md")  # the dated lab notebook of earlier measurements, kept by hand

SECTIONS = {  # bench name -> title, in reading order
    "road_goal_1800s": "The F1 goal: the searched model against hand-designed ones, 30 minutes each",
    "road_goal_1800s_final_fit": "The F1 goal at 30 minutes each, every model refit on train + val",
    "road_goal_600s": "The F1 goal at 10 minutes each",
    "road_goal_600s_photo": "The second dataset (real photographs, painted defects, 31 labels), 10 minutes each",
    "road_goal_600s_final_fit_photo": "The second dataset, 10 minutes each, every retrain refit on train + val (as the demo)",
    "error_kinds": "Where the errors are: the 30-minute checkpoints by kind of error",
    "search_front": "Architecture search: the Pareto front against timm and the baseline",
    "search_pruning": "What early stopping saves in the search",
    "search_fidelity": "Multi-fidelity (ASHA) vs the dominance pruner, and how well the search ranks",
    "search_fidelity_dev": "How well the search ranks, on dev: by val macro-F1 or by class-balanced val NLL",
    "search_fidelity_dev_revalidated": "How well the search ranks, on dev: its val macro-F1 top trained again on another split",
    "dev_defaults": "Choose on dev: today's defaults, one change at a time, on the dev set",
    "start_point": "Choose on dev: the tiny space's start point against random candidates of the space",
    "start_margin": "Choose on dev: how far a trial must beat the start point's val macro-F1 (search --start-margin)",
    "train_recipe": "The training recipe, one change at a time",
    "train_layout": "Training speed: PyTorch's NCHW against NHWC (channels_last)",
    "train_baselines": "Baselines, 30 epochs",
    "decompose_table": "Decomposition without fine-tuning",
    "deploy_latency": "Fine-tuned, exported, timed: torch eager vs ONNX Runtime FP32 / INT8",
    "synthetic_generation": "Synthetic data generation: one process vs one per core",
    "latency_model": "Latency table: predicted vs measured ONNX Runtime latency",
    "latency_model_tiny_t1": "Latency table on the tiny space the road searches, 1 thread",
    "latency_model_tiny_t2": "Latency table on the tiny space the road searches, 2 threads (ONNX Runtime's default here)",
    "latency_model_default_t2": "Latency table on the default space, 2 threads (ONNX Runtime's default here)",
    "latency_model_candidates_tiny_t1": "Latency table on the compression step's candidates of the tiny start point, 1 thread",
    "latency_model_candidates_tiny_t2": "The same candidates, 2 threads (ONNX Runtime's default here)",
    "resnet_decompose": "Decomposition where it pays: timm resnet18 at 224 px",
    "decompose_accuracy": "A trained k×k model decomposed for latency and for MACs, fine-tuned",
    "prune_latency": "Channel pruning on the nets the road makes: speed-up by ratio and channel rounding",
    "global_pooling": "Spatial means exported as GlobalAveragePool against ReduceMean",
    "prune_accuracy": "The road's trained model pruned for a measured latency target, fine-tuned",
    "prune_accuracy_all_settings": "The same, the latency target held at 1 and 2 threads × batch 1 and 32",
    "prune_accuracy_divergence": "The same at all four settings, each cut costed by the KL divergence it causes",
    "prune_accuracy_ft300": "At all four settings and competition mode, fine-tuned 300 s instead of 150 s",
    "prune_accuracy_ft600": "At all four settings, fine-tuned 600 s",
    "prune_accuracy_competition": "Competition mode: half the MACs (pytorch convention), fine-tuned 300 s at the default lr",
    "prune_accuracy_competition_ft600": "Competition mode, fine-tuned 600 s",
    "prune_accuracy_competition_ft1200": "Competition mode, fine-tuned 1,200 s",
    "prune_recipe_dev": "Choose on dev: the fine-tuning recipe of a pruned model (lr, distillation weight)",
    "decompose_recipe_dev": "Choose on dev: the fine-tuning lr of a decomposed model",
    "prune_criterion_dev": "Choose on dev: the pruning criterion (weight magnitude or BatchNorm scale)",
    "int8": "INT8 where it wins and where it cannot: a trained k×k model and the road's depthwise net",
    "int8_road": "INT8 on the road's trained nets (depthwise and 1×1), the slow kinds kept float",
}


def earlier_sections(path: Path) -> dict[str, str]:
    """``## title`` -> body of an earlier RESULTS.md."""
    if not path.is_file():
        return {}
    text = path.read_text().split("\n## History: ")[0]  # the history is re-read from bench/history.md
    parts = text.split("\n## ")[1:]
    return {p.split("\n", 1)[0].strip(): p.split("\n", 1)[1] if "\n" in p else "" for p in parts}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default="bench/results", help="where the benches wrote their files")
    p.add_argument("--out", default="bench")
    a = p.parse_args()
    results, out = Path(a.results), Path(a.out)
    # a bench not re-run keeps the section of the previous report (its own date and command say when)
    earlier = json.loads((out / "results.json").read_text()) if (out / "results.json").is_file() else {}
    earlier_md = earlier_sections(out / "RESULTS.md")
    missing = [n for n in SECTIONS if not (results / f"{n}.json").is_file()
               and not (n in earlier and SECTIONS[n] in earlier_md)]
    if missing:
        raise ConfigError(f"{results}: no results for {missing}; run bench/run_all (or those benches) first")
    duration = re.search(r"# About (.+?);", RUN_ALL.read_text()).group(1)  # run_all's own estimate: said once
    collected, lines = {}, ["# slimnas benchmark results", "",
                            f"Collected {machine()['date']} by `python bench/report.py`; `bench/run_all` re-runs "
                            f"everything (about {duration}). Each section names its own machine, date "
                            f"and command.", ""]
    for name, title in SECTIONS.items():
        if (results / f"{name}.json").is_file():
            collected[name] = json.loads((results / f"{name}.json").read_text())
            md = (results / f"{name}.md").read_text().strip()
            lines += [f"## {title}", "", f"`{collected[name]['command']}`", "", md, ""]
        else:
            collected[name] = earlier[name]
            lines += [f"## {title}", "", earlier_md[title].strip(), ""]
    if HISTORY.is_file():  # after every current section: what was measured before, and on which defaults
        lines += ["## History: earlier measurements and notes", "", HISTORY.read_text().strip(), ""]
    if (results / "search_front.png").is_file():
        shutil.copyfile(results / "search_front.png", out / "search_front.png")
    write_json(out / "results.json", collected)
    write_text(out / "RESULTS.md", "\n".join(lines))
    print(f"wrote {out / 'results.json'}, {out / 'RESULTS.md'}, {out / 'search_front.png'}")


if __name__ == "__main__":
    run_cli(main)
