"""Fine-tune, export, check, predict: the road's last step (hence the name finetune_inference.py).

Fine-tunes a (decomposed) checkpoint, distilling from the model it came from; exports model.onnx (FP32,
INT8 too with --int8 where it is faster); checks the export against PyTorch; predicts the test images.

With no arguments it takes the newest runs/decompose/*/decomposed.pt, distils from the checkpoint it
was decomposed from, fine-tunes 10 epochs, exports model.onnx (checked against PyTorch on validation
images) and predicts the synthetic test split with the torch-free predictor.

  slimnas finetune --weight runs/decompose/baseline/decomposed.pt --freeze factors --int8
  slimnas finetune --weight best.pt --epochs 0            # export a checkpoint as it is
  slimnas finetune --weight best.pt --rank_cfg ranks.yaml  # decompose, fine-tune, export
  slimnas finetune --img_root my_images/ --dst runs/finetune/mine
"""

from pathlib import Path

from ..checkpoint import compressed_from
from ..cli import ArgumentParser, check_output_dir, newest
from ..data.config import load_data_config, test_layout
from ..decompose.run import decompose_checkpoint
from ..errors import ConfigError
from ..export.pipeline import export_checkpoint
from ..io import run_lock
from ..latency.measure import add_deploy_arguments, deploy_target
from ..model import ModelConfig, load_model_config
from ..runtime import Predictor, list_inputs
from ..train import TrainConfig, increment_path, load_checkpoint
from ..train.evaluate import build_data_for
from ..train.finetune import FINETUNE_LR, FREEZE_MODES, finetune


def main() -> None:
    p = ArgumentParser(description=__doc__)
    p.add_argument("--weight", default=None, help="checkpoint to fine-tune (default: newest decomposed.pt)")
    p.add_argument("--rank_cfg", "--rank-cfg", dest="rank_cfg", default=None,
                   help="decompose --weight (an undecomposed checkpoint) with this rank_cfg first")
    p.add_argument("--model", default=None, help="model YAML; checked against the one inside --weight")
    p.add_argument("--teacher", default=None, help="distil from this checkpoint (default: the one --weight was "
                                                   "decomposed from, if it exists)")
    p.add_argument("--no-teacher", action="store_true", help="plain fine-tuning, no distillation")
    p.add_argument("--data", default=None, help="data YAML (default: the embedded synthetic data)")
    p.add_argument("--epochs", type=int, default=10, help="0: export without fine-tuning")
    p.add_argument("--time-budget", type=float, default=None,
                   help="fine-tune for at most this many seconds: the measured pace sets the epochs (at most --epochs), "
                        "as train --time-budget; the demo's time plan sets it")
    p.add_argument("--lr", type=float, default=FINETUNE_LR, help="chosen on dev (see docs/finetune.md)")
    p.add_argument("--freeze", choices=FREEZE_MODES, default="none")
    p.add_argument("--final-fit", action="store_true",
                   help="fine-tune on train + val and keep the last epoch, as `train --final-fit` trained the source "
                        "(its val macro-F1 is then in-sample, as the source's is)")
    p.add_argument("--kd-alpha", type=float, default=0.5, help="weight of the distillation term")
    p.add_argument("--kd-temperature", type=float, default=4.0)
    p.add_argument("--int8", action="store_true", help="also try static INT8; kept only if faster and F1 -1 pt at most")
    add_deploy_arguments(p, "the INT8 decision is timed there")
    p.add_argument("--parity-tol", type=float, default=1e-4, help="max |ONNX - PyTorch| logit difference allowed")
    p.add_argument("--img_root", "--img-root", dest="img_root", default=None,
                   help="predict these images after export (default: the data's test split, if any)")
    p.add_argument("--dst", "--out", dest="dst", default=None, help="output folder (default runs/finetune/<run>)")
    p.add_argument("--save_name", "--save-name", dest="save_name", default="model.onnx")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--exist-ok", action="store_true", help="replace an earlier run in --dst (default: refuse)")
    a = p.parse_args()
    a.deploy = deploy_target(p, a)  # where the model will run: the INT8 decision is timed there
    weight = Path(a.weight) if a.weight else newest("runs/decompose/*/decomposed.pt", "`slimnas train` and then `slimnas decompose`")
    out = Path(a.dst) if a.dst else increment_path(Path("runs/finetune") / weight.parent.name)
    int8 = Path(a.save_name).with_suffix(".int8.onnx").name
    outputs = [a.save_name, int8, "export.json", "predictions.csv", "best.pt", "last.pt", "metrics.csv", "decomposed"]
    check_output_dir(out, "--dst", [weight, a.teacher, a.rank_cfg, a.img_root, a.data, a.model], outputs,
                     [a.save_name, "export.json", "best.pt", "predictions.csv"], a.exist_ok)
    if a.model and ModelConfig.from_dict(load_checkpoint(weight)["model"]) != load_model_config(a.model):
        raise ConfigError(f"--model {a.model} is not the architecture stored in {weight}; drop --model "
                          f"(checkpoints carry their model YAML)")
    if a.epochs < 0:
        raise ConfigError(f"--epochs must be >= 0 (0: export without fine-tuning), got {a.epochs}")
    if a.time_budget is not None and not a.time_budget > 0:
        raise ConfigError(f"--time-budget must be > 0 seconds, got {a.time_budget:g}")
    data_cfg = load_data_config(a.data)
    with run_lock(out):
        run(a, weight, out, data_cfg)


def run(a, weight: Path, out: Path, data_cfg) -> None:
    if a.rank_cfg:
        teacher_default = weight
        weight = decompose_checkpoint(weight, out / "decomposed", rank_cfg=a.rank_cfg).checkpoint
        a.teacher = a.teacher or str(teacher_default)
    teacher = None if a.no_teacher else a.teacher or compressed_from(load_checkpoint(weight))
    if teacher and not Path(teacher).is_file():
        raise ConfigError(f"teacher {teacher}: not found (give --teacher or --no-teacher)")
    cfg = TrainConfig(epochs=max(a.epochs, 1), time_budget=a.time_budget, lr=a.lr, warmup_epochs=0, seed=a.seed,
                      device=a.device, final_fit=a.final_fit)
    if a.epochs > 0:
        result = finetune(weight, out, data_cfg, cfg, teacher, a.freeze, a.kd_alpha, a.kd_temperature)
        best, bundle = result["checkpoint"], result["bundle"]
    else:
        best, bundle = weight, build_data_for(weight, data_cfg)
    report = export_checkpoint(best, out, bundle, a.int8, a.parity_tol, a.save_name, deploy=a.deploy)
    images = [a.img_root] if a.img_root else None
    if images is None and test_layout(data_cfg):
        images = [test_layout(data_cfg)]
    if images:
        onnx_path = report["int8"] or report["onnx"]
        items = list_inputs(images)
        preds = Predictor(onnx_path).predict_to_csv(items, out / "predictions.csv")
        print(f"{len(items)} predictions -> {preds}  (same as: slimnas predict {onnx_path} {images[0]} "
              f"--out {preds})")

