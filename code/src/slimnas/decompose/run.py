"""decompose.py's job: checkpoint in, decomposed checkpoint + the rank_cfg it used + a report out."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..io import run_lock, write_csv, write_yaml
from ..macs import count_macs
from ..train.checkpoint import model_from_checkpoint, save_checkpoint
from .model import auto_rank_cfg, decompose_model, load_rank_cfg, resolve_spec

REPORT_COLUMNS = ["layer", "shape", "method", "ranks", "macs_before", "macs_after", "params_before", "params_after",
                  "rel_error"]


@dataclass
class DecomposeResult:
    checkpoint: Path
    rank_cfg: Path
    rows: list[dict]
    macs_before: int
    macs_after: int
    params_before: int
    params_after: int


def decompose_checkpoint(weight: str | Path, out: str | Path, rank_cfg: str | Path | None = None,
                         target_macs: float | None = None, energy: float | None = None, vbmf: bool = False,
                         conv_method: str = "tucker", save_name: str = "decomposed.pt",
                         verbose: bool = True) -> DecomposeResult:
    """Decompose the model in ``weight``; ranks from ``rank_cfg``, or chosen by one automatic rule.

    Every input is checked before anything is written, so a bad rank_cfg leaves ``out`` untouched.
    """
    rules = [r for r, on in (("rank_cfg", rank_cfg), ("target", target_macs), ("energy", energy), ("vbmf", vbmf)) if on]
    if len(rules) > 1:
        raise ConfigError(f"choose one way to set ranks, got {', '.join(rules)}")
    model, ckpt = model_from_checkpoint(weight)
    if ckpt.get("decomposition"):
        raise ConfigError(f"{weight}: is already decomposed; decompose the original checkpoint instead")
    size = int(ckpt["preprocessing"]["input_size"])
    before = count_macs(model, size)
    if rank_cfg:
        spec = resolve_spec(model, load_rank_cfg(rank_cfg), f"rank_cfg {rank_cfg}")
    elif energy:
        spec = resolve_spec(model, auto_rank_cfg(model, size, "energy", energy, conv_method))
    elif vbmf:
        spec = resolve_spec(model, auto_rank_cfg(model, size, "vbmf", conv_method=conv_method))
    else:
        spec = resolve_spec(model, auto_rank_cfg(model, size, "target", target_macs or 0.5, conv_method, before.macs))
    target = (target_macs or 0.5) if not (rank_cfg or energy or vbmf) else None
    out = Path(out)
    with run_lock(out):
        return _decompose(model, ckpt, spec, weight, out, size, before, save_name, verbose, target)


def _decompose(model, ckpt, spec, weight, out: Path, size: int, before, save_name: str, verbose: bool,
               target: float | None) -> DecomposeResult:
    rows = decompose_model(model, spec, size)
    after = count_macs(model, size)
    metrics = {**ckpt.get("metrics", {}), "macs": after.macs, "params": after.params,
               "macs_undecomposed": before.macs, "params_undecomposed": before.params}
    metrics["decomposed_from"] = str(weight)  # finetune_inference.py distils from it by default
    metrics.pop("val_f1", None)  # no longer true of this model; fine-tuning measures it again
    path = save_checkpoint(out / save_name, model, ckpt["model"], ckpt["classes"], ckpt["preprocessing"],
                           metrics=metrics, decomposition=spec)
    cfg_path = write_yaml(out / "rank_cfg.yaml", spec)
    write_csv(out / "report.csv", REPORT_COLUMNS,
              [[r[c] if c != "ranks" else " ".join(map(str, r[c])) for c in REPORT_COLUMNS] for r in rows])
    result = DecomposeResult(path, Path(cfg_path), rows, before.macs, after.macs, before.params, after.params)
    if verbose:
        print(format_report(result))
    if target is not None and after.macs > target * before.macs * 1.01:
        print(f"warning: --target-macs {target:g} not reached: decomposing every layer that gets cheaper keeps "
              f"{after.macs / before.macs:.1%} of the MACs ({after.macs:,} of {before.macs:,}); the rest is in "
              f"layers no method here makes cheaper", file=sys.stderr, flush=True)
    return result


def format_report(r: DecomposeResult) -> str:
    lines = [f"{'layer':<32} {'shape':>14} {'method':>9} {'ranks':>9} {'MACs before':>12} {'after':>10} "
             f"{'params before':>13} {'after':>8} {'rel err':>8}"]
    for x in r.rows:
        lines.append(f"{x['layer']:<32} {x['shape']:>14} {x['method']:>9} {' '.join(map(str, x['ranks'])) or '-':>9} "
                     f"{x['macs_before']:>12,} {x['macs_after']:>10,} {x['params_before']:>13,} {x['params_after']:>8,} "
                     f"{x['rel_error']:>8.4f}")
    lines.append(f"model: MACs {r.macs_before / 1e6:.3f} M -> {r.macs_after / 1e6:.3f} M "
                 f"({r.macs_after / r.macs_before:.1%}), params {r.params_before / 1e3:.1f} k -> {r.params_after / 1e3:.1f} k; "
                 f"{len(r.rows)} layers decomposed -> {r.checkpoint} (ranks: {r.rank_cfg})")
    return "\n".join(lines)
