"""prune.py's job: checkpoint in, pruned checkpoint + a per-layer report + its measurements out."""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass
from pathlib import Path

from ..checkpoint import compressed_from, model_from_checkpoint, save_checkpoint
from ..errors import ConfigError
from ..io import file_set, run_lock, write_csv, write_json
from ..latency.measure import DeployTarget, interleaved
from ..latency.table import model_call
from ..macs import count_macs
from ..pruned import channel_sizes, channel_spec
from .model import MAX_RATIO, ROUND_TO, prune_channels, smallest_ratio, widen_depthwise

OUTPUTS = ("report.csv", "prune.json")  # written with the checkpoint, as one set
REPORT_COLUMNS = ["layer", "size", "before", "after"]


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
                     verbose: bool = True) -> PruneResult:
    """Prune the model in ``weight`` by one rule: a fixed ``ratio`` of every layer group's channels, the
    smallest ratio that keeps ``target_macs`` of its MACs, or the least pruned of a grid of candidates that
    keeps ``target_latency`` of its time measured on ``runtime`` (``None``: no timing). Channel counts are
    multiples of ``round_to`` (default 8; the latency rule measures 1, 8 and 16). ``widen``: first make grouped
    convs with a channel multiplier depthwise (:func:`~slimnas.prune.model.widen_depthwise`, exact); ``None``:
    the latency rule measures both ways (the widened model unpruned among them), the MACs rule keeps the way that
    prunes the smaller ratio, a fixed ratio does not widen. Every input is checked before anything is written."""
    rules = [r for r, on in (("--ratio", ratio is not None), ("--target-macs", target_macs is not None),
                             ("--target-latency", target_latency is not None)) if on]
    if len(rules) > 1:
        raise ConfigError(f"choose one way to set how much to prune, got {', '.join(rules)}")
    if target_latency is not None and runtime is None:
        raise ConfigError("--target-latency measures the runtime; drop --no-timing")
    if (Path(out) / save_name).resolve() == Path(weight).resolve():
        raise ConfigError(f"{weight}: is the checkpoint being pruned; writing {save_name} into {out} would replace "
                          f"it: give another output folder or save name")
    model, ckpt = model_from_checkpoint(weight)
    if ckpt.get("decomposition"):
        raise ConfigError(f"{weight}: is decomposed; prune the trained checkpoint, then decompose the pruned one")
    size, classes = int(ckpt["preprocessing"]["input_size"]), len(ckpt["classes"])
    before = count_macs(model, size, convention=macs_convention)
    sizes_before = channel_sizes(model)
    widened = copy.deepcopy(model)
    if not widen_depthwise(widened):
        widen = False  # nothing to widen: the two ways are one
    ways = {w: widened if w else model for w in ((False, True) if widen is None else (widen,))}

    def prune(m, r, k=round_to or ROUND_TO):
        return prune_channels(m, size, r, classes, criterion, k if k > 1 else None)

    source = model_call(model, size, runtime) if runtime is not None else None
    candidates = []
    if target_latency is not None:
        if not 0 < target_latency <= 1:
            raise ConfigError(f"--target-latency must be a fraction in (0, 1], got {target_latency}")
        ratio, round_to, widen, pruned, candidates = fastest_enough(ways, prune, size, runtime, source, target_latency,
                                                                    [round_to] if round_to else LATENCY_ROUNDINGS)
    elif ratio is None:
        fraction = 0.5 if target_macs is None else target_macs
        if not 0 < fraction <= 1:
            raise ConfigError(f"--target-macs must be a fraction in (0, 1], got {fraction}")
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
              "candidates": candidates,
              "macs_before": before.macs, "macs_after": after.macs, "params_before": before.params,
              "params_after": after.params}
    if runtime is not None:
        t = interleaved({"before": source, "after": model_call(pruned, size, runtime)}, max_rounds=30)
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


