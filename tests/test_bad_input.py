"""The bad-input catalogue: every case through the real command line.

Each case must end with exit code 2 and a one-line ``error: …`` naming the culprit (the file, the YAML
entry, the layer), and must leave a file that was already in the output folder byte for byte as it was.
The model-YAML parser is also fuzzed with hypothesis: any entry either builds or raises ``ConfigError``
naming the entry, never another exception.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from conftest import TINY_MODEL, TINY_SPACE, run_in_process, run_script
from slimnas.errors import ConfigError
from slimnas.io import run_lock
from slimnas.model import ModelConfig, build_model
from slimnas.modules import list_modules
from slimnas.train import TrainConfig, TrainingDiverged, load_checkpoint, train


@pytest.fixture(scope="module")
def trained(tiny_data_yaml, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("trained")
    train(ModelConfig.from_dict(TINY_MODEL), tiny_data_yaml, out, TrainConfig(epochs=1, progress=False), verbose=False)
    return out / "best.pt"


def _data_copy(tiny_dataset, tmp_path) -> tuple[Path, Path]:
    """A private copy of the tiny dataset and a data YAML reading it."""
    root = tmp_path / "data"
    shutil.copytree(tiny_dataset, root)
    cfg = tmp_path / "data.yaml"
    cfg.write_text(yaml.safe_dump({"kind": "dacon_csv", "root": str(root), "img_size": 32, "batch_size": 32,
                                   "val_fraction": 0.3}))
    return root, cfg


def _model_yaml(tmp_path, backbone) -> Path:
    path = tmp_path / "bad_model.yaml"
    path.write_text(yaml.safe_dump({**TINY_MODEL, "backbone": backbone}))
    return path


# Each case: a builder(tmp_path, fixtures) -> (argv, the text the one-line error must contain).
def _image_case(damage, expected: str | None = None):
    def build(tmp_path, f):
        root, cfg = _data_copy(f["tiny_dataset"], tmp_path)
        culprit = root / "train" / "00003.png"
        damage(culprit, root)
        return ["train.py", "--model", f["model"], "--data", str(cfg), "--epochs", "1"], expected or culprit.name
    return build


def _truncate(p, _):
    p.write_bytes(p.read_bytes()[:60])


def _zero(p, _):
    p.write_bytes(b"")


def _missing(p, _):
    p.unlink()


def _unseen_test_label(_, root):
    lines = (root / "test_labels.csv").read_text().splitlines()
    index = lines[1].split(",")[0]
    lines[1] = f"{index},bottle-unicorn"
    (root / "test_labels.csv").write_text("\n".join(lines) + "\n")


def _empty_class(tmp_path, f):
    root = tmp_path / "folders"
    for cls in ("ok", "fine"):
        (root / cls).mkdir(parents=True)
        for k in range(4):
            Image.new("RGB", (32, 32), (k * 40, 90, 30)).save(root / cls / f"{k}.png")
    (root / "nothing_here").mkdir()
    cfg = tmp_path / "folders.yaml"
    cfg.write_text(yaml.safe_dump({"kind": "image_folder", "root": str(root), "img_size": 32}))
    return ["train.py", "--model", f["model"], "--data", str(cfg), "--epochs", "1"], "nothing_here: empty class folder"


def _model_case(entry, expected):
    def build(tmp_path, f):
        bad = _model_yaml(tmp_path, [TINY_MODEL["backbone"][0], entry, *TINY_MODEL["backbone"][2:]])
        return ["train.py", "--model", str(bad), "--data", f["data"], "--epochs", "1"], expected
    return build


def _empty_choice(tmp_path, f):
    space = {**TINY_SPACE, "stages": [{**TINY_SPACE["stages"][0], "channels": []}]}
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(space))
    return ["tune_architecture.py", "--space", str(path), "--data", f["data"], "--n-trials", "1",
            "--out", str(tmp_path / "runs")], "stages[0].channels: empty choice list"


def _unreachable_storage(tmp_path, f):
    return ["tune_architecture.py", "--space", f["space"], "--data", f["data"], "--out", str(tmp_path / "runs"),
            "--storage", "postgresql://user:secret@127.0.0.1:1/slimnas"], "postgresql://127.0.0.1:1/slimnas: cannot open"


def _rank_case(entry, expected):
    def build(tmp_path, f):
        cfg = tmp_path / "ranks.yaml"
        cfg.write_text(yaml.safe_dump(entry))
        return ["decompose.py", "--weight", f["ckpt"], "--rank_cfg", str(cfg)], expected
    return build


def _pickled_rank_cfg(tmp_path, f):
    cfg = tmp_path / "ranks.yaml"
    cfg.write_bytes(pickle.dumps({"backbone.0.conv": _Payload(tmp_path / "pwned")}))
    return ["decompose.py", "--weight", f["ckpt"], "--rank_cfg", str(cfg)], "looks like a pickle"


def _other_architecture(tmp_path, f):
    ckpt = load_checkpoint(f["ckpt"])
    other = {**TINY_MODEL, "backbone": [[1, "Conv", [12, 3, 2]], *TINY_MODEL["backbone"][1:]]}
    bad = tmp_path / "other.pt"
    torch.save({**ckpt, "model": other}, bad)  # weights of one architecture under another's YAML
    return ["decompose.py", "--weight", str(bad)], "weights do not fit this architecture"


def _pickled_checkpoint(tmp_path, f):
    bad = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "model": _Payload(tmp_path / "pwned"), "classes": [], "preprocessing": {}}, bad)
    return ["finetune_inference.py", "--weight", str(bad), "--epochs", "0"], "refused to load"


def _corrupt_onnx(tmp_path, f):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 50)
    return ["-m", "slimnas.runtime", str(bad), f["images"]], "not a loadable ONNX model"


def _nan_loss(tmp_path, f):
    return ["train.py", "--model", f["model"], "--data", f["data"], "--epochs", "2", "--lr", "1e30",
            "--warmup-epochs", "0"], "loss became"


def _huge_image(p, _):
    Image.new("1", (12_000, 12_000)).save(p)  # 144 M pixels in a few kB: refused from the header, never decoded


def _listed_twice(_, root):
    lines = (root / "train_df.csv").read_text().splitlines()
    index, name, cls, state, label = lines[1].split(",")
    lines.append(f"{len(lines) - 1},{name},{cls},other,{cls}-other")
    (root / "train_df.csv").write_text("\n".join(lines) + "\n")


def _data_yaml_case(settings, expected, raw: str | None = None):
    def build(tmp_path, f):
        root, _ = _data_copy(f["tiny_dataset"], tmp_path)
        cfg = tmp_path / "data.yaml"
        cfg.write_text(raw if raw is not None else yaml.safe_dump({"kind": "dacon_csv", "root": str(root),
                                                                   "img_size": 32, **settings}))
        return ["train.py", "--model", f["model"], "--data", str(cfg), "--epochs", "1"], expected
    return build


def _flag_case(argv, expected):
    def build(tmp_path, f):
        return [a.format(**f, tmp=tmp_path) for a in argv], expected
    return build


def _busy_dst(tmp_path, f):
    return ["train.py", "--model", f["model"], "--data", f["data"], "--epochs", "1"], "another slimnas run is writing here"


# --------------------------------------------- issue 28: the second catalogue (secrets, containment, keys, outputs)

def _csv_row_case(csv_name, edit, argv_of, expected):
    """Edit one row of a private copy's CSV (``edit(row_fields) -> row_fields``) and run ``argv_of(root, cfg, f)``."""
    def build(tmp_path, f):
        root, cfg = _data_copy(f["tiny_dataset"], tmp_path)
        lines = (root / csv_name).read_text().splitlines()
        lines[2] = ",".join(edit(lines[2].split(","), lines))
        (root / csv_name).write_text("\n".join(lines) + "\n")
        return argv_of(root, cfg, f), expected
    return build


