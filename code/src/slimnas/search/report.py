"""What a finished (or interrupted) search leaves in ``runs/<study>/``.

- ``trials.csv``: every trial with its state, val F1, val NLL, MACs, params, epochs, wall time and reason;
- ``pareto.csv`` and ``pareto/trial_NNNN.yaml``: the feasible Pareto front of val F1 against cost, cheapest first;
- ``best.yaml``: the recommended model (best F1 within the budget, but the space's start point unless that is beaten by
  more than ``--start-margin``; with ``--rank-by val_nll`` the lowest
  class-balanced val NLL of the trials trained furthest; in score mode the best competition score), and ``best.json``:
  its trial, settings and the retrain command, which starts from the weights that trial trained
  (``trials/NNNN/best.pt``, ``--initial-checkpoint``);
- ``pareto_front.html`` (two-objective mode), ``history.html`` (plotly) and ``pareto_front.png``
  (matplotlib, for READMEs);
- ``revalidated.csv`` (with ``--revalidate``): the best front trials' val F1 on every hold-out split, and the mean
  the recommendation went by.
"""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path
from typing import Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from ..io import atomic_path, write_csv, write_json, write_yaml
from .config import SearchConfig
from .objective import trial_folder
from .pareto import non_dominated_fronts
from .score import competition_score
from .space import load_search_space


TRIAL_COLUMNS = ["trial", "state", "val_f1", "val_nll", "macs", "latency_ms", "params", "epochs", "seconds", "gate_ms", "note"]


def trained(study: optuna.Study) -> list[FrozenTrial]:
    """Completed trials that were actually trained (not rejected by the budget gate)."""
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if "f1" in t.user_attrs and "rejected" not in t.user_attrs and "duplicate_of" not in t.user_attrs]


def pareto_front(trials: Sequence[FrozenTrial], key: str = "macs") -> list[FrozenTrial]:
    """Trials no other trial beats on both F1 (higher) and cost (lower: ``key`` is macs or latency_ms), cheapest first."""
    trials = [t for t in trials if key in t.user_attrs]
    fronts = non_dominated_fronts([(t.user_attrs["f1"], t.user_attrs[key]) for t in trials])
    front = [trials[i] for i in fronts[0]] if fronts else []
    return sorted(front, key=lambda t: (t.user_attrs[key], -t.user_attrs["f1"]))


def recommend(front: Sequence[FrozenTrial], cfg: "SearchConfig", revalidated: dict | None = None,
              done: Sequence[FrozenTrial] = ()) -> FrozenTrial:
    """Best F1 within the budget (or best competition score); with ``revalidated`` (trial -> F1 on extra splits),
    only the re-validated trials compete, by their mean F1 over every split. Ranked by val NLL (``cfg.rank_by``,
    pareto mode), the trained trial (of ``done``, else of ``front``) with the lowest class-balanced val NLL among
    those trained furthest: it need not be on the F1 front."""
    ranked = [t for t in (done or front) if "nll" in t.user_attrs]
    if cfg.rank_by == "val_nll" and cfg.mode != "score" and not revalidated and ranked:
        furthest = max(t.user_attrs.get("epochs", 0) for t in ranked)  # a trial stopped at a rung lost there
        return min((t for t in ranked if t.user_attrs.get("epochs", 0) == furthest),
                   key=lambda t: (t.user_attrs["nll"], t.user_attrs[cfg.cost_key]))
    if revalidated:
        front = [t for t in front if str(t.number) in revalidated] or front
    f1 = (lambda t: statistics.mean(split_f1s(t, revalidated))) if revalidated else (lambda t: t.user_attrs["f1"])
    if cfg.mode == "score":
        return min(front, key=lambda t: competition_score(t.user_attrs["macs"], f1(t), cfg.macs_ref, cfg.f1_ref))
    return max(front, key=lambda t: (f1(t), -t.user_attrs[cfg.cost_key]))


def recommendation(study: optuna.Study, cfg: "SearchConfig") -> tuple[FrozenTrial | None, str | None]:
    """(the search's pick, why the start point was kept over a better-scored trial, if it was): :func:`recommend`
    on the trained trials, then :func:`keep_start` (pareto mode, ranked by val F1, no revalidation). What
    ``best.json`` holds, and what a bench that runs the road must retrain."""
    done = trained(study)
    if not done:
        return None, None
    revalidated = study.user_attrs.get("revalidated", {})
    best = recommend(pareto_front(done, cfg.cost_key), cfg, revalidated, done)
    if cfg.mode == "score" or cfg.rank_by != "val_f1" or revalidated:
        return best, None
    return keep_start(best, done, load_search_space(cfg.space).start, cfg.start_margin)


