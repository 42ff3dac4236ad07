"""The whole road in one run: search → train → compress (decompose; prune) → fine-tune each with distillation →
ONNX → ship the fastest that kept its F1 → predict.

The search chooses on val; the retrain then refits its pick on train + val (``train --final-fit``), so the val
macro-F1 of the later rows is of images the searched model trained on: the compressed model is judged against
a score it cannot easily match, which errs towards shipping the searched one.

Every step is one of slimnas's own commands, printed before it runs, so any of them can be re-run by
hand (add ``--data my_data.yaml`` for your own images). All files land in ``--out`` (runs/demo). A step
whose output already exists is reused, so a second run only re-measures the final table; ``--fresh``
starts over. The final table compares the searched model with every compressed candidate (decomposed for a
measured latency target, pruned for one, each fine-tuned with distillation, and the exact depthwise rewrite
that pruning starts from, each in FP32 and in INT8 where INT8 won), each as an ONNX file scored and timed with ONNX Runtime, and ships the fastest candidate that runs faster
than the searched model within ``--f1-tolerance`` val macro-F1 (else the searched one): ``--out/model.onnx`` and
its predictions of the test split, ``--out/predictions.csv``.

It keeps a wall-clock budget (``--minutes``, 10 by default, counted from ``make demo``'s start so that the
venv install counts too): it times a few training steps to learn this machine's pace, gives the search a
share of what is left, and the retrain all the rest but the fixed-cost tail (``train --time-budget``: as
many epochs as fit; ``--epochs`` is then the fewest it must leave room for); the fine-tunes then share what is
left (``finetune --time-budget``, as many epochs as fit): a step slower than planned shortens them rather than
overrunning the deadline, and time the steps before did not use goes into recovering the compressed candidates.
On a machine too slow for a useful result in that time it says so and stops instead of running on.

  slimnas demo                                  # the embedded synthetic data, within 10 minutes
  slimnas demo --minutes 30 --data mvtec --out runs/mvtec
  slimnas demo --minutes 0 --search-budget 80 --epochs 30      # no time plan: epochs and seconds as given
"""

import csv
import gc
import json
import os
import shlex
import shutil
import sys
import time
import traceback
from pathlib import Path

import torch

from . import command_main
from ..cli import ArgumentParser, check_output_dir, run_cli
from ..data.config import dataset_root, load_data_config, prepare_data, test_layout
from ..data.sources import sealed
from ..errors import SlimnasError
from ..export.compare import compare, markdown, predictions_f1
from ..io import file_set, read_yaml, run_lock, write_json, write_text
from ..latency.measure import DeployTarget
from ..runtime import Predictor, list_inputs
from ..search import load_search_space
from ..checkpoint import load_checkpoint
from ..pace import (DECOMPOSE_S, EXPORT_S, PRUNE_S, PRUNE_TAIL_S, ROW_S, TABLE_S, TAIL_S, UNCAPPED_EPOCHS, TimePlan, TooSlow,
                    machine_pace)

START_ENV = "SLIMNAS_DEMO_START"  # epoch seconds when `make demo` started (before the venv), set by the Makefile
DEFAULT_MINUTES = 10
MIN_CANDIDATES = 2  # a search that cannot train this many candidates after the start point is not run
UNPLANNED_EPOCHS = 30  # the retrain's epochs with no time plan (--minutes 0) and no --epochs
SHIPPED = ("model.onnx", "predictions.csv")  # in --out: the model the summary chose, and its test predictions


class StepFailed(SlimnasError):
    """A pipeline step exited non-zero; its own message is above."""


def step(n: int, title: str, argv: list[str], done: Path | None) -> None:
    """Run one of slimnas's own commands as step ``n``, unless its output ``done`` exists already."""
    shown = "slimnas " + shlex.join(argv)
    if done and done.exists():
        print(f"\n[{n}/5] {title}: reusing {done}\n      ({shown})", flush=True)
        return
    print(f"\n[{n}/5] {title}\n$ {shown}", flush=True)
    t0 = time.perf_counter()
    if run_command(argv) != 0:
        raise StepFailed(f"step {n} ({title}) failed; fix the error above and run again (finished steps are reused)")
    print(f"[{n}/5] done in {time.perf_counter() - t0:.0f} s", flush=True)


