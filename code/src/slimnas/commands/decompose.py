"""Decompose a trained checkpoint's convolutions and linears (Tucker-2, CP, SVD, separable depthwise).

Ranks come from a rank_cfg (YAML/JSON: layer -> {method, ranks} or a fraction) or are chosen
automatically: by default so the model keeps half its MACs with the least reconstruction error.
The rank_cfg actually used is always written next to the output, to edit and replay.

  slimnas decompose                                   # newest runs/train/*/best.pt, --target-macs 0.5
  slimnas decompose --weight best.pt --target-macs 0.3
  slimnas decompose --weight best.pt --target-latency 0.6 --ort-threads 1   # measured on ONNX Runtime, 1 thread
  slimnas decompose --weight best.pt --energy 0.9     # keep 90 % of each layer's spectrum
  slimnas decompose --weight best.pt --vbmf --method cp
  slimnas decompose --weight best.pt --rank_cfg runs/decompose/baseline/rank_cfg.yaml
"""

from pathlib import Path

from ..cli import ArgumentParser, check_output_dir, deprecated_alias, newest
from ..decompose.run import OUTPUTS, decompose_checkpoint
from ..latency.measure import add_deploy_arguments, deploy_target
from ..train import increment_path


def main() -> None:
    p = ArgumentParser(description=__doc__)
    p.add_argument("--weight", default=None, help="checkpoint to decompose (default: newest runs/train/*/best.pt)")
    p.add_argument("--rank_cfg", "--rank-cfg", dest="rank_cfg", default=None, help="YAML/JSON ranks per layer")
    p.add_argument("--target-macs", type=float, default=None, help="keep this fraction of the MACs (default 0.5)")
    p.add_argument("--target-latency", type=float, default=None,
                   help="keep this fraction of the latency measured on the runtime (--ort-threads, --batch)")
    p.add_argument("--energy", type=float, default=None, help="keep this fraction of each unfolding's energy")
    p.add_argument("--vbmf", action="store_true", help="ranks by empirical variational Bayes matrix factorisation")
    p.add_argument("--method", choices=["tucker", "cp"], default="tucker", help="for k×k convs (automatic ranks)")
    add_deploy_arguments(p)
    p.add_argument("--no-timing", action="store_true", help="skip measuring the layers and models on ONNX Runtime")
    p.add_argument("--dst", "--out", dest="dst", default=None, help="output folder (default runs/decompose/<run>)")
    p.add_argument("--save_name", "--save-name", dest="save_name", default="decomposed.pt")
    p.add_argument("--exist-ok", action="store_true", help="replace an earlier decomposition in --dst (default: refuse)")
    deprecated_alias(p, "--threads", "--ort-threads")
    a = p.parse_args()
    for flag, v in (("--target-macs", a.target_macs), ("--target-latency", a.target_latency), ("--energy", a.energy)):
        if v is not None and not 0 < v <= 1:
            p.error(f"{flag} must be a fraction in (0, 1], got {v}")
    deploy = deploy_target(p, a)
    if a.no_timing and a.target_latency:
        p.error("--target-latency measures the runtime; drop --no-timing")
    weight = Path(a.weight) if a.weight else newest("runs/train/*/best.pt", "`slimnas train`")
    out = Path(a.dst) if a.dst else increment_path(Path("runs/decompose") / weight.parent.name)
    outputs = [a.save_name, *OUTPUTS]
    check_output_dir(out, "--dst", [weight, a.rank_cfg], outputs, outputs, a.exist_ok)
    runtime = None if a.no_timing else deploy
    result = decompose_checkpoint(weight, out, a.rank_cfg, a.target_macs, a.energy, a.vbmf, a.method, a.save_name,
                                  target_latency=a.target_latency, runtime=runtime)
    print(f"next: slimnas finetune --weight {result.checkpoint} --teacher {weight}")