def _train_on(root, cfg, f):
    return ["train.py", "--model", f["model"], "--data", str(cfg), "--epochs", "1"]


def _predict_on(root, cfg, f):
    return ["-m", "slimnas.runtime", f["onnx"], str(root)]


def _file_name(value):
    def edit(fields, _):
        fields[1] = value
        return fields
    return edit


def _repeat_index(fields, lines):
    fields[0] = lines[1].split(",")[0]
    return fields


def _same_name_in_two_folders(tmp_path, f):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        shutil.copy(next(Path(f["images"]).glob("*.png")), tmp_path / sub / "x.png")
    return ["-m", "slimnas.runtime", f["onnx"], str(tmp_path / "a"), str(tmp_path / "b")], "'x.png'"


def _out_is_an_input(which):
    def build(tmp_path, f):
        model = tmp_path / "m.onnx"
        shutil.copy(f["onnx"], model)
        image = tmp_path / "img.png"
        shutil.copy(next(Path(f["images"]).glob("*.png")), image)
        out = {"model": model, "image": image}[which]
        return ["-m", "slimnas.runtime", str(model), str(image), "--out", str(out)], "is an input of this command"
    return build


def _decompose_over_its_weight(tmp_path, f):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(f["ckpt"], run / "best.pt")
    return ["decompose.py", "--weight", str(run / "best.pt"), "--dst", str(run), "--save_name", "best.pt",
            "--exist-ok", "--no-timing"], "which is an input of this command"