# The latency rule's candidates: every ratio here at each rounding (1: any count), each way (widened or not; the
# widened model unpruned too), all timed in one interleaved loop. Speed is not monotonic in the ratio nor in the
# rounding, so it measures a grid rather than bisect: on the
# tiny space's start point (python bench/prune_latency.py, 1 thread, batch 1) 30 % at any count ran 0.92x as fast
# as the whole model and 1.23x at multiples of 16, while 50 % at any count (halving the 8-channel stem at full
# resolution, which multiples of 8 keep whole) ran 1.68x and at multiples of 8 1.20x.
LATENCY_RATIOS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
LATENCY_ROUNDINGS = (1, 8, 16)


def fastest_enough(ways: dict[bool, object], prune, size: int, runtime: DeployTarget, source, target: float,
                   roundings) -> tuple[float, int, bool, object, list[dict]]:
    """The candidate that keeps the most MACs among those timed at most ``target`` × the source (interleaved with
    it in one loop), else the fastest. ``ways``: the model, and widened (True) if it can be. Returns (ratio,
    rounding, widened, pruned model, every candidate's record)."""
    variants = {(r, k, w): prune(copy.deepcopy(m), r, k) for w, m in ways.items() for r in LATENCY_RATIOS
                for k in roundings}
    if True in ways:
        variants[(0.0, 1, True)] = copy.deepcopy(ways[True])
    t = interleaved({"source": source, **{key: model_call(m, size, runtime) for key, m in variants.items()}},
                    max_rounds=20)
    records = [{"ratio": r, "round_to": k, "widened": w, "macs": count_macs(m, size).macs,
                "time_kept": round(t[(r, k, w)].ms / t["source"].ms, 4)} for (r, k, w), m in variants.items()]
    enough = [x for x in records if x["time_kept"] <= target]
    pick = max(enough, key=lambda x: x["macs"]) if enough else min(records, key=lambda x: x["time_kept"])
    key = (pick["ratio"], pick["round_to"], pick["widened"])
    return *key, variants[key], records


def _warn(r: PruneResult, target_macs: float | None, target_latency: float | None) -> None:
    if r.slower:
        print(f"warning: the pruned model is SLOWER than its source on {r.runtime}: {r.ms_before:.4f} -> "
              f"{r.ms_after:.4f} ms per call, timed interleaved; prune with --target-latency, or keep the original",
              file=sys.stderr, flush=True)
    kept = (r.macs_after / r.macs_before, target_macs, "MACs") if target_macs else \
        (r.ms_after / r.ms_before, target_latency, "measured time") if target_latency and r.ms_before else None
    if kept and kept[0] > kept[1] * 1.01:
        how = (f"pruning {MAX_RATIO:.0%} of every layer group's channels" if target_macs else
               f"the grid's pick ({r.ratio:.0%} of the channels{', widened' if r.widened else ''}), timed again "
               f"against the source,")
        print(f"warning: {'--target-macs' if target_macs else '--target-latency'} {kept[1]:g} not reached: {how} "
              f"keeps {kept[0]:.1%} of the {kept[2]}", file=sys.stderr, flush=True)


def format_report(r: PruneResult) -> str:
    line = (f"{'widened grouped convs to depthwise, ' if r.widened else ''}pruned {r.ratio:.1%} of each layer group's "
            f"channels: MACs {r.macs_before / 1e6:.3f} M -> "
            f"{r.macs_after / 1e6:.3f} M ({r.macs_after / r.macs_before:.1%}), params {r.params_before / 1e3:.1f} k -> "
            f"{r.params_after / 1e3:.1f} k -> {r.checkpoint}")
    if r.ms_before is not None:
        verdict = "SLOWER than the source" if r.slower else f"{r.ms_before / r.ms_after:.2f}x faster"
        line += (f"\nmeasured on {r.runtime}, source and result interleaved: {r.ms_before:.4f} -> {r.ms_after:.4f} ms "
                 f"per call ({verdict})")
    return line
