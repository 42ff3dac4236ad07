"""prune.py's job: checkpoint in, pruned checkpoint + a per-layer report + its measurements out."""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from ..checkpoint import compressed_from, model_from_checkpoint, save_checkpoint
from ..errors import ConfigError
from ..io import file_set, run_lock, write_csv, write_json
from ..latency.measure import DeployTarget, interleaved
from ..latency.table import model_call
from ..macs import count_macs
from ..pruned import channel_sizes, channel_spec
from ..train.evaluate import build_data_for
from .model import ROUND_TO, prune_channels, smallest_ratio, widen_depthwise
from .widths import Divergence, Latency, Macs, choose_widths

OUTPUTS = ("report.csv", "prune.json")  # written with the checkpoint, as one set
REPORT_COLUMNS = ["layer", "size", "before", "after"]
CALIBRATION = 256  # training images a cut's divergence is measured on (~5 s for 100 cuts of the tiny space's start)


def calibration_images(bundle, n: int = CALIBRATION):
    """``n`` of the data's calibration images (training images, evaluation transform), evenly spaced over the
    listing so every class has its share, as one batch."""
    images = bundle.calibration()
    picks = torch.linspace(0, len(images) - 1, min(n, len(images))).round().long().unique()
    return torch.stack([images[int(i)][0] for i in picks])


@dataclass
class PruneResult:
    checkpoint: Path
    ratio: float
    macs_before: int
    macs_after: int
    params_before: int
    params_after: int
    ms_before: float | None = None  # the whole model on ``runtime``, timed interleaved with the pruned one
    ms_after: float | None = None
    runtime: str | None = None
    widened: bool = False  # grouped convs with a channel multiplier made depthwise first

    @property
    def slower(self) -> bool:
        return self.ms_before is not None and self.ms_after >= self.ms_before