def _teacher_of_other_labels(tmp_path, f):
    ckpt = load_checkpoint(f["ckpt"])
    teacher = tmp_path / "teacher.pt"
    torch.save({**ckpt, "classes": list(reversed(ckpt["classes"]))}, teacher)  # same shape, other label order
    return ["train.py", "--model", f["model"], "--data", f["data"], "--epochs", "1", "--teacher", str(teacher)], \
        "classes differ from the data's"


def _dst_holds_a_run(command):
    def build(tmp_path, f):
        argv = {"train": ["train.py", "--model", f["model"], "--data", f["data"], "--epochs", "1"],
                "decompose": ["decompose.py", "--weight", f["ckpt"], "--no-timing"],
                "finetune": ["finetune_inference.py", "--weight", f["ckpt"], "--data", f["data"], "--epochs", "0"]}
        return [*argv[command], "--dst", str(tmp_path / "out")], "already holds a run"
    return build


def _existing_file_as(argv):
    def build(tmp_path, f):
        blocker = tmp_path / "blocker"
        blocker.write_text("a file, not a folder")
        return [a.format(**f, tmp=tmp_path) for a in argv], "blocker: is a file"
    return build


def _under_a_file(tmp_path, f):
    (tmp_path / "plain").write_text("x")
    return ["-m", "slimnas.runtime", f["onnx"], f["images"], "--out", str(tmp_path / "plain" / "p.csv")], \
        "is a file, not a folder"


def _onnx_with_metadata(edit, expected):
    def build(tmp_path, f):
        import onnx

        proto = onnx.load(f["onnx"])
        meta = {p.key: json.loads(p.value) for p in proto.metadata_props}
        edit(meta)
        del proto.metadata_props[:]
        for k, v in meta.items():
            proto.metadata_props.add(key=k, value=json.dumps(v))
        bad = tmp_path / "edited.onnx"
        onnx.save(proto, str(bad))
        return ["-m", "slimnas.runtime", str(bad), f["images"]], expected
    return build


def _bad_rank_yaml(tmp_path, f):
    cfg = tmp_path / "ranks.yaml"
    cfg.write_text("backbone.0.conv: {method: tucker\n  ranks: [2, 3]\n")
    return ["decompose.py", "--weight", f["ckpt"], "--rank_cfg", str(cfg), "--no-timing"], "at line"



