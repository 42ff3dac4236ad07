"""Train a model YAML (or a timm model YAML) on a data YAML; keeps the best checkpoint by val macro-F1.

With no arguments it trains the tiny baseline on the embedded synthetic MVTec look-alike.

  slimnas train --model my.yaml --data mvtec --dst runs/train/mine
  slimnas train --resume runs/train/mine      # same model, data and settings as the run started with
  slimnas train --model runs/search/best.yaml --teacher runs/train/baseline/best.pt   # distil from a bigger model
  slimnas train --model runs/search/best.yaml --time-budget 1200 --final-fit        # refit on train + val
"""

from pathlib import Path

from ..cli import ArgumentParser, check_output_dir, deprecated_alias
from ..configs import packaged
from ..data.config import DEFAULT_DATA, load_data_config
from ..errors import ConfigError
from ..train import RUN_FILES, TrainConfig, increment_path, resume_training, train
from ..train.threads import LAYOUTS

DEFAULT_MODEL = "baseline"  # packaged configs, by name (slimnas.configs)
HPARAMS = ("epochs", "time_budget", "lr", "weight_decay", "optimizer", "warmup_epochs", "ema_decay", "select_tol",
           "final_fit", "mixup", "cutmix", "seed", "teacher", "kd_alpha", "kd_temperature", "initial_checkpoint")


def build_parser() -> ArgumentParser:
    d = TrainConfig()
    p = ArgumentParser(description=__doc__)
    # every default is None here, so --resume can tell what the user set from what they left alone
    p.add_argument("--model", default=None, help=f"model YAML (a slimnas backbone or 'timm: name'), or a packaged one by name: "
                                                  f"{', '.join(packaged('model'))} (default {DEFAULT_MODEL})")
    p.add_argument("--data", default=None, help=f"data YAML, or a packaged one by name: {', '.join(packaged('data'))} "
                                                 f"(default {DEFAULT_DATA})")
    p.add_argument("--dst", "--out", dest="dst", default=None, help="run folder (default runs/train/<model name>, incremented)")
    p.add_argument("--resume", default=None, help="a run folder (or its last.pt) to continue, with its own model, data "
                                                  "and settings")
    p.add_argument("--epochs", type=int, default=None, help=f"default {d.epochs}")
    p.add_argument("--time-budget", type=float, default=None,
                   help="train for this many seconds: the measured pace sets the epoch count (at most --epochs), "
                        "and the cosine ends on time; for comparing models at equal wall-clock")
    p.add_argument("--batch-size", type=int, default=None, help="default: the data YAML's batch_size")
    p.add_argument("--lr", type=float, default=None, help=f"default {d.lr}")
    p.add_argument("--weight-decay", type=float, default=None, help=f"default {d.weight_decay}")
    p.add_argument("--optimizer", choices=["adamw", "sgd"], default=None, help=f"default {d.optimizer}")
    p.add_argument("--warmup-epochs", type=float, default=None, help=f"default {d.warmup_epochs}")
    p.add_argument("--ema-decay", type=float, default=None,
                   help=f"weight EMA decay; validation and best.pt use the averaged weights (0: off; default {d.ema_decay:g})")
    p.add_argument("--select-tol", type=float, default=None,
                   help=f"best.pt is the latest epoch within this val macro-F1 of the best (0: the single best epoch; "
                        f"default {d.select_tol:g})")
    p.add_argument("--final-fit", action="store_true", default=None,
                   help="train on train + val and keep the last epoch: the refit once --epochs or --time-budget and "
                        "the other settings are chosen (val is then not held out; the test split scores it)")
    p.add_argument("--mixup", type=float, default=None, help=f"MixUp Beta alpha, e.g. 0.2 (0: off; default {d.mixup:g})")
    p.add_argument("--cutmix", type=float, default=None,
                   help=f"CutMix Beta alpha, e.g. 1.0; with --mixup, one of the two per batch (0: off; default {d.cutmix:g})")
    p.add_argument("--seed", type=int, default=None, help=f"default {d.seed}")
    p.add_argument("--teacher", default=None, help="a checkpoint (best.pt) trained on the same labels to distil from")
    p.add_argument("--initial-checkpoint", default=None,
                   help="start from this checkpoint's weights (same architecture and labels; e.g. the search trial "
                        "that chose the model, as the search's recommended command does): a new run, not a resume")
    p.add_argument("--kd-alpha", type=float, default=None,
                   help=f"weight of the teacher's outputs in the loss (default {d.kd_alpha:g})")
    p.add_argument("--kd-temperature", type=float, default=None, help=f"distillation temperature (default {d.kd_temperature:g})")
    p.add_argument("--device", default=d.device, help="auto, cpu, cuda or cuda:N")
    p.add_argument("--torch-threads", type=int, default=0,
                   help="PyTorch CPU threads for training (default 0: time 1 against one per core on this model now, "
                        "keep the faster)")
    p.add_argument("--layout", choices=["auto", *LAYOUTS], default=d.layout,
                   help="tensor memory layout on the CPU (default auto: time NHWC against NCHW with the threads on "
                        "this model now, keep the faster; the numbers differ only in the last bits)")
    p.add_argument("--no-amp", action="store_true", help="disable mixed precision on CUDA")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--exist-ok", action="store_true", help="replace a finished run in --dst (default: refuse)")
    deprecated_alias(p, "--threads", "--torch-threads")
    return p


def main() -> None:
    a = build_parser().parse_args()
    for flag, v in (("--epochs", a.epochs), ("--batch-size", a.batch_size)):
        if v is not None and v < 1:
            raise ConfigError(f"{flag} must be >= 1, got {v}")
    given = {k: getattr(a, k) for k in HPARAMS if getattr(a, k) is not None}
    run = {"device": a.device, "threads": a.torch_threads, "layout": a.layout, "amp": not a.no_amp,
           "progress": not a.no_progress}
    if a.resume:
        if a.dst:
            raise ConfigError("--resume continues in the run's own folder; drop --dst")
        result = resume_training(a.resume, a.model, a.data, {**given, **run, "batch_size": a.batch_size})
    else:
        model = a.model or DEFAULT_MODEL
        data = load_data_config(a.data, batch_size=a.batch_size)  # None: DEFAULT_DATA
        out = Path(a.dst) if a.dst else increment_path(f"runs/train/{Path(model).stem}")
        check_output_dir(out, "--dst", [a.model, a.data, a.teacher, a.initial_checkpoint], RUN_FILES, RUN_FILES, a.exist_ok,
                         hint=f"continue it with --resume {out}")
        result = train(model, data, out, TrainConfig(**given, **run))
    print(f"next: slimnas decompose --weight {result.out / 'best.pt'}")

