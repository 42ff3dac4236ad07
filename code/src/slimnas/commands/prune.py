"""Prune whole channels of a trained checkpoint (Torch-Pruning), for a MACs or a measured-latency target.

A layer group is the layers one channel runs through (a 1×1 expansion, its depthwise conv and BNs, both sides
of a residual add, an SE block); a group loses its least important channels by --criterion. For a MACs target
every group loses the same fraction, the smallest that meets it. For a latency target each group gets its own
width, as HALP chooses: every narrower width of every group is timed alone on ONNX Runtime, and a knapsack picks
the widths that save the time asked for while dropping the least importance, asked for a ladder of savings whose
choices are each timed whole. --also-at holds the target at more threads x batch settings (each width priced at
each); --data costs each width by the KL divergence the cut causes on the training images instead of the
importance share it drops. The classifier keeps every class.
The pruned checkpoint reloads without pickles (it records the narrowed modules' sizes); fine-tune it
next, distilling from the trained model.

  slimnas prune                                      # newest runs/train/*/best.pt, --target-macs 0.5
  slimnas prune --weight best.pt --target-macs 0.4 --macs-convention pytorch   # the competition's MACs
  slimnas prune --weight best.pt --target-latency 0.6 --batch 32      # measured on ONNX Runtime, batch 32
  slimnas prune --weight best.pt --target-latency 0.6 --also-at 1x1 1x32 2x32   # at each threads x batch too
  slimnas prune --weight best.pt --target-latency 0.6 --data data.yaml  # cuts costed on the training images
  slimnas prune --weight best.pt --ratio 0.25 --criterion bn
"""

import argparse
from pathlib import Path

from ..cli import ArgumentParser, check_output_dir, newest
from ..latency.measure import add_deploy_arguments, deploy_target, setting
from ..prune import CRITERIA, prune_checkpoint
from ..prune.model import ROUND_TO
from ..prune.run import OUTPUTS
from ..train import increment_path


def main() -> None:
    p = ArgumentParser(description=__doc__)
    p.add_argument("--weight", default=None, help="checkpoint to prune (default: newest runs/train/*/best.pt)")
    p.add_argument("--target-macs", type=float, default=None, help="keep this fraction of the MACs (default 0.5)")
    p.add_argument("--target-latency", type=float, default=None,
                   help="keep this fraction of the latency measured on the runtime (--ort-threads, --batch)")
    p.add_argument("--ratio", type=float, default=None, help="remove this fraction of every layer group's channels")
    p.add_argument("--criterion", choices=CRITERIA, default="magnitude",
                   help="channel importance: L2 norm of the channel's weights, or its BatchNorm scale")
    p.add_argument("--macs-convention", choices=["aten", "pytorch"], default="aten",
                   help="how --target-macs counts: aten (papers') or pytorch (ptflops' module hooks, the competition's)")
    p.add_argument("--round-to", type=int, default=None,
                   help=f"keep channel counts multiples of this (default {ROUND_TO}; 1: any count, which can run slower; "
                        f"--target-latency times each width, so a count that runs no faster is not chosen)")
    p.add_argument("--widen", action=argparse.BooleanOptionalAction, default=None,
                   help="first make grouped convs with a channel multiplier depthwise by repeating their input "
                        "channels (exact; ONNX Runtime runs depthwise convs faster). Default: --target-latency "
                        "widens if that runs faster, --target-macs keeps the way that prunes less, --ratio does not "
                        "widen")
    p.add_argument("--per-group", action="store_true",
                   help="--target-macs too gives each layer group its own width (a knapsack over counted savings, as "
                        "--target-latency does over measured ones); default: one fraction for all")
    p.add_argument("--data", default=None,
                   help="data YAML of the checkpoint's classes: per-group widths are costed by the KL divergence each cut "
                        "causes on its training images (default: by the share of importance dropped)")
    add_deploy_arguments(p)
    p.add_argument("--also-at", nargs="+", type=setting, default=[], metavar="THREADSxBATCH",
                   help="more settings where --target-latency must hold too (e.g. 1x1 1x32 2x32: threads x batch)")
    p.add_argument("--no-timing", action="store_true", help="skip timing the models on ONNX Runtime")
    p.add_argument("--dst", "--out", dest="dst", default=None, help="output folder (default runs/prune/<run>)")
    p.add_argument("--save-name", default="pruned.pt")
    p.add_argument("--exist-ok", action="store_true", help="replace an earlier pruning in --dst (default: refuse)")
    a = p.parse_args()
    for flag, v in (("--target-macs", a.target_macs), ("--target-latency", a.target_latency)):
        if v is not None and not 0 < v <= 1:
            p.error(f"{flag} must be a fraction in (0, 1], got {v}")
    if a.ratio is not None and not 0 <= a.ratio <= 0.9:
        p.error(f"--ratio must be in [0, 0.9], got {a.ratio}")
    deploy = deploy_target(p, a)
    if a.round_to is not None and a.round_to < 1:
        p.error(f"--round-to must be >= 1, got {a.round_to}")
    if a.data and not (a.target_latency or a.per_group):
        p.error("--data costs per-group widths: give --target-latency or --target-macs with --per-group")
    if a.per_group and (a.target_latency or a.ratio is not None):
        p.error("--per-group is for --target-macs (--target-latency always chooses per group; --ratio is one for all)")
    if a.no_timing and a.target_latency:
        p.error("--target-latency measures the runtime; drop --no-timing")
    if a.also_at and a.target_latency is None:
        p.error("--also-at names more settings for --target-latency to hold at; give --target-latency")
    weight = Path(a.weight) if a.weight else newest("runs/train/*/best.pt", "`slimnas train`")
    out = Path(a.dst) if a.dst else increment_path(Path("runs/prune") / weight.parent.name)
    outputs = [a.save_name, *OUTPUTS]
    check_output_dir(out, "--dst", [weight, a.data], outputs, outputs, a.exist_ok)
    result = prune_checkpoint(weight, out, a.target_macs, a.target_latency, a.ratio, a.criterion, a.macs_convention,
                              a.round_to, a.save_name, None if a.no_timing else deploy, a.widen, a.per_group, a.also_at, a.data)
    print(f"next: slimnas finetune --weight {result.checkpoint} --teacher {weight}")