def prune_checkpoint(weight: str | Path, out: str | Path, target_macs: float | None = None,
                     target_latency: float | None = None, ratio: float | None = None, criterion: str = "magnitude",
                     macs_convention: str = "aten", round_to: int | None = None, save_name: str = "pruned.pt",
                     runtime: DeployTarget | None = DeployTarget(), widen: bool | None = None,
                     per_group: bool = False, also_at: Sequence[DeployTarget] = (), data=None,
                     verbose: bool = True) -> PruneResult:
    """Prune the model in ``weight`` by one rule: a fixed ``ratio`` of every layer group's channels, the
    smallest ratio that keeps ``target_macs`` of its MACs, or for ``target_latency`` of its time measured on
    ``runtime`` (``None``: no timing) each layer group's own width, the least important channels' worth chosen by a
    knapsack over measured savings (:mod:`slimnas.prune.widths`). Channel counts are multiples of ``round_to``
    (default 8). ``widen``: first make grouped convs with a channel multiplier depthwise
    (:func:`~slimnas.prune.model.widen_depthwise`, exact); ``None``: the latency rule widens if that runs faster, the
    MACs rule keeps the way that prunes the smaller ratio, a fixed ratio does not widen. ``per_group``: the MACs
    rule too gives each group its own width, by a knapsack over counted savings. ``also_at``: more settings (threads,
    batch) at which ``target_latency`` must hold too, priced and checked at each. ``data`` (a data YAML or
    :class:`~slimnas.data.config.DataConfig` with the checkpoint's classes): per-group widths are costed by how far
    each cut moves the model's answers on :data:`CALIBRATION` of its training images
    (:class:`~slimnas.prune.widths.Divergence`), not by importance shares. Every input is checked before anything
    is written."""
    rules = [r for r, on in (("--ratio", ratio is not None), ("--target-macs", target_macs is not None),
                             ("--target-latency", target_latency is not None)) if on]
    if len(rules) > 1:
        raise ConfigError(f"choose one way to set how much to prune, got {', '.join(rules)}")
    if target_latency is not None and runtime is None:
        raise ConfigError("--target-latency measures the runtime; drop --no-timing")
    if also_at and target_latency is None:
        raise ConfigError("--also-at names more settings for --target-latency to hold at; give --target-latency")
    if (Path(out) / save_name).resolve() == Path(weight).resolve():
        raise ConfigError(f"{weight}: is the checkpoint being pruned; writing {save_name} into {out} would replace "
                          f"it: give another output folder or save name")
    model, ckpt = model_from_checkpoint(weight)
    if ckpt.get("decomposition"):
        raise ConfigError(f"{weight}: is decomposed; prune the trained checkpoint, then decompose the pruned one")
    size, classes = int(ckpt["preprocessing"]["input_size"]), len(ckpt["classes"])
    per_width = target_latency is not None or (per_group and ratio is None)  # the rules that cost each width
    judge = Divergence(model, calibration_images(build_data_for(weight, data, ckpt))) \
        if data is not None and per_width else None  # one fraction for all has no widths to cost
    before = count_macs(model, size, convention=macs_convention)
    sizes_before = channel_sizes(model)
    widened = copy.deepcopy(model)
    if not widen_depthwise(widened):
        widen = False  # nothing to widen: the two ways are one
    ways = {w: widened if w else model for w in ((False, True) if widen is None else (widen,))}

    def prune(m, r, k=round_to or ROUND_TO):
        return prune_channels(m, size, r, classes, criterion, k if k > 1 else None)

    widths = None
    if target_latency is not None:
        if not 0 < target_latency <= 1:
            raise ConfigError(f"--target-latency must be a fraction in (0, 1], got {target_latency}")
        settings = [runtime, *(r for r in dict.fromkeys(also_at) if r != runtime)]
        widen, pruned, widths = for_latency(ways, size, classes, criterion, settings, model, target_latency,
                                            round_to or ROUND_TO, judge)
        ratio = widths["ratio"]
    elif ratio is None:
        fraction = 0.5 if target_macs is None else target_macs
        if not 0 < fraction <= 1:
            raise ConfigError(f"--target-macs must be a fraction in (0, 1], got {fraction}")
        if per_group:
            widen, pruned, widths = for_macs(ways, size, classes, criterion, macs_convention, before.macs, fraction,
                                             round_to or ROUND_TO, judge)
            ratio = widths["ratio"]
        else:
            found = {w: smallest_ratio(m, lambda m: count_macs(m, size, convention=macs_convention).macs,
                                       fraction * before.macs, prune) for w, m in ways.items()}
            widen = min(found, key=lambda w: (found[w][0], w))  # the smaller ratio; unwidened on a tie
            ratio, pruned, _ = found[widen]
        target_macs = fraction
    else:
        widen = bool(widen)
        pruned = prune(ways[widen], ratio)
    round_to = round_to or ROUND_TO
    after = count_macs(pruned, size, convention=macs_convention)
    spec = channel_spec(sizes_before, pruned)
    result = PruneResult(Path(out) / save_name, ratio, before.macs, after.macs, before.params, after.params,
                         widened=widen)
    record = {"ratio": ratio, "criterion": criterion, "round_to": round_to, "widened": widen,
              "macs_convention": macs_convention,
              **({"widths": widths} if widths else {}),
              "macs_before": before.macs, "macs_after": after.macs, "params_before": before.params,
              "params_after": after.params}
    if runtime is not None:
        t = interleaved({"before": model_call(model, size, runtime), "after": model_call(pruned, size, runtime)},
                        max_rounds=30)
        result.ms_before, result.ms_after, result.runtime = t["before"].ms, t["after"].ms, runtime.describe()
        record.update(runtime=result.runtime, before=t["before"].as_dict(), after=t["after"].as_dict(),
                      slower=result.slower)
    metrics = {**ckpt.get("metrics", {}), "macs": after.macs, "params": after.params, "macs_convention": macs_convention,
               "macs_unpruned": before.macs, "compressed_from": compressed_from(ckpt, weight)}
    metrics.pop("val_f1", None)  # no longer true of this model; fine-tuning measures it again
    rows = [[name, attr, sizes_before[name][attr], v] for name, sizes in spec.items() for attr, v in sizes.items()
            if sizes_before[name][attr] != v]
    out = Path(out)
    with run_lock(out), file_set(out, "prune", [save_name, *OUTPUTS]) as files:  # a kill leaves the old set or the new
        save_checkpoint(files.path(save_name), pruned, ckpt["model"], ckpt["classes"], ckpt["preprocessing"],
                        metrics=metrics, channels=spec)
        write_csv(files.path("report.csv"), REPORT_COLUMNS, rows)
        write_json(files.path("prune.json"), record)
    if verbose:
        print(format_report(result))
    _warn(result, target_macs, target_latency)
    return result