def run_command(argv: list[str]) -> int:
    """``slimnas <argv>`` in this process, with its exit code: the printed command's own ``main()`` and
    ``run_cli``, without a new interpreter importing torch & co. again (4-5 s a step, twice that on a slow
    machine: time the retrain gets instead)."""
    name, rest = argv[0], argv[1:]
    saved_argv, threads = sys.argv, torch.get_num_threads()  # a step may set torch's threads; the next chooses its own
    sys.argv = [f"slimnas {name}", *rest]
    try:
        run_cli(command_main(name))
    except SystemExit as e:
        if e.code == 130:  # Ctrl-C inside the step: it said so and kept its files; stop the demo too
            raise
        return e.code if isinstance(e.code, int) else int(e.code is not None)
    except Exception:  # noqa: BLE001 - a bug in a step: its traceback, then the demo's one-line error
        traceback.print_exc()
        return 1
    finally:
        sys.argv = saved_argv
        torch.set_num_threads(threads)
        gc.collect()
    return 0


def build_parser() -> ArgumentParser:
    p = ArgumentParser(description=__doc__)
    p.add_argument("--out", default="runs/demo", help="run folder for every step's files")
    p.add_argument("--data", default=None, help="data YAML (default: the embedded synthetic data)")
    p.add_argument("--space", default="tiny",
                   help="search-space YAML, or a packaged one by name (default: tiny, the space of <= ~4 M MACs at 96-128 px)")
    p.add_argument("--minutes", type=float, default=None,
                   help=f"wall-clock budget of the whole demo, from make demo's start (${START_ENV}) or this command's; "
                        f"the search and the retrain are planned in seconds from the pace measured here "
                        f"(default {DEFAULT_MINUTES:g}; 0: no plan)")
    p.add_argument("--budget", type=float, default=None,
                   help="the same budget in seconds (--budget 600 = --minutes 10), as bench/road_goal.py counts it")
    p.add_argument("--search-budget", type=float, default=None,
                   help="architecture search seconds, part of the plan (default: a quarter of the time left once "
                        "the fixed-cost steps are set aside; 80 with --minutes 0)")
    p.add_argument("--search-epochs", type=int, default=6,
                   help="training epochs of a search trial that survives the rung (weak ones stop at epoch 2)")
    p.add_argument("--max-macs", default="4e6", help="search MACs budget ('none': no budget)")
    p.add_argument("--epochs", type=int, default=None,
                   help=f"training epochs of the recommended architecture with --minutes 0 (default "
                        f"{UNPLANNED_EPOCHS}); under a time plan the fewest it must leave time for: the retrain then "
                        f"trains for every second the plan has left, as Ultralytics' time= overrides epochs=")
    p.add_argument("--teacher", default=None,
                   help="a checkpoint on the same labels to distil into the retrain (helps only if it beats the student)")
    p.add_argument("--target-latency", type=float, default=0.7,
                   help="fraction of the latency (measured on ONNX Runtime at its default threads) the decomposition keeps")
    p.add_argument("--target-macs", type=float, default=None,
                   help="decompose for a MACs fraction instead (fewer MACs need not run faster)")
    p.add_argument("--prune-latency", type=float, default=0.6,
                   help="fraction of the measured latency the pruned candidate keeps (slimnas prune --target-latency; "
                        "0: no pruned candidate)")
    p.add_argument("--f1-tolerance", type=float, default=0.01,
                   help="the most val macro-F1 a compressed model may lose against the searched one and still ship")
    p.add_argument("--ft-epochs", type=int, default=4,
                   help="fine-tuning epochs (with distillation) per candidate; under a time plan the retrain leaves "
                        "time for these, and each fine-tune then trains for its share of what is left")
    p.add_argument("--fresh", action="store_true", help="redo every step, even those already done")
    # set by the time plan when it gives the pruned (then the decomposed) candidate's time to the search and retrain
    p.set_defaults(widen_only=False, decompose=True)
    return p