class _Payload:
    """Unpickling this runs code: it creates ``path``. Loading must refuse before that happens."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


CASES = {
    "truncated image": _image_case(_truncate),
    "zero-byte image": _image_case(_zero),
    "image listed in the CSV but missing": _image_case(_missing),
    "test label never seen in training": _image_case(_unseen_test_label, "never seen in training"),
    "empty class folder": _empty_class,
    "unknown module in a model YAML": _model_case([1, "InvertedResidualv9", [16, 2, 2]], "backbone[1]"),
    "wrong argument count in a model YAML": _model_case([1, "InvertedResidualv2", [16, 2, 2, 1, 1, 1, 1, 1]],
                                                        "wrong arguments for InvertedResidualv2"),
    "wrong argument type in a model YAML": _model_case([1, "InvertedResidualv2", ["sixteen", 2, 2]], "backbone[1]"),
    "search space with an empty choice list": _empty_choice,
    "study database unreachable": _unreachable_storage,
    "rank_cfg: unknown layer": _rank_case({"backbone.0.cnv": 0.5}, "'backbone.0.cnv': no such layer"),
    "rank_cfg: rank 0": _rank_case({"backbone.0.conv": {"method": "tucker", "ranks": [0, 3]}}, "rank 0 is out of range"),
    "rank_cfg: rank > dim": _rank_case({"backbone.0.conv": {"method": "tucker", "ranks": [99, 3]}},
                                       "rank 99 is out of range"),
    "rank_cfg: a pickle file": _pickled_rank_cfg,
    "checkpoint of another architecture": _other_architecture,
    "checkpoint carrying a pickle payload": _pickled_checkpoint,
    "corrupt ONNX file": _corrupt_onnx,
    "NaN loss": _nan_loss,
    # issue 13: first run and exact commands
    "decompression bomb / huge image": _image_case(_huge_image, "00003.png: image too large"),
    "same file listed twice with different labels": _image_case(_listed_twice, "is listed twice with different labels"),
    "val_fraction 0": _data_yaml_case({"val_fraction": 0.0}, "val_fraction must be between 0 and 1"),
    "val_fraction 1": _data_yaml_case({"val_fraction": 1.0}, "val_fraction must be between 0 and 1"),
    "n_folds 1": _data_yaml_case({"n_folds": 1}, "n_folds must be >= 2"),
    "fold out of range": _data_yaml_case({"n_folds": 3, "fold": 3}, "fold must be in 0..2"),
    "data YAML that is a list": _data_yaml_case({}, "a data YAML must be a mapping", raw="- kind: synthetic\n"),
    "empty data YAML": _data_yaml_case({}, "the data YAML is empty", raw=""),
    "flip augmentation on orientation-defined labels": _data_yaml_case(
        {"augment": ["HorizontalFlip"]}, "augment[0] HorizontalFlip changes the image's orientation"),
    "train.py --epochs 0": _flag_case(["train.py", "--model", "{model}", "--data", "{data}", "--epochs", "0"],
                                      "--epochs must be >= 1"),
    "train.py --batch-size 0": _flag_case(["train.py", "--model", "{model}", "--data", "{data}", "--batch-size", "0"],
                                          "--batch-size must be >= 1"),
    "a second run into a busy --dst": _busy_dst,
    "predictor --topk 0": _flag_case(["-m", "slimnas.runtime", "{onnx}", "{images}", "--topk", "0"],
                                     "--topk must be between 1 and the model's"),
    "predictor --topk > classes": _flag_case(["-m", "slimnas.runtime", "{onnx}", "{images}", "--topk", "999"],
                                             "--topk must be between 1 and the model's"),
    "predictor --batch-size 0": _flag_case(["-m", "slimnas.runtime", "{onnx}", "{images}", "--batch-size", "0"],
                                           "--batch-size must be >= 1"),
    "predictor --ort-threads 0": _flag_case(["-m", "slimnas.runtime", "{onnx}", "{images}", "--ort-threads", "0"],
                                            "--ort-threads must be >= 1"),
    "predictor --tta without declared symmetries": _flag_case(["-m", "slimnas.runtime", "{onnx}", "{images}", "--tta"],
                                                              "--tta needs label-preserving transforms"),
    "predictor --out that is a folder": _flag_case(["-m", "slimnas.runtime", "{onnx}", "{images}", "--out", "{tmp}"],
                                                   "is a folder"),
    "--max-macs 0": _flag_case(["tune_architecture.py", "--space", "{space}", "--data", "{data}", "--max-macs", "0",
                                "--out", "{tmp}/runs"], "--max-macs must be > 0"),
    "--max-macs -5": _flag_case(["tune_architecture.py", "--space", "{space}", "--data", "{data}", "--max-macs", "-5",
                                 "--out", "{tmp}/runs"], "--max-macs must be > 0"),
    "every candidate over budget": _flag_case(
        ["tune_architecture.py", "--space", "{space}", "--data", "{data}", "--max-macs", "1000", "--n-trials", "2",
         "--out", "{tmp}/runs"], "all 2 candidates were over the budget (--max-macs 1000, aten MACs"),
    "every candidate over budget, score mode": _flag_case(
        ["tune_architecture.py", "--space", "{space}", "--data", "{data}", "--max-macs", "1000", "--n-trials", "2",
         "--mode", "score", "--out", "{tmp}/runs"], "(--max-macs 1000, pytorch MACs"),
    "an ONNX file as --weight": _flag_case(["decompose.py", "--weight", "{onnx}"], "is an ONNX model, not a slimnas checkpoint"),
    "malformed storage URL": _flag_case(["tune_architecture.py", "--space", "{space}", "--data", "{data}", "--out",
                                         "{tmp}/runs", "--storage", "postgresql//user:secret@dbhost/slimnas"],
                                        "cannot open the study database"),
    "timm kwargs that load a file": _flag_case(["train.py", "--model", "{timm_bad}", "--data", "{data}"],
                                               "kwargs.checkpoint_path is not allowed"),
    "prune ratio out of range": _flag_case(["prune.py", "--weight", "{ckpt}", "--ratio", "0.95", "--dst", "{tmp}/p"],
                                           "--ratio must be in [0, 0.9]"),
    "failed parity check": _flag_case(["finetune_inference.py", "--weight", "{ckpt}", "--data", "{data}", "--epochs", "0",
                                       "--parity-tol", "1e-12"], "out/model.onnx: ONNX logits differ from PyTorch"),
    # issue 28: secrets never printed
    "storage password in a query parameter": _flag_case(
        ["tune_architecture.py", "--space", "{space}", "--data", "{data}", "--out", "{tmp}/runs", "--storage",
         "postgresql://127.0.0.1:1/slimnas?user=u&password=secret&sslmode=disable"], "password=***"),
    "storage password percent-encoded": _flag_case(
        ["tune_architecture.py", "--space", "{space}", "--data", "{data}", "--out", "{tmp}/runs", "--storage",
         "postgresql://u:s%65cret@127.0.0.1:1/slimnas"], "postgresql://127.0.0.1:1/slimnas: cannot open"),
    "storage URL with a password from SLIMNAS_STORAGE": _flag_case(
        ["tune_architecture.py", "--space", "{space}", "--data", "{data}", "--out", "{tmp}/runs"],
        "$SLIMNAS_STORAGE postgresql://127.0.0.1:1/slimnas?passwd=***: cannot open"),
    # containment: a CSV names files inside its folder only
    "CSV file_name with ..": _csv_row_case("train_df.csv", _file_name("../../x.png"), _train_on, "is outside"),
    "CSV file_name absolute": _csv_row_case("train_df.csv", _file_name("/etc/passwd"), _train_on,
                                            "'/etc/passwd' is outside"),
    "predictor: test_df.csv file_name with ..": _csv_row_case("test_df.csv", _file_name("../train/00000.png"),
                                                              _predict_on, "is outside"),
    # unique keys
    "duplicate index in test_df.csv (training)": _csv_row_case("test_df.csv", _repeat_index, _train_on,
                                                               "appear more than once"),
    "duplicate index in test_df.csv (predictor)": _csv_row_case("test_df.csv", _repeat_index, _predict_on,
                                                                "appear more than once"),
    "two input folders that both hold x.png": _same_name_in_two_folders,
    # inputs are never outputs
    "predictor --out is the model": _out_is_an_input("model"),
    "predictor --out is an input image": _out_is_an_input("image"),
    "decompose --save_name over its own --weight": _decompose_over_its_weight,
    "train --teacher of other labels into a finished run": _teacher_of_other_labels,
    "train into a folder holding a run": _dst_holds_a_run("train"),
    "decompose into a folder holding a run": _dst_holds_a_run("decompose"),
    "finetune into a folder holding a run": _dst_holds_a_run("finetune"),
    # output locations checked before the work
    "train --dst is a file": _existing_file_as(["train.py", "--model", "{model}", "--data", "{data}", "--dst",
                                                "{tmp}/blocker"]),
    "decompose --dst is a file": _existing_file_as(["decompose.py", "--weight", "{ckpt}", "--dst", "{tmp}/blocker"]),
    "finetune --dst is a file": _existing_file_as(["finetune_inference.py", "--weight", "{ckpt}", "--epochs", "0",
                                                   "--dst", "{tmp}/blocker"]),
    "search --out is a file": _existing_file_as(["tune_architecture.py", "--space", "{space}", "--data", "{data}",
                                                 "--out", "{tmp}/blocker"]),
    "demo --out is a file": _existing_file_as(["demo.py", "--data", "{data}", "--out", "{tmp}/blocker"]),
    "predictor --out under a file": _under_a_file,
    "storage journal in a missing folder": _flag_case(
        ["tune_architecture.py", "--space", "{space}", "--data", "{data}", "--out", "{tmp}/runs", "--storage",
         "{tmp}/no/such/dir/study.log"], "does not exist"),
    # loaded models are checked
    "ONNX metadata with fewer classes than logits": _onnx_with_metadata(
        lambda m: m.update(classes=m["classes"][:3]), "metadata names 3 classes but the graph outputs"),
    "ONNX metadata input_size unlike the graph": _onnx_with_metadata(
        lambda m: m.update(input_size=m["input_size"] + 8), "does not fit the graph's input"),
    "predictor with a provider not installed": _flag_case(
        ["-m", "slimnas.runtime", "{onnx}", "{images}", "--provider", "NoSuchExecutionProvider"], "is not available"),
    "latency command on a corrupt ONNX file": _flag_case(["-m", "slimnas.latency", "{tmp}/corrupt.onnx"],
                                                         "corrupt.onnx: not a loadable ONNX model"),
    "latency command with a provider not installed": _flag_case(
        ["-m", "slimnas.latency", "{model}", "--provider", "NoSuchExecutionProvider"], "is not available"),
    # one line, every error
    "rank_cfg YAML error": _bad_rank_yaml,
    "argparse: a flag of the wrong type": _flag_case(["train.py", "--epochs", "three"],
                                                     "argument --epochs: invalid int value: 'three'"),
    "argparse: an unknown flag": _flag_case(["decompose.py", "--targt-macs", "0.5"], "unrecognized arguments: --targt-macs"),
}


# one case per entry point runs as a user would, in a new interpreter; the rest call the same main() in-process
THROUGH_THE_SCRIPT = {"truncated image", "checkpoint of another architecture", "corrupt ONNX file",
                      "checkpoint carrying a pickle payload", "search space with an empty choice list",
                      "demo --out is a file", "latency command on a corrupt ONNX file", "prune ratio out of range"}


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory) -> Path:
    """The tiny checkpoint as ONNX, with the metadata of data that declares no symmetries."""
    from slimnas.export.onnx import export_onnx
    from slimnas.train import model_from_checkpoint

    model, ckpt = model_from_checkpoint(trained)
    meta = {**ckpt["preprocessing"], "classes": ckpt["classes"], "invariant_to": []}
    return export_onnx(model, tmp_path_factory.mktemp("onnx") / "model.onnx", 32, meta)


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_catalogue(case, tmp_path, trained, exported, tiny_model_yaml, tiny_data_yaml, tiny_dataset,
                             tiny_space_yaml):
    timm_bad = tmp_path / "timm_bad.yaml"
    timm_bad.write_text(yaml.safe_dump({"timm": "resnet18", "kwargs": {"checkpoint_path": "/etc/passwd"}}))
    fixtures = {"tiny_dataset": tiny_dataset, "ckpt": str(trained), "model": str(tiny_model_yaml),
                "data": str(tiny_data_yaml), "images": str(tiny_dataset / "test"), "space": str(tiny_space_yaml),
                "onnx": str(exported), "timm_bad": str(timm_bad)}
    (tmp_path / "corrupt.onnx").write_bytes(b"\x08\x07garbage" * 50)
    argv, expected = CASES[case](tmp_path, fixtures)
    folders_before = {p for p in tmp_path.rglob("*") if p.is_dir()}
    env = {"SLIMNAS_STORAGE": "postgresql://u:secret@127.0.0.1:1/slimnas?passwd=secret"} \
        if case == "storage URL with a password from SLIMNAS_STORAGE" else {}
    # an earlier run's result sits where this command writes: it must survive the failure untouched
    dst = tmp_path / "out"
    dst.mkdir()
    precious = {name: bytes(np.random.default_rng(0).integers(0, 255, 64, dtype=np.uint8))
                for name in ("best.pt", "predictions.csv", "decomposed.pt", "model.onnx")}
    for name, data in precious.items():
        (dst / name).write_bytes(data)
    # --exist-ok: the earlier run may be replaced, so each case reaches the error it is about (the refusal
    # without --exist-ok is a case of its own)
    out_flag = ["--out", str(dst / "predictions.csv")] if argv[0] == "-m" else ["--dst", str(dst), "--exist-ok"]
    if argv[0] in ("tune_architecture.py", "demo.py") or "--dst" in argv or argv[:2] == ["-m", "slimnas.latency"]:
        out_flag = []
    if argv[0] == "-m" and "--out" in argv:
        out_flag = []
    run = run_script if case in THROUGH_THE_SCRIPT else run_in_process
    if case == "a second run into a busy --dst":
        with run_lock(dst):  # another run holds the folder
            r = run_script(*argv, *out_flag)
    else:
        r = run(*argv, *out_flag, env=env)
    lines = r.stderr.strip().splitlines()  # progress bars may come first; the error is one line, the last
    errors = [line for line in lines if line.startswith("error: ")]
    if os.environ.get("SLIMNAS_CATALOGUE_OUT"):  # the README/closing-note table: case, message, exit code
        with open(os.environ["SLIMNAS_CATALOGUE_OUT"], "a") as f:
            f.write(json.dumps({"case": case, "command": " ".join(argv[:2]) if argv[0] == "-m" else argv[0],
                                "exit": r.returncode,
                                "error": (errors or [""])[-1]}) + "\n")
    assert r.returncode == 2, (case, r.returncode, r.stderr[-1500:])
    assert len(errors) == 1 and lines[-1] == errors[0], r.stderr[-1500:]
    assert expected in errors[0], (expected, errors[0])
    assert {name: (dst / name).read_bytes() for name in precious} == precious
    assert {p.name for p in dst.iterdir()} == set(precious)  # a failed command leaves the folder as it was
    assert not (tmp_path / "pwned").exists()  # no pickle payload ran
    assert "secret" not in r.stderr + r.stdout  # credentials in a storage URL are not echoed ...
    for p in tmp_path.rglob("*"):  # ... nor written anywhere
        assert not p.is_file() or b"secret" not in p.read_bytes(), p
    assert not [p for p in tmp_path.rglob("*") if p.is_dir() and p not in folders_before and not any(p.iterdir())]


def test_nan_mid_training_keeps_the_last_good_checkpoint(tmp_path, tiny_data_yaml):
    """The loss turns NaN in epoch 2: the run stops with TrainingDiverged and epoch 1's best.pt stays usable."""
    calls = {"n": 0}

    def loss_turning_nan(model, x, y, criterion):
        calls["n"] += 1
        loss = criterion(model(x), y)
        return loss * float("nan") if calls["n"] > steps_per_epoch else loss

    from slimnas.data.config import build_data, load_data_config
    from slimnas.train import fit

    bundle = build_data(load_data_config(tiny_data_yaml))
    steps_per_epoch = len(bundle.loaders()[0])
    model = build_model(ModelConfig.from_dict(TINY_MODEL), num_classes=len(bundle.classes), input_size=32)
    with pytest.raises(TrainingDiverged, match=r"loss became nan at epoch 2"):
        fit(model, bundle, TrainConfig(epochs=3, progress=False), tmp_path, TINY_MODEL, verbose=False,
            train_loss=loss_turning_nan)
    assert load_checkpoint(tmp_path / "best.pt")["metrics"]["epoch"] == 1


