"""Fine-tuning, ONNX export (parity, metadata, INT8) and the torch-free predictor."""

from __future__ import annotations

import csv
import json
import time

import numpy as np
import onnx
import pytest
import torch

from conftest import run_in_process, run_script
from slimnas.data.config import load_data_config
from slimnas.decompose.run import decompose_checkpoint
from slimnas.errors import DataError
from slimnas.export.check import ParityError, parity
from slimnas.export.pipeline import calibration_loader, export_checkpoint
from slimnas.export.quantize import keep_int8, quantize_int8, quantize_with_fallback, slow_in_int8
from slimnas.latency.measure import Timing, interleaved
from slimnas.runtime import Predictor
from slimnas.train import TrainConfig, train
from slimnas.checkpoint import model_from_checkpoint
from slimnas.train.finetune import build_data_for, finetune, freeze

MODEL = {"backbone": [[1, "Conv", [16, 3, 2]], [1, "Conv", [32, 3, 2]], [1, "InvertedResidualv2", [32, 2, 1]],
                      [1, "Conv", [64, 1, 1]], [1, "GlobalAvgPool", []], [1, "Flatten", []],
                      [1, "Linear", ["num_classes"]]]}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_data_yaml):
    import yaml

    root = tmp_path_factory.mktemp("export")
    (root / "model.yaml").write_text(yaml.safe_dump(MODEL))
    train(root / "model.yaml", tiny_data_yaml, root / "train", TrainConfig(epochs=4, progress=False), verbose=False)
    dec = decompose_checkpoint(root / "train" / "best.pt", root / "dec", target_macs=0.4, verbose=False)
    return root, dec


def test_finetune_recovers_f1_and_writes_a_loadable_checkpoint(trained, tiny_data_yaml):
    root, dec = trained
    r = finetune(dec.checkpoint, root / "ft", tiny_data_yaml, TrainConfig(epochs=3, lr=3e-3, warmup_epochs=0,
                                                                          progress=False),
                 teacher=root / "train" / "best.pt", verbose=False)
    # a 4-epoch model on 32-px images scores near chance (F1 ~0.0002 before): fine-tuning must not make it worse
    # by more than one image's worth of noise, and the checkpoint must load with its decomposition
    assert r["f1_after"] >= r["f1_before"] - 0.005
    model, ckpt = model_from_checkpoint(r["checkpoint"])
    assert ckpt["decomposition"] == json.loads(json.dumps(ckpt["decomposition"])) and ckpt["decomposition"]
    assert ckpt["metrics"]["val_f1"] == pytest.approx(r["f1_after"])


def test_freeze_factors_trains_cores_only(trained):
    _, dec = trained
    model, ckpt = model_from_checkpoint(dec.checkpoint)
    total = sum(p.numel() for p in model.parameters())
    n = freeze(model, "factors", ckpt["decomposition"])
    name = next(k for k, v in ckpt["decomposition"].items() if v["method"] == "tucker")
    seq = model.get_submodule(name)
    assert not seq[0].weight.requires_grad and seq[1].weight.requires_grad and not seq[2].weight.requires_grad
    assert 0 < n < total
    n_convs = freeze(model, "convs", None)
    assert n_convs == sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Conv2d))


@pytest.mark.parametrize("which", ["train", "dec"])
def test_onnx_export_parity_and_metadata(trained, tiny_data_yaml, which):
    root, dec = trained
    weight = root / "train" / "best.pt" if which == "train" else dec.checkpoint
    bundle = build_data_for(weight, load_data_config(tiny_data_yaml))
    report = export_checkpoint(weight, root / f"onnx_{which}", bundle, verbose=False)
    path = root / f"onnx_{which}" / "model.onnx"
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version >= 17 and not list((root / f"onnx_{which}").glob("*.data"))
    assert report["parity"]["max_abs_diff"] <= 1e-4 and report["parity"]["top1_agreement"] == 1.0
    meta = {p.key: json.loads(p.value) for p in proto.metadata_props}
    _, ckpt = model_from_checkpoint(weight)
    assert meta["classes"] == ckpt["classes"] and meta["input_size"] == 32
    assert meta["mean"] == ckpt["preprocessing"]["mean"] and meta["macs"] == report["macs"] > 0
    assert meta["decomposed"] is (which == "dec")
    dim = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert dim.dim_param  # a named, dynamic batch axis