def start_trials(done: Sequence[FrozenTrial], starts: Sequence[dict]) -> list[FrozenTrial]:
    """The trained trials that are one of the space's start points (their parameters, whatever else was sampled)."""
    return [t for t in done if any(all(t.params.get(k) == v for k, v in point.items()) for point in starts)]


# A trial's val F1 varies over training seeds up to twice as much as over which val images are scored: on dev the
# tiny start point's 6-epoch trial had seed sd 0.0311 over 10 seeds and a bootstrap sd (train.metrics.macro_f1_sd) of
# 0.0158 on average; its 6 random candidates 0.0169 pooled against 0.0152, 4 seeds each (bench/start_margin.py). The
# larger ratio is kept, erring towards the start point. The bootstrap sd is measured on the user's own val split in
# every search, so the ratio carries the margin to data with fewer val images per label, where both are larger.
SEED_SD_PER_BOOTSTRAP_SD = 2.0


def keep_start(best: FrozenTrial, done: Sequence[FrozenTrial], starts: Sequence[dict], margin: float
               ) -> tuple[FrozenTrial, str | None]:
    """(the recommendation, why the start point was kept): a start point trained as far as ``best`` stays unless
    ``best`` beats its val F1 by more than the noise of that comparison: ``margin``, or, when larger, z·√2·sd with
    sd the start trial's seed sd estimated from its val bootstrap sd (:data:`SEED_SD_PER_BOOTSTRAP_SD`); either
    raised for the number of rivals (:func:`rival_margin`)."""
    furthest = best.user_attrs.get("epochs", 0)
    points = start_trials(done, starts)
    incumbents = [t for t in points if t.user_attrs.get("epochs", 0) >= furthest]
    if not margin or not incumbents or best in incumbents:
        return best, None
    start = max(incumbents, key=lambda t: t.user_attrs["f1"])
    rivals = [t for t in done if t.user_attrs.get("epochs", 0) >= furthest and t not in points]
    noise = Z_ONE_RIVAL * 2 ** 0.5 * SEED_SD_PER_BOOTSTRAP_SD * start.user_attrs.get("f1_sd", 0.0)
    needed = rival_margin(max(margin, noise), len(rivals))
    gain = best.user_attrs["f1"] - start.user_attrs["f1"]
    if gain > needed:
        return best, None
    return start, (f"trial {best.number} beat the space's start point (trial {start.number}) by {gain:+.4f} val "
                   f"macro-F1, within the {needed:.4f} that the best of {len(rivals)} equal rival(s) reaches by chance "
                   f"(--start-margin {margin:g} for one, or its val F1's own noise {noise:.4f} if larger): the start "
                   f"point is kept")


ALPHA = 0.05  # the chance that a rival as good as the start point is picked over it
Z_ONE_RIVAL = statistics.NormalDist().inv_cdf(1 - ALPHA)


def rival_margin(margin: float, rivals: int) -> float:
    """The gain the best of ``rivals`` trials must show over the start point: ``margin`` lets one rival as good as
    the start point through :data:`ALPHA` of the time (z·√2·sd, sd the spread of a trial's val F1 over seeds); the
    best of k such rivals lands higher by chance, so z rises to the normal quantile at 1 − ALPHA/k (Bonferroni)."""
    return margin * statistics.NormalDist().inv_cdf(1 - ALPHA / max(rivals, 1)) / Z_ONE_RIVAL


def split_f1s(trial: FrozenTrial, revalidated: dict) -> list[float]:
    """The trial's val F1 on the search's split, then on every extra split it was trained on."""
    return [trial.user_attrs["f1"], *revalidated.get(str(trial.number), [])]


def trial_note(t: FrozenTrial) -> str:
    """Why a trial was not (fully) trained, or ''."""
    a = t.user_attrs
    return a.get("rejected") or a.get("pruned") or a.get("fail_reason") or (
        f"same candidate as trial {a['duplicate_of']}; not trained again" if "duplicate_of" in a else "")