# ------------------------------------------------------------------------------------------ YAML fuzzing

_arg = st.one_of(st.integers(-4, 64), st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
                 st.text(max_size=6), st.lists(st.integers(0, 4), max_size=3), st.just("num_classes"))
_entry = st.one_of(
    st.tuples(st.integers(-1, 3), st.sampled_from(sorted(list_modules())) | st.text(max_size=12),
              st.lists(_arg, max_size=6)).map(list),
    st.lists(_arg, max_size=4),  # not even [repeat, Module, args]
    _arg,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_entry, min_size=1, max_size=3))
def test_model_yaml_parser_builds_or_names_the_entry(middle):
    backbone = [TINY_MODEL["backbone"][0], *middle, *TINY_MODEL["backbone"][2:]]
    try:
        cfg = ModelConfig.from_dict({**TINY_MODEL, "backbone": backbone}, "fuzz.yaml")
        model = build_model(cfg, num_classes=5, input_size=32)
    except ConfigError as e:
        msg = str(e)
        assert msg.startswith("fuzz.yaml") and "\n" not in msg
        if "backbone[" in msg:
            i = int(msg.split("backbone[")[1].split("]")[0])
            assert 0 <= i < len(backbone)
        return
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 5)


# ------------------------------------------------------------------ issue 28: the cases that are not one CLI call