def test_a_comparison_exports_a_checkpoint_once_and_times_a_setting_once(trained, tiny_data_yaml, tmp_path, monkeypatch):
    """The demo's summary on a second run: the same checkpoint bytes reuse their export (the dynamo exporter takes
    seconds a model); other bytes are exported again. Deployed at 1 thread, the 1-thread column is not timed twice."""
    import shutil

    import slimnas.export.compare as compare_mod
    from slimnas.latency.measure import DeployTarget

    root, _ = trained
    weight = tmp_path / "best.pt"
    shutil.copy(root / "train" / "best.pt", weight)
    cfg = load_data_config(tiny_data_yaml)
    exports, timings = [], []
    real_export, real_latencies = compare_mod.export_checkpoint, compare_mod.onnx_latencies
    monkeypatch.setattr(compare_mod, "export_checkpoint", lambda *a, **k: exports.append(a[0]) or real_export(*a, **k))
    monkeypatch.setattr(compare_mod, "onnx_latencies", lambda *a, **k: timings.append(a[2]) or real_latencies(*a, **k))
    first = compare_mod.compare({"m": weight}, cfg, tmp_path / "work", DeployTarget(1, 1))
    assert len(exports) == 1 and timings == [DeployTarget(1, 1), DeployTarget(1, 32)]
    assert first[0]["ms_1t"] == first[0]["ms_b1"]
    head = compare_mod.markdown(first, DeployTarget(1, 1)).splitlines()[0]  # and the table shows that column once
    assert head.endswith("| ORT ms (1 thr, b1) | 1 thr, b32 |")
    again = compare_mod.compare({"m": weight}, cfg, tmp_path / "work", DeployTarget(1, 1))
    assert len(exports) == 1 and again[0]["onnx"] == first[0]["onnx"] and again[0]["val_f1"] == first[0]["val_f1"]
    ckpt = torch.load(weight, weights_only=True)  # other weights in the same file: exported again
    ckpt["state_dict"] = {k: v + 0.01 if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()}
    torch.save(ckpt, weight)
    compare_mod.compare({"m": weight}, cfg, tmp_path / "work", DeployTarget(1, 1))
    assert len(exports) == 2


def test_parity_failure_is_loud(trained, tiny_data_yaml):
    root, _ = trained
    weight = root / "train" / "best.pt"
    bundle = build_data_for(weight, load_data_config(tiny_data_yaml))
    export_checkpoint(weight, root / "onnx_p", bundle, verbose=False)
    model, _ = model_from_checkpoint(weight)
    with torch.no_grad():
        model.backbone[-1].fc.bias += 1e-2  # the torch model drifts from the exported file
    with pytest.raises(ParityError, match="differ from PyTorch by up to"):
        parity(model, root / "onnx_p" / "model.onnx", bundle.loaders()[1])


def test_int8_is_kept_only_when_it_pays():
    def t(ms, spread=0.02):
        return Timing(ms, spread, 9)

    assert keep_int8(0.80, 0.795, t(2.0), t(1.0))[0]
    assert not keep_int8(0.80, 0.78, t(2.0), t(1.0))[0]  # loses 2 pt
    assert not keep_int8(0.80, 0.80, t(1.0), t(1.2))[0]  # slower
    keep, why = keep_int8(0.80, 0.80, t(1.0, 0.3), t(0.9, 0.1))  # 10 % faster, inside a ±15 % spread
    assert not keep and "not clearly faster" in why and "±15.0%" in why