def _row(t: FrozenTrial) -> list:
    a, note = t.user_attrs, trial_note(t)
    return [t.number, t.state.name, a.get("f1", ""), a.get("nll", ""), a.get("macs", ""), a.get("latency_ms", ""), a.get("params", ""),
            a.get("epochs", ""),
            a.get("seconds", ""), a.get("gate_ms", ""), note]


def format_table(front: Sequence[FrozenTrial], best: FrozenTrial | None) -> str:
    """The front, and the recommended trial under it when it is not on the F1 front (picked by val NLL)."""
    lines = [f"{'trial':>5}  {'val F1':>7}  {'val NLL':>7}  {'MACs (M)':>9}  {'ORT ms':>7}  {'params (k)':>10}  "
             f"{'epochs':>6}  {'s':>6}"]
    for t in [*front, *([best] if best is not None and best not in front else [])]:
        a = t.user_attrs
        ms = f"{a['latency_ms']:>7.3f}" if "latency_ms" in a else f"{'–':>7}"
        nll = f"{a['nll']:>7.4f}" if "nll" in a else f"{'–':>7}"
        lines.append(f"{t.number:>5}  {a['f1']:>7.4f}  {nll}  {a['macs'] / 1e6:>9.3f}  {ms}  {a['params'] / 1e3:>10.1f}  "
                     f"{a.get('epochs', 0):>6}  {a.get('seconds', 0):>6.0f}{'  <- recommended' if t is best else ''}")
    return "\n".join(lines)


def train_hparams(trial: FrozenTrial) -> dict:
    """The training hyper-parameters ``trial`` trained with: the space's fixed values too, not only the sampled
    ones (studies from before the ``hparams`` attribute fall back to the sampled ``train.*`` params)."""
    if "hparams" in trial.user_attrs:
        return dict(trial.user_attrs["hparams"])
    return {k.removeprefix("train."): v for k, v in trial.params.items() if k.startswith("train.")}


def trial_weights(trial: FrozenTrial, run_dir: Path) -> Path | None:
    """The checkpoint ``trial`` trained (its twin's, for a duplicate), while it is still on disk: what the
    retrain starts from, so the search's epochs on the pick are not thrown away."""
    path = trial_folder(run_dir, trial.user_attrs.get("duplicate_of", trial.number)) / "best.pt"
    return path if path.is_file() else None


def write_report(study: optuna.Study, cfg: "SearchConfig", baselines: Sequence[dict] = ()) -> FrozenTrial | None:
    """Write the files listed in the module docstring; return the recommended trial (None if none trained)."""
    out = cfg.run_dir
    write_csv(out / "trials.csv", TRIAL_COLUMNS, [_row(t) for t in study.get_trials(deepcopy=False)])
    done = trained(study)
    if not done:
        return None
    front = pareto_front(done, cfg.cost_key)
    revalidated = study.user_attrs.get("revalidated", {})
    best, kept = recommendation(study, cfg)
    if revalidated:
        write_revalidated(front, revalidated, out / "revalidated.csv", best)
    write_csv(out / "pareto.csv", ["trial", "val_f1", "macs", "latency_ms", "params", "epochs", "seconds", "yaml"],
              [[t.number, t.user_attrs["f1"], t.user_attrs["macs"], t.user_attrs.get("latency_ms"), t.user_attrs["params"],
                t.user_attrs.get("epochs"),
                t.user_attrs.get("seconds"), f"pareto/trial_{t.number:04d}.yaml"] for t in front])
    if (out / "pareto").exists():
        shutil.rmtree(out / "pareto")  # the front moves as trials arrive; stale members must go
    for t in front:
        write_yaml(out / "pareto" / f"trial_{t.number:04d}.yaml", t.user_attrs["model"])
    write_yaml(out / "best.yaml", best.user_attrs["model"])
    hparams = train_hparams(best)
    command = f"slimnas train --model {out / 'best.yaml'}" + (f" --data {cfg.data}" if cfg.data else "") + "".join(
        f" --{k.replace('_', '-')} {v:.6g}" if isinstance(v, float) else f" --{k.replace('_', '-')} {v}"
        for k, v in hparams.items())
    weights = trial_weights(best, out)
    if weights is not None:
        command += f" --initial-checkpoint {weights}"
    write_json(out / "best.json", {"trial": best.number, "f1": best.user_attrs["f1"], "nll": best.user_attrs.get("nll"),
                                   "rank_by": cfg.rank_by, "start_kept": kept, "macs": best.user_attrs["macs"],
                                   **({"f1_per_split": split_f1s(best, revalidated)} if revalidated else {}),
                                   "latency_ms": best.user_attrs.get("latency_ms"), "objective": cfg.objective,
                                   "params": best.user_attrs["params"], "yaml": str(out / "best.yaml"),
                                   "train": hparams, "weights": str(weights) if weights else None,
                                   "command": command})
    limit = cfg.max_latency_ms if cfg.cost_key == "latency_ms" else cfg.max_macs
    plot_front_png(done, front, out / "pareto_front.png", limit, baselines, key=cfg.cost_key)
    _plotly(study, out, "MACs" if cfg.cost_key == "macs" else "ORT ms")
    print(format_table(front, best))
    if kept:
        print(kept)
    print(f"recommended: trial {best.number} -> {out / 'best.yaml'} (and best.json)\nnext: {command}")
    return best


