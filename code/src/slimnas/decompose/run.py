"""decompose.py's job: checkpoint in, decomposed checkpoint + the rank_cfg it used + a report out."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..io import file_set, run_lock, write_csv, write_json, write_yaml
from ..latency.measure import DeployTarget
from ..latency.table import LatencyTable
from ..macs import count_macs
from ..checkpoint import compressed_from, model_from_checkpoint, save_checkpoint
from ..factorized import replace_layer, resolve_spec
from .model import auto_rank_cfg, decompose_model, input_sizes, load_rank_cfg
from .timing import LayerTimer, ModelTimer, layer_shape

OUTPUTS = ("rank_cfg.yaml", "report.csv", "latency.json")  # written with the checkpoint, as one set
REPORT_COLUMNS = ["layer", "shape", "method", "ranks", "macs_before", "macs_after", "params_before", "params_after",
                  "rel_error", "ms_before", "ms_after"]


@dataclass
class DecomposeResult:
    checkpoint: Path
    rank_cfg: Path
    rows: list[dict]
    macs_before: int
    macs_after: int
    params_before: int
    params_after: int
    ms_before: float | None = None  # the whole model on ``runtime``, timed interleaved with the decomposed one
    ms_after: float | None = None
    runtime: str | None = None

    @property
    def slower(self) -> bool:
        return self.ms_before is not None and self.ms_after >= self.ms_before


def decompose_checkpoint(weight: str | Path, out: str | Path, rank_cfg: str | Path | None = None,
                         target_macs: float | None = None, energy: float | None = None, vbmf: bool = False,
                         conv_method: str = "tucker", save_name: str = "decomposed.pt",
                         verbose: bool = True, target_latency: float | None = None,
                         runtime: DeployTarget | None = DeployTarget(), table: LatencyTable | None = None) -> DecomposeResult:
    """Decompose the model in ``weight``; ranks from ``rank_cfg``, or chosen by one automatic rule.

    ``runtime`` is where the model will run: ``target_latency`` budgets time measured there, and with
    any rule each layer and the whole model are timed there before and after (``None``: no timing).
    Every input is checked before anything is written, so a bad rank_cfg leaves ``out`` untouched.
    """
    rules = [r for r, on in (("rank_cfg", rank_cfg), ("target", target_macs), ("latency", target_latency),
                             ("energy", energy), ("vbmf", vbmf)) if on]
    if len(rules) > 1:
        raise ConfigError(f"choose one way to set ranks, got {', '.join(rules)}")
    if target_latency is not None and runtime is None:
        raise ConfigError("--target-latency needs a runtime to measure on")
    if (Path(out) / save_name).resolve() == Path(weight).resolve():
        raise ConfigError(f"{weight}: is the checkpoint being decomposed; writing {save_name} into {out} would "
                          f"replace it: give another output folder or save name")
    model, ckpt = model_from_checkpoint(weight)
    if ckpt.get("decomposition"):
        raise ConfigError(f"{weight}: is already decomposed; decompose the original checkpoint instead")
    size = int(ckpt["preprocessing"]["input_size"])
    before = count_macs(model, size)
    layer_timer = LayerTimer(runtime, table) if runtime is not None else None
    model_timer = ModelTimer(runtime) if runtime is not None else None
    source = model_timer.call(model, size) if model_timer else None  # exported before the layers are replaced
    if rank_cfg:
        spec = resolve_spec(model, load_rank_cfg(rank_cfg), f"rank_cfg {rank_cfg}")
    elif energy:
        spec = resolve_spec(model, auto_rank_cfg(model, size, "energy", energy, conv_method))
    elif vbmf:
        spec = resolve_spec(model, auto_rank_cfg(model, size, "vbmf", conv_method=conv_method))
    elif target_latency:
        total = model_timer.alone(model, size).ms
        spec = resolve_spec(model, auto_rank_cfg(model, size, "latency", target_latency, conv_method,
                                                 timer=layer_timer, total_ms=total))
    else:
        spec = resolve_spec(model, auto_rank_cfg(model, size, "target", target_macs or 0.5, conv_method, before.macs))
    target = None if (rank_cfg or energy or vbmf) else ("--target-latency", target_latency) if target_latency \
        else ("--target-macs", target_macs or 0.5)
    out = Path(out)
    with run_lock(out):
        return _decompose(model, ckpt, spec, weight, out, size, before, save_name, verbose, target,
                          layer_timer, model_timer, source)


def _decompose(model, ckpt, spec, weight, out: Path, size: int, before, save_name: str, verbose: bool,
               target, layer_timer, model_timer, source) -> DecomposeResult:
    originals = {name: model.get_submodule(name) for name in spec}
    sizes = input_sizes(model, size)  # each layer's input, which its replacement keeps
    rows = tried = decompose_model(model, spec, size)
    after = count_macs(model, size)
    timed, latency_record = {}, None
    if not rows:
        print("no layer is decomposed: " + ("none is measured faster in a factorised form on "
              f"{model_timer.runtime.describe()}" if target and target[0] == "--target-latency" else
              "no rank choice makes any layer cheaper") + "; the checkpoint written is the model unchanged",
              file=sys.stderr, flush=True)
    elif model_timer is not None:
        timed = _time(model, originals, sizes, rows, size, layer_timer, model_timer, source)
        if target and target[0] == "--target-latency" and timed["after"].ms >= timed["before"].ms:
            latency_record = _revert(model, originals, timed, model_timer)
            spec, after, timed, rows = {}, before, {}, []
    metrics = {**ckpt.get("metrics", {}), "macs": after.macs, "params": after.params,
               "macs_undecomposed": before.macs, "params_undecomposed": before.params}
    metrics["compressed_from"] = compressed_from(ckpt, weight)  # finetune_inference.py distils from it by default
    metrics.pop("val_f1", None)  # no longer true of this model; fine-tuning measures it again
    result = DecomposeResult(out / save_name, out / "rank_cfg.yaml", rows, before.macs, after.macs, before.params,
                             after.params)
    if timed:
        result.ms_before, result.ms_after = timed["before"].ms, timed["after"].ms
        result.runtime = model_timer.runtime.describe()
        latency_record = {"runtime": result.runtime, "before": timed["before"].as_dict(),
                          "after": timed["after"].as_dict(), "slower": result.slower}
    with file_set(out, "decompose", [save_name, *OUTPUTS]) as files:  # a kill leaves the old set or the new one
        save_checkpoint(files.path(save_name), model, ckpt["model"], ckpt["classes"], ckpt["preprocessing"],
                        metrics=metrics, decomposition=spec, channels=ckpt.get("channels"))
        write_yaml(files.path("rank_cfg.yaml"), spec)
        write_csv(files.path("report.csv"), REPORT_COLUMNS,
                  [[r.get(c, "") if c != "ranks" else " ".join(map(str, r[c])) for c in REPORT_COLUMNS] for r in tried])
        if latency_record:
            write_json(files.path("latency.json"), latency_record)
    if verbose:
        print(format_report(result))
    _warn(result, target, bool(spec), after.macs / before.macs)
    return result


def _time(model, originals: dict, sizes: dict, rows: list[dict], size: int, layer_timer, model_timer, source) -> dict:
    """Each decomposed layer before and after (into its report row), and the whole model, interleaved."""
    for row in rows:
        shape = layer_shape(originals[row["layer"]], sizes.get(row["layer"]))
        row["ms_before"] = round(layer_timer(originals[row["layer"]], shape), 5)
        row["ms_after"] = round(layer_timer(model.get_submodule(row["layer"]), shape), 5)
    layer_timer.save()
    return model_timer.compare({"before": source, "after": model_timer.call(model, size)})


def _revert(model, originals: dict, timed: dict, model_timer) -> dict:
    """Put every original layer back: each timed faster alone, the whole model did not, and a latency target never
    ships a slower model. Returns the ``latency.json`` record that says so."""
    print(f"the factorised layers timed faster one by one, but the whole model ran slower "
          f"({timed['before'].ms:.4f} -> {timed['after'].ms:.4f} ms on {model_timer.runtime.describe()}, "
          f"interleaved): no layer is decomposed; the checkpoint written is the model unchanged "
          f"(report.csv keeps what was tried)", file=sys.stderr, flush=True)
    for name, original in originals.items():
        replace_layer(model, name, original)
    return {"runtime": model_timer.runtime.describe(), "before": timed["before"].as_dict(),
            "after": timed["after"].as_dict(), "slower": True, "reverted": True}


def _warn(result: DecomposeResult, target, decomposed: bool, macs_kept: float) -> None:
    """Say on stderr when the result is slower than its source, or keeps more than its target asked."""
    if result.slower:
        print(f"warning: the decomposed model is SLOWER than its source on {result.runtime}: "
              f"{result.ms_before:.4f} -> {result.ms_after:.4f} ms per call, timed interleaved. Fewer MACs did not "
              f"buy speed here; decompose with --target-latency (it keeps only what is measured faster), or keep "
              f"the original", file=sys.stderr, flush=True)
    if target is None or not decomposed or (target[0] != "--target-macs" and result.ms_before is None):
        return
    flag, value = target
    kept = macs_kept if flag == "--target-macs" else (result.ms_after / result.ms_before)
    if kept > value * 1.01:
        what = "MACs" if flag == "--target-macs" else "measured time"
        print(f"warning: {flag} {value:g} not reached: the result keeps {kept:.1%} of the {what}. Where a target "
              f"is out of reach, every layer keeps a relative error <= 0.5 rather than be wrecked; what is left is "
              f"in layers no method here makes cheaper" + (" or faster (see ms before/after per layer)"
                                                             if flag == "--target-latency" else ""),
              file=sys.stderr, flush=True)


def format_report(r: DecomposeResult) -> str:
    timed = r.ms_before is not None
    lines = [f"{'layer':<32} {'shape':>14} {'method':>9} {'ranks':>9} {'MACs before':>12} {'after':>10} "
             f"{'params before':>13} {'after':>8} {'rel err':>8}" + (f" {'ms before':>9} {'after':>8}" if timed else "")]
    for x in r.rows:
        lines.append(f"{x['layer']:<32} {x['shape']:>14} {x['method']:>9} {' '.join(map(str, x['ranks'])) or '-':>9} "
                     f"{x['macs_before']:>12,} {x['macs_after']:>10,} {x['params_before']:>13,} {x['params_after']:>8,} "
                     f"{x['rel_error']:>8.4f}" + (f" {x['ms_before']:>9.4f} {x['ms_after']:>8.4f}" if timed else ""))
    lines.append(f"model: MACs {r.macs_before / 1e6:.3f} M -> {r.macs_after / 1e6:.3f} M "
                 f"({r.macs_after / r.macs_before:.1%}), params {r.params_before / 1e3:.1f} k -> {r.params_after / 1e3:.1f} k; "
                 f"{len(r.rows)} layers decomposed -> {r.checkpoint} (ranks: {r.rank_cfg})")
    if timed:
        verdict = "SLOWER than the source" if r.slower else f"{r.ms_before / r.ms_after:.2f}x faster"
        lines.append(f"measured on {r.runtime}, source and result interleaved: {r.ms_before:.4f} -> "
                     f"{r.ms_after:.4f} ms per call ({verdict}); layer ms are each layer timed alone")
    return "\n".join(lines)