def float_convs(path) -> list[str]:
    """The Conv nodes of an ONNX file whose weights are not dequantised INT8 (kept in float)."""
    g = onnx.load(str(path)).graph
    made_by = {o: n.op_type for n in g.node for o in n.output}
    return [n.name for n in g.node if n.op_type == "Conv" and made_by.get(n.input[1]) != "DequantizeLinear"]


def test_int8_fallback_keeps_the_costliest_layers_in_float(trained, tiny_data_yaml, tmp_path):
    """A score that charges 5 pt for an INT8 stem and 0.1 pt for any other INT8 conv, read from the file made:
    the fallback must measure each layer, keep the stem float first and stop there (within 1 pt); a stricter drop
    keeps more. (ONNX Runtime leaves a layer whose input stays float in float too: the score sees that.)"""
    root, _ = trained
    bundle = build_data_for(root / "train" / "best.pt", tiny_data_yaml)
    fp32 = export_checkpoint(root / "train" / "best.pt", tmp_path / "e", bundle, verbose=False)["onnx"]
    layers = [n for n in onnx.load(fp32).graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]
    convs = [n.name for n in layers if n.op_type == "Conv"]
    stem = convs[0]

    def score(path):
        kept = float_convs(path)
        return 0.80 - 0.05 * (stem not in kept) - 0.001 * sum(c not in kept for c in convs[1:])

    q, got = quantize_with_fallback(fp32, tmp_path / "q.onnx", calibration_loader(bundle), score, 0.80)
    assert got["float_layers"] == [stem] and stem in float_convs(q)
    assert got["f1_int8"] == pytest.approx(score(q)) and 0.80 - got["f1_int8"] <= 0.01
    assert len(got["tried"]) == 1 + len(layers)  # all INT8, then each weighted layer alone (the pick is one of them)
    _, strict = quantize_with_fallback(fp32, tmp_path / "q2.onnx", calibration_loader(bundle), score, 0.80,
                                       max_f1_drop=0.0005, max_float=2)
    assert strict["float_layers"][0] == stem and len(strict["float_layers"]) == 2


def test_int8_can_keep_the_kinds_that_run_slower_quantised_in_float(trained, tiny_data_yaml, tmp_path):
    """MODEL has two convs of the kinds ONNX Runtime runs slower in INT8: the stem (3 input channels) and the
    inverted residual's depthwise 3×3. ``skip_slow`` leaves exactly those float and every other conv INT8; the
    F1 fallback on top of it starts from them and never counts them."""
    root, _ = trained
    bundle = build_data_for(root / "train" / "best.pt", tiny_data_yaml)
    fp32 = export_checkpoint(root / "train" / "best.pt", tmp_path / "e", bundle, verbose=False)["onnx"]
    convs = [n for n in onnx.load(fp32).graph.node if n.op_type == "Conv"]
    assert len(convs) == 6 and len(slow_in_int8(onnx.load(fp32))) == 2  # stem, conv, expand, depthwise, project, 1×1
    q, slow = quantize_int8(fp32, tmp_path / "q.onnx", calibration_loader(bundle), skip_slow=True)
    assert len(slow) == 2 and sorted(float_convs(q)) == sorted(slow)
    everything, none = quantize_int8(fp32, tmp_path / "all.onnx", calibration_loader(bundle))
    assert none == [] and float_convs(everything) == []
    _, got = quantize_with_fallback(fp32, tmp_path / "f.onnx", calibration_loader(bundle), lambda p: 0.80, 0.80,
                                    skip_slow=True)
    assert got["float_layers"] == [] and list(got["tried"]) == ["(INT8 but the slow kinds)"]