@pytest.mark.parametrize("url, secret", [
    ("postgresql://user:hunter2@db:5432/s", "hunter2"),
    ("postgresql://db/s?user=u&password=hunter2&sslmode=require", "hunter2"),
    ("postgresql://db/s?sslpassword=hunter2", "hunter2"),
    ("mysql+pymysql://u:hun%74er2@db/s", "hunter2"),  # percent-encoded: the driver may print either form
    ("postgresql//u:hunter2@db/s", "hunter2"),  # malformed, still holding one
])
def test_storage_secrets_are_masked_in_every_form(url, secret):
    from slimnas.search.storage import redact, shown

    encoded = "hun%74er2" if "%" in url else secret
    assert secret not in shown(url) and encoded not in shown(url) and "db" in shown(url)
    driver = f'connection to "{url}" failed: password authentication failed for {secret} ({encoded})'
    assert secret not in redact(driver, url) and encoded not in redact(driver, url)


def test_storage_url_comes_from_the_environment(monkeypatch):
    from slimnas.search.storage import STORAGE_ENV, storage_url

    monkeypatch.setenv(STORAGE_ENV, "postgresql://u@db/s")
    assert storage_url(None, "sqlite:///x.db") == "postgresql://u@db/s"
    assert storage_url("journal.log", "sqlite:///x.db") == "journal.log"  # the flag still wins
    monkeypatch.delenv(STORAGE_ENV)
    assert storage_url(None, "sqlite:///x.db") == "sqlite:///x.db"


