"""Search architectures from a search-space YAML with Optuna: validation macro-F1 against MACs.

With no arguments it runs a short real search on the embedded synthetic data and leaves, in
runs/search/: the Pareto front (pareto.csv, pareto/*.yaml, pareto_front.png/.html), every trial
(trials.csv), and the recommended model YAML (best.yaml) for train.py. Run it again to add trials
to the same study; Ctrl-C stops cleanly and keeps every finished trial.

  slimnas search --n-trials 50 --timeout 3600 --max-macs 5e6
  PGPASSWORD=... slimnas search --storage postgresql://user@host/db --study big   # one per machine
  SLIMNAS_STORAGE=postgresql://user@host/db slimnas search --study big          # the same, URL from the env
  optuna-dashboard sqlite:///runs/search/study.db
"""


from ..cli import ArgumentParser
from ..search import SearchConfig, run_search
from ..search.pruning import RANK_BY


def _limit(text: str) -> float | None:
    """A budget flag: a number, or 'none' for no limit (checked to be > 0 with the other settings)."""
    return None if text.lower() in ("none", "inf") else float(text)


def build_parser() -> ArgumentParser:
    """The search's flags, one ``add_argument`` each (long because the search has many knobs, not many steps)."""
    d = SearchConfig()
    p = ArgumentParser(description=__doc__)
    p.add_argument("--space", default=d.space, help="search-space YAML (default: %(default)s)")
    p.add_argument("--data", default=None, help="data YAML (default: the embedded synthetic data)")
    p.add_argument("--study", default=d.study, help="study name; an existing one is resumed (default: %(default)s)")
    p.add_argument("--out", default=d.out, help="outputs go to OUT/STUDY/ (default: %(default)s)")
    p.add_argument("--storage", default=None,
                   help="Optuna storage URL (postgresql://, mysql://, sqlite:///) or a journal file *.log "
                        "(default: $SLIMNAS_STORAGE, else sqlite:///OUT/STUDY/study.db); keep passwords in "
                        "PGPASSWORD or ~/.pgpass, not here")
    p.add_argument("--n-trials", type=int, default=d.n_trials, help="trials to add in this run (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=None, help="stop starting trials after this many seconds")
    p.add_argument("--n-workers", type=int, default=d.n_workers, help="worker processes on this machine (default: 1)")
    p.add_argument("--epochs", type=int, default=d.epochs, help="training epochs per trial (default: %(default)s)")
    p.add_argument("--steps", type=int, default=None,
                   help="train a trial for this many optimisation steps instead of --epochs (the epochs follow from "
                        "the data's size and batch: small datasets get more)")
    p.add_argument("--sampler", choices=["tpe", "nsga2", "random"], default=d.sampler,
                   help="Optuna sampler (random: the control a guided search must beat)")
    p.add_argument("--mode", choices=["pareto", "score"], default=d.mode,
                   help="pareto: maximise F1 and minimise MACs; score: minimise MACs/MACs_ref + F1 term")
    p.add_argument("--max-macs", type=_limit, default=d.max_macs,
                   help="MACs budget; a candidate above it is never trained ('none': no budget) (default: %(default)g)")
    p.add_argument("--macs-convention", choices=["aten", "pytorch"], default=None,
                   help="how MACs are counted: aten (papers' convention) or pytorch (ptflops' module hooks, "
                        "activations ignored, as the competition counted) (default: pytorch with --mode score, else aten)")
    p.add_argument("--max-params", type=_limit, default=None, help="parameter budget (default: none)")
    p.add_argument("--objective", choices=["macs", "latency"], default=d.objective,
                   help="what the pareto mode trades F1 against: MACs, or latency predicted for the runtime below "
                        "(every trial records both)")
    p.add_argument("--max-latency-ms", type=_limit, default=None,
                   help="latency budget in ms on the runtime below: over-budget candidates are never trained")
    p.add_argument("--latency-threads", type=int, default=d.latency_threads, help="ONNX Runtime threads (default 1)")
    p.add_argument("--latency-batch", type=int, default=d.latency_batch, help="batch size the model runs at (default 1)")
    p.add_argument("--macs-ref", type=float, default=d.macs_ref, help="score mode reference MACs")
    p.add_argument("--f1-ref", type=float, default=d.f1_ref, help="score mode reference F1")
    p.add_argument("--rank-by", choices=RANK_BY, default=d.rank_by,
                   help="what ranks trials at the pruner's rungs and picks the recommendation: val macro-F1, or the "
                        "class-balanced val NLL (smooth where macro-F1 on 1-3 val images per label jumps; on dev it ranked "
                        "no better); the front is val macro-F1 against cost either way (default: %(default)s)")
    p.add_argument("--start-margin", type=float, default=d.start_margin,
                   help="keep the space's start point as the recommendation unless a trial trained as far beats its val "
                        "macro-F1 by more than this, raised for the number of rivals (the gain one rival as good as the start point "
                        "reaches 5 %% of the time, measured on dev; 0: off; default %(default)s)")
    p.add_argument("--pruner", choices=["asha", "dominance", "none"], default=d.pruner,
                   help="asha: successive halving, a trial goes on at each rung (epochs/3^k) only if it ranks in the "
                        "top third on (F1, cost); dominance: stop a trial a finished one beats at the same epoch; "
                        "none: train every feasible trial for all epochs (default: %(default)s)")
    p.add_argument("--reduction", type=int, default=d.reduction, help="asha: 1 in this many trials goes on at a rung")
    p.add_argument("--no-prune", action="store_true", help="same as --pruner none")
    p.add_argument("--prune-after", type=int, default=None,
                   help="dominance: first epoch a trial may be stopped (default: a quarter of --epochs, at least 2)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device, help="auto, cpu, cuda or cuda:N")
    p.add_argument("--heartbeat", type=int, default=d.heartbeat,
                   help="seconds between running trials' heartbeats; a trial silent for twice that is failed and "
                        "retried (database storages; 0: off) (default: %(default)s)")
    p.add_argument("--retries", type=int, default=d.retries, help="reruns of a trial lost with its worker")
    p.add_argument("--revalidate", type=int, default=d.revalidate,
                   help="after the search, train this many best front trials again on other hold-out splits and "
                        "recommend by the mean val F1 (less noisy than one split; outside --timeout) (default: off)")
    p.add_argument("--revalidate-splits", type=int, default=d.revalidate_splits,
                   help="extra hold-out splits per re-validated trial (default: %(default)s)")
    return p


def main() -> None:
    a = build_parser().parse_args()
    cfg = SearchConfig(space=a.space, data=a.data, study=a.study, out=a.out, storage=a.storage, n_trials=a.n_trials,
                       timeout=a.timeout, n_workers=a.n_workers, epochs=a.epochs, steps=a.steps, sampler=a.sampler, mode=a.mode,
                       max_macs=a.max_macs, macs_convention=a.macs_convention, max_params=a.max_params, macs_ref=a.macs_ref, f1_ref=a.f1_ref,
                       rank_by=a.rank_by, start_margin=a.start_margin, pruner='none' if a.no_prune else a.pruner, reduction=a.reduction, prune_after=a.prune_after, seed=a.seed, device=a.device,
                       heartbeat=a.heartbeat, retries=a.retries, objective=a.objective, revalidate=a.revalidate,
                       revalidate_splits=a.revalidate_splits,
                       max_latency_ms=a.max_latency_ms, latency_threads=a.latency_threads, latency_batch=a.latency_batch)
    run_search(cfg)