def main() -> None:
    a = build_parser().parse_args()
    out, t0 = Path(a.out), time.perf_counter()
    check_output_dir(out, "--out", [a.data, a.space, a.teacher])
    a.minutes = whole_budget_minutes(a.minutes, a.budget)
    if a.epochs is not None and a.epochs < 1:
        raise SlimnasError(f"--epochs must be >= 1, got {a.epochs}")
    if not 0 <= a.prune_latency < 1:
        raise SlimnasError(f"--prune-latency must be a fraction in [0, 1) (0: no pruned candidate), got {a.prune_latency:g}")
    if not 0 <= a.f1_tolerance < 1:
        raise SlimnasError(f"--f1-tolerance must be in [0, 1), got {a.f1_tolerance:g}")
    data_cfg = load_data_config(a.data)  # every config is checked before any step runs or any data is made
    load_search_space(a.space)
    if a.teacher:
        load_checkpoint(a.teacher)  # a missing teacher fails now, not after the search
    plan = TimePlan(a.minutes * 60, budget_start(), machine_pace(),
                    TAIL_S + (PRUNE_TAIL_S if a.prune_latency else 0)) if a.minutes else None
    if plan and a.search_budget is not None:
        plan.check_search(a.search_budget)  # before anything is made or removed, not after the search
    if a.fresh:
        shutil.rmtree(out, ignore_errors=True)
    print("\n[0/5] prepare the data (outside every step's clock)", flush=True)
    print(f"data: {prepare_data(data_cfg)}", flush=True)
    if a.search_budget is None:
        a.search_budget = search_seconds(a, plan) if plan else 80.0
    if plan:
        print(f"time plan: {a.minutes:g} minutes, {plan.left():.0f} s left; this machine's pace is {plan.pace:.2f}x "
              f"the reference; the search gets {a.search_budget:.0f} s, the retrain what is left after it but "
              f"the fixed-cost steps" + (f" (at least the {a.epochs} epochs of --epochs)" if a.epochs else ""),
              flush=True)
    decomposed, pruned = run_steps(a, out, plan)
    lines = summary(a, out, data_cfg, decomposed, pruned)
    took = f"; {time.time() - plan.started:.0f} s of the {a.minutes:g}-minute plan" if plan else ""
    lines.append(f"\nwhole run: {time.perf_counter() - t0:.0f} s{took}; files in {out}/")
    write_text(out / "summary.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


def whole_budget_minutes(minutes: float | None, budget_s: float | None) -> float:
    """The demo's wall-clock budget in minutes, from ``--minutes`` or ``--budget`` seconds (not both)."""
    if minutes is not None and budget_s is not None:
        raise SlimnasError("--minutes and --budget both set the demo's wall-clock budget; give one")
    if budget_s is not None:
        minutes = budget_s / 60
    minutes = DEFAULT_MINUTES if minutes is None else minutes
    if minutes < 0:
        raise SlimnasError(f"--minutes and --budget must be >= 0 (0: no time plan), got {minutes:g} minutes")
    return minutes


def budget_start() -> float:
    """When the time budget started: ``make demo``'s start (so the venv install counts), else now."""
    now = time.time()
    try:
        started = float(os.environ.get(START_ENV, now))
    except ValueError:
        return now
    return started if now - 3600 < started <= now else now  # a stale or future value is not this run's


def trial_row(out: Path, trial: int) -> dict:
    with open(out / "search" / "trials.csv", newline="") as f:
        return next(r for r in csv.DictReader(f) if r["trial"] == str(trial))


def epoch_seconds(out: Path, trial: int) -> float:
    """The search's measured seconds per epoch of ``trial`` (validation included): the retrain's expected pace."""
    row = trial_row(out, trial)
    return float(row["seconds"]) / max(int(row["epochs"]), 1)


def search_step(a, out: Path, data: list[str]) -> None:
    """Step 1 in two runs of one study: the space's start point first, which measures what a candidate costs
    here; then the rest of ``--search-budget``, only if it can train at least :data:`MIN_CANDIDATES` more.

    Fewer is not a search, and its pick would take retrain time from the start point for nothing measured:
    a 10-minute demo pinned to one core searched 69 s (two candidates), picked the larger after 6 epochs each,
    and retrained it for 23 epochs to 0.492 val macro-F1, where the 2-core run's start point got 65 epochs
    and 0.553.
    """
    title, done = "architecture search (Optuna, macro-F1 vs MACs)", out / "search" / "best.json"
    argv = ["search", "--out", str(out), "--study", "search", "--epochs", str(a.search_epochs), "--max-macs",
            a.max_macs, *data, "--space", a.space]
    if done.exists():
        return step(1, title, [*argv, "--n-trials", "100", "--timeout", f"{a.search_budget:g}"], done)
    t0 = time.perf_counter()
    step(1, f"{title}: the space's start point first", [*argv, "--n-trials", "1"], None)
    rest, first = a.search_budget - (time.perf_counter() - t0), float(trial_row(out, 0)["seconds"] or 0)
    if rest < MIN_CANDIDATES * first:
        print(f"[1/5] {rest:.0f} s of the search's {a.search_budget:.0f} s are left, time for fewer than "
              f"{MIN_CANDIDATES} more candidates at the {first:.0f} s the start point took: it is the pick, and the "
              f"retrain gets the time", flush=True)
        return
    step(1, f"{title}: {rest:.0f} s more", [*argv, "--n-trials", "100", "--timeout", f"{rest:.0f}"], None)


def run_steps(a, out: Path, plan: TimePlan | None) -> tuple[bool, dict[str, Path]]:
    """Steps 1-4, each one of slimnas's own commands; returns (whether any layer was decomposed, the prune step's
    candidates: their summary row's name and the folder they were exported to)."""
    data = ["--data", a.data] if a.data else []
    search_step(a, out, data)
    best = json.loads((out / "search" / "best.json").read_text())
    budget = []
    if plan and not (out / "train" / "results.json").exists():
        again = machine_pace()  # a probe is a second of a shared machine: of two, the faster is what it can do
        if again < plan.pace:
            print(f"[2/5] this machine's pace measured again: {again:.2f}x the reference (was {plan.pace:.2f}x)",
                  flush=True)
            plan.pace = again
        warm = int(trial_row(out, best["trial"])["epochs"]) if best.get("weights") else 0  # it goes on from them
        seconds = retrain_plan(a, plan, epoch_seconds(out, best["trial"]), warm)
        budget = ["--time-budget", f"{seconds:.0f}"]
    warm = ", from the weights it trained there" if best.get("weights") else ""
    # the refit on train + val (--final-fit, the last epoch kept): on dev, 240 s runs of the start point, 10 seeds
    # each, it scored 0.6006 against 0.5690 held out (bench/dev_defaults.py, more than the pooled sd); the search
    # has already chosen on val, and the rare labels' 1-3 val images are a quarter of their training data
    step(2, f"train the recommended architecture on train + val (search trial {best['trial']}, with its searched "
            f"lr{warm})",
         [*shlex.split(best["command"])[1:], "--epochs", str(UNCAPPED_EPOCHS if plan else a.epochs or UNPLANNED_EPOCHS),
          *budget, "--final-fit", "--dst", str(out / "train"),
          "--exist-ok", "--no-progress", *(["--teacher", a.teacher] if a.teacher else [])],
         out / "train" / "results.json")
    # the fine-tunes below train on train + val too (--final-fit), so each candidate's val macro-F1 is in-sample as
    # the searched model's is, and the summary compares like with like: trained on val, a held-out candidate's val
    # F1 (0.30) could never come near the searched model's in-sample one (0.82)
    decomposed = a.decompose and decompose_steps(a, out, data, plan)
    candidates = {}
    if a.prune_latency:  # the 1x1 and depthwise nets the search makes have little rank to cut, but channels to drop
        step(3, f"prune whole channels (Torch-Pruning) for a measured latency target of {a.prune_latency:g}",
             ["prune", "--weight", str(out / "train" / "best.pt"), "--target-latency", f"{a.prune_latency:g}",
              "--dst", str(out / "prune"), "--exist-ok"], out / "prune" / "prune.json")
        record = json.loads((out / "prune" / "prune.json").read_text())
        if record.get("slower", False):
            print("[3/5] the pruned model ran slower than the trained one: not a candidate", flush=True)
        elif record["ratio"]:
            after = EXPORT_S + (DECOMPOSE_S + EXPORT_S) * bool(record["widened"]) + TABLE_S  # its export, the rewrite's
            candidates[PRUNED] = prune_candidate(a, out, data, "prune", "finetune_pruned", False, plan, after)
        elif record["widened"]:  # the rewrite alone met the target
            candidates[WIDENED] = prune_candidate(a, out, data, "prune", "finetune_widened", exact=True)
        if record["widened"] and record["ratio"]:
            # the rewrite alone is a candidate of its own: as fast as the rewrite makes it, with nothing to lose in
            # fine-tuning (two of three cold demos shipped the searched model when the pruned one lost too much)
            widen_step(out)
            candidates[WIDENED] = prune_candidate(a, out, data, "widen", "finetune_widened", exact=True)
    elif a.widen_only:
        widen_step(out)
        if json.loads((out / "widen" / "prune.json").read_text())["widened"]:  # else it is the trained model again
            candidates[WIDENED] = prune_candidate(a, out, data, "widen", "finetune_widened", exact=True)
    return decomposed, candidates


def decompose_steps(a, out: Path, data: list[str], plan: TimePlan | None) -> bool:
    """Steps 3 and 4 of the decomposed candidate; whether any layer was decomposed."""
    rule = ["--target-macs", f"{a.target_macs:g}"] if a.target_macs else ["--target-latency", f"{a.target_latency:g}"]
    step(3, f"decompose its convolutions (Tucker-2 / SVD, ranks chosen for a "
            f"{'MACs' if a.target_macs else 'measured latency'} target)",
         ["decompose", "--weight", str(out / "train" / "best.pt"), *rule, "--dst", str(out / "decompose"), "--exist-ok"],
         out / "decompose" / "report.csv")
    # a decomposition that kept the model whole (no layer ran faster factorised) lost nothing to recover
    decomposed = bool(read_yaml(out / "decompose" / "rank_cfg.yaml"))
    later = plan.tail_s - DECOMPOSE_S if plan else 0.0  # the fixed costs from this fine-tune's export on
    step(4, ("fine-tune with distillation" if decomposed else "no layer was decomposed, so nothing to fine-tune:")
         + " export ONNX (FP32, INT8 if it wins), predict the test split",
         ["finetune", "--weight", str(out / "decompose" / "decomposed.pt"),
          *(finetune_epochs(a, plan, later, 1 + bool(a.prune_latency)) if decomposed else ["--epochs", "0"]),
          "--int8", "--final-fit", "--dst", str(out / "finetune"), "--exist-ok", *data],
         out / "finetune" / "export.json")
    return decomposed


def widen_step(out: Path) -> None:
    step(3, "the exact rewrite alone (grouped convs made depthwise, nothing pruned)",
         ["prune", "--weight", str(out / "train" / "best.pt"), "--ratio", "0", "--widen", "--no-timing",
          "--dst", str(out / "widen"), "--exist-ok"], out / "widen" / "prune.json")


def search_seconds(a, plan: TimePlan) -> float:
    """The search's seconds under ``plan``; on a machine too slow for a search and a retrain with every candidate's
    steps still to come, without the pruned candidate's (:func:`drop_pruned`), then the decomposed one's
    (:func:`drop_decomposed`), before refusing. Pinned to one core (pace 2.7-3.0), a cold demo had 321-331 s left
    after the venv and the data: with the pruned candidate it refused before the search; without it, it refused
    before the retrain, 7 epochs short of its 15 by 22 s, the decomposed candidate's steps costing 40 s."""
    dropped = []
    while True:
        try:
            seconds = plan.search_seconds()
            break
        except TooSlow:
            if a.prune_latency:
                drop_pruned(a, plan)
                dropped.append("pruned candidate (its timed grid and fine-tune)")
            elif a.decompose:
                drop_decomposed(a, plan)
                dropped.append("decomposed candidate (its ranks timed, its export)")
            else:
                raise  # too slow even without them: refused, with the minutes it would take
    if dropped:
        print(f"[0/5] at this machine's pace ({plan.pace:.2f}x the reference) there is too little time for the "
              f"{' and the '.join(dropped)}: the search and the retrain get it; the exact depthwise rewrite is still a "
              f"candidate (give more --minutes for them)", flush=True)
    return seconds


def drop_pruned(a, plan: TimePlan) -> None:
    """No pruned candidate: its timed grid and its export leave the plan's tail, and the exact depthwise rewrite
    (no fine-tuning, shipped in most cold demos) stays a candidate (``a.widen_only``)."""
    plan.tail_s -= PRUNE_S + EXPORT_S + ROW_S
    a.prune_latency, a.widen_only = 0.0, True


def drop_decomposed(a, plan: TimePlan) -> None:
    """No decomposed candidate (after the pruned one gave way): its steps leave the plan's tail. On the nets the
    search makes the decomposition kept every layer whole in every cold demo of 2026-12-07: nothing to lose."""
    plan.tail_s -= DECOMPOSE_S + EXPORT_S + 2 * ROW_S  # the decomposed row and the fine-tuned one
    a.decompose = False


def retrain_plan(a, plan: TimePlan, epoch_s: float, warm: int) -> float:
    """The retrain's seconds under ``plan`` at ``epoch_s`` (going on from ``warm`` epochs' weights). The pruned
    candidate gives way here (``a.widen_only`` then says so, as when :func:`search_seconds` gave it up) when, with
    it, the retrain would train fewer epochs in all than :data:`UNPLANNED_EPOCHS` (the demo's epochs with no plan),
    or none at all. Every candidate is made from the retrained model, and the exact depthwise rewrite needs no fine-tuning:
    it stays a candidate, while the pruned one's timed grid and fine-tune, and all but one epoch of the decomposed
    one's, go to the retrain. ``a.prune_latency`` is then 0."""
    def retrain(fine_tunes: int, ft_epochs: int) -> float:  # the decomposed candidate's, the pruned one's if any
        return plan.retrain_seconds(epoch_s, ft_epochs * fine_tunes, a.epochs, fine_tunes, warm)

    def fewest() -> float:  # one fine-tune epoch set aside for the decomposed candidate; too slow, not even that
        try:
            return retrain(int(a.decompose), 1)
        except TooSlow:
            if not a.decompose:
                raise
        drop_decomposed(a, plan)
        seconds = retrain(0, 0)
        print("[2/5] too little time for the decomposed candidate (its ranks timed, its export): the retrain gets it",
              flush=True)
        return seconds

    if a.prune_latency:
        try:
            seconds = retrain(2, a.ft_epochs)
        except TooSlow:  # perhaps not without it
            seconds = 0.0
        if warm + seconds / epoch_s >= UNPLANNED_EPOCHS:
            return seconds
        drop_pruned(a, plan)
        seconds = fewest()
        print(f"[2/5] too little time for the pruned candidate (its timed grid and fine-tune): the retrain gets it, "
              f"{warm + seconds / epoch_s:.0f} epochs in all; the exact depthwise rewrite is still a candidate (give "
              f"more --minutes for both)", flush=True)
        return seconds
    if a.widen_only:  # the pruned candidate gave way before the search; the decomposed one keeps one epoch set aside
        # (it gets what is left when it runs): it kept every layer whole in every cold demo of 2026-12-07
        return fewest()
    return retrain(int(a.decompose), a.ft_epochs)


PRUNED, WIDENED = "pruned + fine-tuned", "widened, exact"  # the summary's rows of the prune step's candidates


def finetune_epochs(a, plan: TimePlan | None, fixed_after_s: float, finetunes_left: int) -> list[str]:
    """A fine-tune step's ``--epochs`` (and ``--time-budget``): ``--ft-epochs``, or under a time plan its share of what
    is left (:meth:`TimePlan.finetune_seconds`) with the epochs uncapped, as the retrain's: the retrain set aside
    ``--ft-epochs`` for each, and the time the steps before did not use recovers the compressed candidates."""
    if not plan:
        return ["--epochs", str(a.ft_epochs)]
    seconds = plan.finetune_seconds(fixed_after_s, finetunes_left)
    return ["--epochs", str(UNCAPPED_EPOCHS), "--time-budget", f"{seconds:.0f}"]


def prune_candidate(a, out: Path, data: list[str], src: str, dst: str, exact: bool, plan: TimePlan | None = None,
                    fixed_after_s: float = 0.0) -> Path:
    """Step 4 for a checkpoint of ``slimnas prune`` in ``out/src``: fine-tuned with distillation (none if ``exact``:
    it computes what the trained model does; under ``plan``, with ``fixed_after_s`` of fixed costs to follow) and
    exported to ``out/dst``; returns that folder."""
    step(4, ("nothing was pruned (the grouped conv made depthwise computes the same), so nothing to fine-tune:"
             if exact else "fine-tune the pruned model with distillation,") + " export ONNX (FP32, INT8 if it wins)",
         ["finetune", "--weight", str(out / src / "pruned.pt"), "--teacher", str(out / "train" / "best.pt"),
          *(["--epochs", "0"] if exact else finetune_epochs(a, plan, fixed_after_s, 1)), "--int8", "--final-fit",
          "--dst", str(out / dst), "--exist-ok", *data],
         out / dst / "export.json")
    return out / dst


SEARCHED = "searched + trained"  # the summary's row of the model the compressed ones are judged against


def advice(by: dict[str, dict], candidates: list[str], tolerance: float, same_model: bool = False,
           by_macs: bool = False) -> tuple[list[str], str]:
    """What to ship (the lines that say why, and its ONNX file), from the summary's rows by model name, decided on
    val F1 and measured latency only: the fastest of ``candidates`` (the compressed models' rows) that runs faster
    than the searched model and lost at most ``tolerance`` val macro-F1; else the searched model.

    A candidate must pay: not when it runs slower (fewer MACs that run slower are a regression), nor when it lost
    val macro-F1 for a speed-up inside the timer's own spread (a 2-core demo kept one layer whole-model 0.119 ->
    0.117 ms, and its fine-tuning then lost 0.0155 val macro-F1). ``same_model``: nothing was decomposed, so the
    decomposed rows are the searched model again and any difference in their ms is the timer's.
    """
    source, fit, lines = by[SEARCHED], [], []
    if same_model:
        lines.append(f"- decomposed, fine-tuned FP32: the decomposition kept every layer whole (none ran faster "
                     f"factorised on ONNX Runtime), so the rows are the same model: {source['ms_b1']:.3f} vs "
                     f"{by['fine-tuned FP32']['ms_b1']:.3f} ms is timing noise")
    for name in candidates:
        row = by[name]
        spread = max(row.get("ms_b1_spread", 0.0), source.get("ms_b1_spread", 0.0))
        lost = source["val_f1"] - row["val_f1"]
        speed = f"{row['ms_b1']:.3f} against {source['ms_b1']:.3f} ms (±{spread:.0%})"
        if row["ms_b1"] >= source["ms_b1"]:
            why = (f"NOT FASTER: {speed} at {row['macs'] / source['macs']:.0%} of its MACs"
                   + (" (decompose with --target-latency)" if by_macs and "INT8" not in name else ""))
        elif lost > tolerance:
            why = f"LOST TOO MUCH: {lost:.4f} val macro-F1, more than --f1-tolerance {tolerance:g}, for {speed}"
        elif lost > 0 and row["ms_b1"] * (1 + spread) >= source["ms_b1"]:
            why = f"NOT WORTH IT: lost {lost:.4f} val macro-F1 for {speed}, inside the timer's spread"
        else:
            fit.append(name)
            why = f"faster by {source['ms_b1'] / row['ms_b1']:.2f}x ({speed}), val macro-F1 {row['val_f1']:.4f} " \
                  f"against {source['val_f1']:.4f}"
        lines.append(f"- {name}: {why}")
    if fit:
        best = min(fit, key=lambda n: by[n]["ms_b1"])
        return [f"\nship {best} ({by[best]['onnx']}): the fastest candidate that runs faster than the searched model "
                f"and lost at most {tolerance:g} val macro-F1", *lines], by[best]["onnx"]
    return [f"\nship the searched model ({source['onnx']}): no compressed candidate runs faster within "
            f"{tolerance:g} val macro-F1", *lines], source["onnx"]


def summary(a, out: Path, data_cfg, decomposed: bool, pruned: dict[str, Path]) -> list[str]:
    """Step 5: the searched model and every compressed candidate side by side (``summary.json``), and what to ship."""
    print(f"\n[5/5] the models side by side ({DeployTarget().describe()}; also 1 thread and batch 32; the same "
          f"images)", flush=True)
    models, candidates, notes = {SEARCHED: out / "train" / "best.pt"}, [], []
    if a.decompose:
        export = json.loads((out / "finetune" / "export.json").read_text())
        models |= {"decomposed": out / "decompose" / "decomposed.pt", "fine-tuned FP32": Path(export["onnx"])}
        if export.get("int8"):
            models["fine-tuned INT8"] = Path(export["int8"])
        candidates = [n for n in models if n != SEARCHED and n != "decomposed" and (decomposed or "INT8" in n)]
        if export.get("int8_reason") and not export.get("int8"):
            notes.append(f"\nINT8 of the decomposed model not kept: {export['int8_reason']}")
    else:
        notes.append("\nno decomposed candidate: the time plan gave its steps to the search and the retrain")
    for name, folder in pruned.items():
        pruned_export = json.loads((folder / "export.json").read_text())
        models[f"{name} FP32"] = Path(pruned_export["onnx"])
        if pruned_export.get("int8"):
            models[f"{name} INT8"] = Path(pruned_export["int8"])
        elif pruned_export.get("int8_reason"):
            notes.append(f"INT8 of the {name.split(' ')[0].rstrip(',')} model not kept: {pruned_export['int8_reason']}")
        candidates += [n for n in models if n.startswith(name)]
    rows = compare(models, data_cfg, out / "summary")
    write_json(out / "summary.json", rows)
    said, onnx = advice({r["model"]: r for r in rows}, candidates, a.f1_tolerance, a.decompose and not decomposed,
                        bool(a.target_macs))
    lines = [markdown(rows), *said, *notes]
    preds = ship(out, Path(onnx), data_cfg)
    lines.append(f"\nshipped: {out / SHIPPED[0]} (= {onnx})" + (f", its predictions of the test split: {preds}" if preds else ""))
    answers = dataset_root(data_cfg) / "test_labels.csv"
    if preds and answers.is_file() and not sealed(answers.parent):
        lines.append(f"{preds} (torch-free predictor): test macro-F1 {predictions_f1(preds, answers):.4f}")
    return lines


def ship(out: Path, onnx: Path, data_cfg) -> Path | None:
    """The demo's deliverable, as one file set in ``out``: the ONNX model its summary chose (``model.onnx``) and,
    when the data has a test split to predict, that model's predictions of it (``predictions.csv``, written by the
    torch-free predictor as ``slimnas-predict`` would), so the predictions are always the shipped model's."""
    images = test_layout(data_cfg)
    with run_lock(out), file_set(out, "ship", list(SHIPPED)) as files:
        shutil.copyfile(onnx, files.path(SHIPPED[0]))
        if images:
            Predictor(files.path(SHIPPED[0])).predict_to_csv(list_inputs([images]), files.path(SHIPPED[1]))
    return out / SHIPPED[1] if images else None