def test_predictor_reads_a_train_df_where_training_does(tiny_dataset):
    from slimnas.data.sources import list_source
    from slimnas.runtime import list_inputs

    listed = list_inputs([tiny_dataset / "train_df.csv"])
    assert [p for _, p in listed] == [p for p, _ in list_source("dacon_csv", tiny_dataset).train]
    assert all(p.parent == tiny_dataset / "train" for _, p in listed)
    assert [i for i, _ in listed] == [r.split(",")[0] for r in (tiny_dataset / "train_df.csv").read_text().split()[1:]]


def test_a_csv_with_a_byte_order_mark_is_read(tiny_dataset, tmp_path):
    from slimnas.data.sources import list_source

    root = tmp_path / "data"
    shutil.copytree(tiny_dataset, root)
    for name in ("train_df.csv", "test_df.csv"):  # as Excel's "CSV UTF-8" saves them
        (root / name).write_bytes(b"\xef\xbb\xbf" + (root / name).read_bytes())
    assert len(list_source("dacon_csv", root).train) == len(list_source("dacon_csv", tiny_dataset).train)


def test_a_refused_teacher_leaves_no_folder_behind(tmp_path, tiny_model_yaml, tiny_data_yaml, trained):
    ckpt = load_checkpoint(trained)
    teacher = tmp_path / "teacher.pt"
    torch.save({**ckpt, "classes": list(reversed(ckpt["classes"]))}, teacher)
    dst = tmp_path / "new" / "run"
    r = run_script("train.py", "--model", str(tiny_model_yaml), "--data", str(tiny_data_yaml), "--epochs", "1",
                   "--teacher", str(teacher), "--dst", str(dst))
    assert r.returncode == 2 and "classes differ" in r.stderr.splitlines()[-1]
    assert not (tmp_path / "new").exists()