def for_latency(ways: dict[bool, object], size: int, classes: int, criterion: str, runtimes: list[DeployTarget],
                source, target: float, step: int, judge: Divergence | None = None) -> tuple[bool, object, dict]:
    """Per-group widths for a latency target at every one of ``runtimes`` (:func:`~slimnas.prune.widths.choose_widths`),
    on the widened model if there is one and it runs faster than ``source`` at each (the two timed alone), else on
    the model as it is. Returns (widened, the pruned model, the record of the choice)."""
    meter, kept = Latency(size, runtimes, source), 1.0
    if True in ways:
        kept = max(meter.kept({True: ways[True]})[True])
    widen = True in ways and (kept < 1 or False not in ways)
    widths, pruned, record = choose_widths(ways[widen], size, classes, criterion, meter, target, step,
                                           kept if widen else 1.0, judge)
    return widen, pruned, record


def for_macs(ways: dict[bool, object], size: int, classes: int, criterion: str, convention: str, source_macs: int,
             target: float, step: int, judge: Divergence | None = None) -> tuple[bool, object, dict]:
    """Per-group widths for a MACs target, each way (widened or not) that there is; keeps the one that met the
    target dropping the least importance (unwidened on a tie). Returns (widened, the pruned model, its record)."""
    meter, found = Macs(size, convention, source_macs), {}
    for widen, m in ways.items():
        found[widen] = choose_widths(m, size, classes, criterion, meter, target, step, max(meter.kept({0: m})[0]), judge)
    met = [w for w in found if found[w][2]["kept"] <= target] or list(found)
    widen = min(met, key=lambda w: (found[w][2]["cost"], w))
    return widen, found[widen][1], found[widen][2]


def _warn(r: PruneResult, target_macs: float | None, target_latency: float | None) -> None:
    if r.slower:
        print(f"warning: the pruned model is SLOWER than its source on {r.runtime}: {r.ms_before:.4f} -> "
              f"{r.ms_after:.4f} ms per call, timed interleaved; prune with --target-latency, or keep the original",
              file=sys.stderr, flush=True)
    kept = (r.macs_after / r.macs_before, target_macs, "MACs") if target_macs else \
        (r.ms_after / r.ms_before, target_latency, "measured time") if target_latency and r.ms_before else None
    if kept and kept[0] > kept[1] * 1.01:
        how = (f"the {'smallest' if target_macs else 'fastest'} model found ({r.ratio:.0%} of the channels pruned"
               f"{', widened' if r.widened else ''})" + ("" if target_macs else ", timed again against the source,"))
        print(f"warning: {'--target-macs' if target_macs else '--target-latency'} {kept[1]:g} not reached: {how} "
              f"keeps {kept[0]:.1%} of the {kept[2]}", file=sys.stderr, flush=True)


def format_report(r: PruneResult) -> str:
    line = (f"{'widened grouped convs to depthwise, ' if r.widened else ''}pruned {r.ratio:.1%} of the prunable "
            f"channels: MACs {r.macs_before / 1e6:.3f} M -> "
            f"{r.macs_after / 1e6:.3f} M ({r.macs_after / r.macs_before:.1%}), params {r.params_before / 1e3:.1f} k -> "
            f"{r.params_after / 1e3:.1f} k -> {r.checkpoint}")
    if r.ms_before is not None:
        verdict = "SLOWER than the source" if r.slower else f"{r.ms_before / r.ms_after:.2f}x faster"
        line += (f"\nmeasured on {r.runtime}, source and result interleaved: {r.ms_before:.4f} -> {r.ms_after:.4f} ms "
                 f"per call ({verdict})")
    return line