def test_interleaved_timing_settles_and_reports_its_spread():
    fast, slow = (lambda: time.sleep(0.0005)), (lambda: time.sleep(0.002))
    got = interleaved({"fast": fast, "slow": slow}, min_rounds=4, max_rounds=30)
    assert 4 <= got["fast"].rounds == got["slow"].rounds <= 30
    assert 2.0 < got["slow"].ms / got["fast"].ms < 5.0  # sleep overhead shrinks the 4x ratio a little
    assert all(t.ms > 0.4 and t.spread >= 0 for t in got.values())


def test_finetune_inference_cli_end_to_end(trained, tiny_data_yaml, tiny_dataset, tmp_path):
    root, dec = trained
    # (in-process: the script itself runs in the bad-input catalogue)
    r = run_in_process("finetune_inference.py", "--weight", str(dec.checkpoint), "--data", str(tiny_data_yaml),
                       "--epochs", "3", "--time-budget", "0.01", "--int8", "--batch", "2", "--dst", str(tmp_path / "ft"),
                       "--img_root", str(tiny_dataset))
    assert r.returncode == 0, r.stderr
    # the time budget cuts the epochs (the demo's plan sets it when it runs late): one epoch, the fewest
    assert len(list(csv.DictReader(open(tmp_path / "ft" / "metrics.csv")))) == 1 and "time budget 0.01 s" in r.stdout
    report = json.loads((tmp_path / "ft" / "export.json").read_text())
    assert "int8_kept" in report and report["f1_int8"] >= 0 and report["ms_int8"] > 0
    assert report["deploy"].endswith("batch 2")  # the INT8 decision timed where it deploys (--batch)
    # a stem on 3 channels and factor convs of rank < 8: INT8 timed with them float too, the faster kept
    slow = slow_in_int8(onnx.load(str(tmp_path / "ft" / "model.onnx")))
    assert slow and set(report["int8_variants_ms"]) == {"every layer", "slow kinds float"}
    assert len(report["int8_slow_float"]) in (0, len(slow))
    assert (tmp_path / "ft" / "model.int8.onnx").exists() == report["int8_kept"]
    with open(tmp_path / "ft" / "predictions.csv") as f:
        rows = list(csv.DictReader(f))
    with open(tiny_dataset / "test_df.csv") as f:
        expected = [row["index"] for row in csv.DictReader(f)]
    assert [row["index"] for row in rows] == expected


TORCH_FREE = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch.") or name in ("torchvision", "timm", "albumentations"):
            raise ImportError("torch is not allowed in the runtime")