def test_an_unwritable_output_folder_is_refused_before_the_work(tmp_path, exported, tiny_dataset):
    """The predictor refuses a read-only --out folder before it predicts anything. Root may write anywhere a
    mode allows, so the folder is made read-only the way root cannot bypass: a read-only bind mount, in a
    private mount namespace (``unshare``)."""
    import subprocess
    import sys

    locked = tmp_path / "locked"
    locked.mkdir()
    predict = [sys.executable, "-m", "slimnas.runtime", str(exported), str(tiny_dataset / "test"),
               "--out", str(locked / "p.csv")]
    script = (f"mount --bind {locked} {locked} && mount -o remount,bind,ro {locked} && touch {locked}/probe 2>/dev/null;"
              f" [ ! -e {locked}/probe ] || exit 77; exec \"$@\"")
    r = subprocess.run(["unshare", "--mount", "sh", "-c", script, "sh", *predict], capture_output=True, text=True,
                       env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if r.returncode not in (0, 2):  # no unshare, no privilege to mount, or the mount did not make it read-only
        pytest.skip(f"cannot make a read-only folder here (unshare/mount: exit {r.returncode} {r.stderr.strip()[-200:]})")
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines()[-1] == f"error: --out {locked / 'p.csv'}: {locked} is not writable"
    assert not list(locked.iterdir())