def plot_front_png(trials: Sequence[FrozenTrial], front: Sequence[FrozenTrial], path: Path,
                   max_macs: float | None = None, baselines: Sequence[dict] = (),
                   marks: Sequence[tuple[float, str]] = (), key: str = "macs") -> None:
    """The front over all trained trials, baselines as squares, the budget and ``marks`` (cost, label) as
    vertical lines; ``key`` picks the x axis: ``macs`` (``max_macs`` the budget) or ``latency_ms``."""
    scale, unit = (1e6, "MACs (millions, log scale)") if key == "macs" else (1.0, "ONNX Runtime ms per image (log scale)")
    trials = [t for t in trials if key in t.user_attrs]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    ax.scatter([t.user_attrs[key] / scale for t in trials], [t.user_attrs["f1"] for t in trials],
               s=18, c="0.7", label="trained trials")
    ax.plot([t.user_attrs[key] / scale for t in front], [t.user_attrs["f1"] for t in front],
            "o-", c="tab:red", ms=5, drawstyle="steps-post", label="Pareto front")
    for b in baselines:
        if key in b:
            ax.scatter([b[key] / scale], [b["f1"]], marker="s", s=40, zorder=3, label=b["name"])
    if max_macs:
        shown = f"MACs budget {max_macs / 1e6:g} M" if key == "macs" else f"latency budget {max_macs:g} ms"
        ax.axvline(max_macs / scale, ls="--", c="0.4", lw=0.8, label=shown)
    for cost, label in marks:
        ax.axvline(cost / scale, ls=":", c="tab:purple", lw=1.2, label=label)
    ax.set_xscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")  # 0.5, 1, 2, 5, 10 rather than 10^0
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: plain(v) if f"{v:.0e}"[0] in "25" else ""))
    ax.set_xlabel(unit)
    ax.set_ylabel("validation macro-F1")
    ax.set_title(f"architecture search: macro-F1 vs {'MACs' if key == 'macs' else 'measured latency'}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")  # the top-left corner (tiny and accurate) stays empty
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def _plotly(study: optuna.Study, out: Path, cost_name: str = "MACs") -> None:
    """Interactive plots; plotly.js is written once beside them so they open offline."""
    from optuna.visualization import plot_optimization_history, plot_pareto_front

    figs = {}
    if len(study.directions) == 2:
        figs["pareto_front.html"] = plot_pareto_front(study, target_names=["val macro-F1", cost_name])
        figs["history.html"] = plot_optimization_history(study, target=lambda t: t.values[0], target_name="val macro-F1")
    else:
        figs["history.html"] = plot_optimization_history(study, target_name="competition score (lower is better)")
    for name, fig in figs.items():
        with atomic_path(out / name) as tmp:
            fig.write_html(str(tmp), include_plotlyjs="directory")


def write_revalidated(front: Sequence[FrozenTrial], revalidated: dict, path, best: FrozenTrial | None) -> None:
    rows = []
    for t in front:
        if str(t.number) not in revalidated:
            continue
        f1s = split_f1s(t, revalidated)
        rows.append([t.number, t.user_attrs["macs"], round(statistics.mean(f1s), 5),
                     round(statistics.stdev(f1s), 5) if len(f1s) > 1 else 0.0, " ".join(f"{v:.5f}" for v in f1s),
                     "yes" if t is best else ""])
    write_csv(path, ["trial", "macs", "mean_val_f1", "sd", "val_f1_per_split", "recommended"], rows)
