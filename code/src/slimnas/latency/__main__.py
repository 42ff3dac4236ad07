"""Profile a model on the deployment runtime: MACs and measured ONNX Runtime milliseconds, piece by piece.

  python -m slimnas.latency baseline                      # a model YAML (path or packaged name)
  python -m slimnas.latency runs/train/x/best.pt --batch 32
  python -m slimnas.latency runs/demo/finetune/model.onnx  # per ONNX node, from ORT's profiler

A YAML or checkpoint is cut into pieces (blocks), each priced in context: what it adds after its predecessor,
both timed alone (cached in the latency table); the whole model is then timed too, so the table shows how far
the sum of pieces predicts it.
"""

from __future__ import annotations

from pathlib import Path

from ..cli import ArgumentParser, deprecated_alias, run_cli
from .measure import add_deploy_arguments, check_provider, deploy_target


def main() -> None:
    p = ArgumentParser(description=__doc__)
    p.add_argument("model", help="model YAML (or packaged name), checkpoint (.pt) or ONNX file")
    p.add_argument("--input-size", type=int, default=None, help="image size (default: the model's own, else 96)")
    add_deploy_arguments(p, "profiled")
    p.add_argument("--num-classes", type=int, default=88,
                   help="the head's width for a model YAML (default 88, the MVTec anomaly-classes labels)")
    p.add_argument("--provider", default="CPUExecutionProvider", help="ONNX Runtime execution provider")
    deprecated_alias(p, "--threads", "--ort-threads")
    a = p.parse_args()
    runtime = deploy_target(p, a, a.provider)
    check_provider(runtime)
    from .profile import profile_model, profile_onnx

    path = Path(a.model)
    table = profile_onnx(path, runtime) if path.suffix == ".onnx" else profile_model(a.model, runtime, a.input_size, num_classes=a.num_classes)
    print(table)


if __name__ == "__main__":
    run_cli(main)