sys.meta_path.insert(0, Block())
import runpy
sys.argv = ["slimnas.runtime"] + sys.argv[1:]
runpy.run_module("slimnas.runtime", run_name="__main__")
"""


def test_predictor_is_torch_free_and_matches_torch(trained, tiny_data_yaml, tiny_dataset, tmp_path):
    root, _ = trained
    weight = root / "train" / "best.pt"
    bundle = build_data_for(weight, load_data_config(tiny_data_yaml))
    export_checkpoint(weight, tmp_path, bundle, verbose=False)
    script = tmp_path / "torch_free.py"
    script.write_text(TORCH_FREE)
    r = run_script(str(script), str(tmp_path / "model.onnx"), str(tiny_dataset / "test_df.csv"),
                   "--out", str(tmp_path / "preds.csv"), "--topk", "3", "--ort-threads", "1")
    assert r.returncode == 0, r.stderr
    with open(tmp_path / "preds.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["index", "label", "label_1", "prob_1", "label_2", "prob_2", "label_3", "prob_3"]
    assert all(row["label"] == row["label_1"] for row in rows)
    # the predictor's preprocessing is training's eval transform: same logits as the torch model on val images
    predictor = Predictor(tmp_path / "model.onnx")
    model, _ = model_from_checkpoint(weight)
    paths = [p for p, _ in bundle.val.items[:16]]
    x = torch.stack([bundle.val[i][0] for i in range(16)])
    with torch.no_grad():
        ref = torch.softmax(model(x), 1).numpy()
    assert np.abs(predictor.predict(paths) - ref).max() < 1e-4


def test_predictor_errors(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(DataError, match="bad.onnx: not a loadable ONNX model"):
        Predictor(bad)
    r = run_script("-m", "slimnas.runtime", str(bad), str(tmp_path))
    assert r.returncode == 2 and "not a loadable ONNX model" in r.stderr


def test_seed_flags_rank_cfg_and_model(trained, tiny_data_yaml, tmp_path):
    root, dec = trained
    weight = root / "train" / "best.pt"
    r = run_in_process("finetune_inference.py", "--weight", str(weight), "--rank_cfg", str(dec.rank_cfg),
                   "--model", str(root / "model.yaml"), "--data", str(tiny_data_yaml), "--epochs", "1",
                   "--dst", str(tmp_path / "ft"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "ft" / "decomposed" / "rank_cfg.yaml").read_text() == dec.rank_cfg.read_text()
    assert json.loads((tmp_path / "ft" / "export.json").read_text())["parity"]["top1_agreement"] == 1.0
    other = tmp_path / "other.yaml"
    other.write_text("timm: mobilenetv3_small_050\n")
    r = run_in_process("finetune_inference.py", "--weight", str(weight), "--model", str(other), "--data",
                   str(tiny_data_yaml), "--dst", str(tmp_path / "x"))
    assert r.returncode == 2 and "is not the architecture stored in" in r.stderr and not (tmp_path / "x").exists()


def test_spatial_means_are_exported_as_global_pooling(tmp_path):
    """ONNX Runtime's blocked layout has no ReduceMean: the head's pool and an SE block's squeeze ship as
    GlobalAveragePool (same outputs), and only means over the two spatial axes of a 4-D tensor are rewritten."""
    from onnx import TensorProto, helper, numpy_helper

    from slimnas.export import export_onnx
    from slimnas.onnx_rewrite import global_pooling
    from slimnas.model import ModelConfig, build_model

    se = {"backbone": [[1, "Conv", [16, 3, 2]], [1, "InvertedResidualv3", [16, 3, 2, 1, 1, 1]],
                       [1, "GlobalAvgPool", []], [1, "Flatten", []], [1, "Linear", ["num_classes"]]]}
    model = build_model(ModelConfig.from_dict(se, "se"), num_classes=5).eval()
    path = export_onnx(model, tmp_path / "m.onnx", 32)
    ops = [n.op_type for n in onnx.load(path).graph.node]
    assert "ReduceMean" not in ops and ops.count("GlobalAveragePool") == 2  # the SE squeeze and the head
    shipped = onnx.load(path).graph  # and the axes the means took are gone: no initializer ONNX Runtime warns about
    assert {t.name for t in shipped.initializer} <= {i for n in shipped.node for i in n.input}
    import onnxruntime as ort

    x = torch.randn(3, 3, 32, 32)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, model(x).numpy(), rtol=1e-4, atol=1e-5)

    def graph(axes, keep, dims):  # a ReduceMean as opset 18 writes it: axes as an input
        node = helper.make_node("ReduceMean", ["x", "axes"], ["y"], keepdims=keep)
        g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.array(axes, dtype=np.int64), "axes")])
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)

    dropped = graph([2, 3], 0, [2, 4, 5, 5])
    assert global_pooling(dropped) == 1 and [n.op_type for n in dropped.graph.node] == ["GlobalAveragePool", "Flatten"]
    x = np.random.default_rng(0).normal(size=(2, 4, 5, 5)).astype(np.float32)
    y = ort.InferenceSession(dropped.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(y, x.mean((2, 3)), rtol=1e-5, atol=1e-6)
    for axes, dims in (([1], [2, 4, 5, 5]), ([-2, -1], [2, 4, 5]), ([2, 3], [2, 4, 5, 5, 5])):  # not spatial 4-D
        assert global_pooling(graph(axes, 1, dims)) == 0
