"""Channel pruning: MACs targets met, the pruned structure reloads without pickles, exports with parity."""

import json
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn as nn
import yaml

from conftest import run_in_process
from slimnas.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from slimnas.data.mvtec import all_labels
from slimnas.errors import CheckpointError, ConfigError
from slimnas.export.onnx import export_onnx
from slimnas.macs import count_macs
from slimnas.model import ModelConfig, build_model
from slimnas.prune import prune_checkpoint
from slimnas.pruned import apply_channels

PRE = {"input_size": 64, "resize": "resize", "mean": [0.5] * 3, "std": [0.25] * 3}
# a slimnas net with every block the road's spaces make: SE + h-swish (v3), residual adds, MBConv, depthwise
SE_RESIDUAL = {
    "input_channel": 3, "depth_multiple": 1.0, "width_multiple": 1.0,
    "backbone": [
        [1, "Conv", [16, 3, 2, "hswish"]],
        [1, "DWConv", [16, 3, 1]],
        [1, "InvertedResidualv3", [24, 3, 3, 1, 1, 2]],
        [2, "InvertedResidualv3", [24, 5, 3, 1, 1, 1]],
        [2, "InvertedResidualv2", [32, 3, 1]],
        [1, "MBConv", [32, 3, 2, 1, 0.25]],
        [1, "Conv", [96, 1, 1]],
        [1, "GlobalAvgPool", []],
        [1, "Flatten", []],
        [1, "Linear", ["num_classes"]],
    ],
}

# fewer layer groups, for the tests that price every width of every group
SMALL = {**SE_RESIDUAL, "backbone": [SE_RESIDUAL["backbone"][i] for i in (0, 1, 2, 4, 6, 7, 8, 9)]}


def save(tmp_path, cfg: dict, name="best.pt"):
    torch.manual_seed(0)
    model_cfg = ModelConfig.from_dict(cfg, "test")
    model = build_model(model_cfg, num_classes=88)
    with torch.no_grad():  # BN statistics that differ per channel, so importances and parity are not trivial
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2), m.running_var.uniform_(0.5, 1.5), m.weight.uniform_(0.2, 1.5)
    return save_checkpoint(tmp_path / name, model, model_cfg.to_dict(), all_labels(), PRE)


@pytest.mark.parametrize("cfg", [SE_RESIDUAL, {"timm": "mobilenetv3_small_100", "pretrained": False}],
                         ids=["slimnas-se-residual", "timm-mobilenetv3"])
def test_prune_meets_the_macs_target_reloads_in_a_fresh_process_and_exports(cfg, tmp_path):
    src = save(tmp_path, cfg)
    if "timm" in cfg:  # a fixed ratio (the bisection to a target, one pruning per step, is tested on the other)
        r = prune_checkpoint(src, tmp_path / "p", ratio=0.3, runtime=None, verbose=False)
        assert 0.4 <= r.macs_after / r.macs_before <= 0.75 and r.params_after < r.params_before
    else:  # (round_to 1: channel counts of any size; multiples of 8, the default, cannot reach 50 % on so few)
        r = prune_checkpoint(src, tmp_path / "p", target_macs=0.5, round_to=1, runtime=None, verbose=False)
        assert 0.40 <= r.macs_after / r.macs_before <= 0.5 and 0 < r.ratio < 0.9
    ckpt = load_checkpoint(r.checkpoint)
    assert ckpt["channels"] and all(isinstance(v, int) for sizes in ckpt["channels"].values() for v in sizes.values())
    assert ckpt["metrics"]["compressed_from"] == str(src) and "val_f1" not in ckpt["metrics"]
    model, _ = model_from_checkpoint(r.checkpoint)
    assert count_macs(model, 64).macs == r.macs_after
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        here = model(x)
    assert here.shape == (2, 88)
    if "timm" in cfg:  # the same loading code; one fresh process (below) is enough to show no state is carried
        return _export_parity(model, x, here, tmp_path)
    # a fresh process rebuilds the same model from the YAML and the recorded sizes (weights_only loading)
    code = ("import sys, torch; from slimnas.checkpoint import model_from_checkpoint; "
            "m, _ = model_from_checkpoint(sys.argv[1]); x = torch.randn(2, 3, 64, 64, generator=torch.Generator()"
            ".manual_seed(1)); torch.save(m(x).detach(), sys.argv[2])")
    subprocess.run([sys.executable, "-c", code, str(r.checkpoint), str(tmp_path / "y.pt")], check=True, timeout=300)
    assert torch.allclose(torch.load(tmp_path / "y.pt"), here, atol=1e-5)
    _export_parity(model, x, here, tmp_path)


def _export_parity(model, x, here, tmp_path):
    onnx = export_onnx(model, tmp_path / "m.onnx", 64)
    got = ort.InferenceSession(str(onnx)).run(None, {"input": x.numpy()})[0]
    assert np.abs(got - here.numpy()).max() < 1e-4


def test_pruning_keeps_the_classes_and_removes_the_least_important_channels(tmp_path):
    src = save(tmp_path, SE_RESIDUAL)
    original, _ = model_from_checkpoint(src)
    stem_bn = original.get_submodule("backbone.0.bn")
    with torch.no_grad():
        load = torch.load(src, weights_only=True)
        load["state_dict"]["backbone.0.bn.weight"][:4] = 0.0  # four stem channels BN switches off
        torch.save(load, src)
    r = prune_checkpoint(src, tmp_path / "p", ratio=0.25, criterion="bn", round_to=4, runtime=None,
                         verbose=False)
    model, ckpt = model_from_checkpoint(r.checkpoint)
    assert model.get_submodule("backbone.0.conv").out_channels == 12 == model.get_submodule("backbone.0.bn").num_features
    assert bool((model.get_submodule("backbone.0.bn").weight != 0).all())  # the zeroed ones went
    assert stem_bn.num_features == 16 and ckpt["classes"] == all_labels()
    assert [m for m in model.modules() if isinstance(m, nn.Linear)][-1].out_features == 88


def test_channel_counts_stay_multiples_of_8_by_default_and_an_unreachable_target_is_said(tmp_path, capsys):
    r = prune_checkpoint(save(tmp_path, SE_RESIDUAL), tmp_path / "p", target_macs=0.02, runtime=None)
    model, ckpt = model_from_checkpoint(r.checkpoint)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.in_channels > 3]
    assert all(m.out_channels % 8 == 0 for m in convs if m.groups == 1 and m.out_channels != 88), \
        [m.out_channels for m in convs]
    assert "warning: --target-macs 0.02 not reached" in capsys.readouterr().err and r.ratio == 0.9
    assert min(m.out_channels for m in convs) == 8  # one block of 8 kept where 10 % would round to none


def test_prune_then_decompose_reloads_both(tmp_path):
    from slimnas.decompose.run import decompose_checkpoint

    p = prune_checkpoint(save(tmp_path, SE_RESIDUAL), tmp_path / "p", ratio=0.25, runtime=None, verbose=False)
    d = decompose_checkpoint(p.checkpoint, tmp_path / "d", target_macs=0.8, runtime=None, verbose=False)
    ckpt = load_checkpoint(d.checkpoint)
    assert ckpt["channels"] == load_checkpoint(p.checkpoint)["channels"] and ckpt["decomposition"]
    assert ckpt["metrics"]["compressed_from"] == str(tmp_path / "best.pt")  # the trained model stays the teacher
    model, _ = model_from_checkpoint(d.checkpoint)
    assert count_macs(model, 64).macs == d.macs_after


def test_a_bad_channel_spec_names_the_module(tmp_path):
    src = save(tmp_path, SE_RESIDUAL)
    model = build_model(ModelConfig.from_dict(SE_RESIDUAL, "t"), num_classes=88)
    with pytest.raises(ConfigError, match="'backbone.99' is not a module"):
        apply_channels(model, {"backbone.99": {"out_channels": 4}})
    with pytest.raises(ConfigError, match=r"backbone.0.conv: expected positive integer sizes"):
        apply_channels(model, {"backbone.0.conv": {"out_channels": -1}})
    with pytest.raises(ConfigError, match=r"backbone.0.conv: expected positive integer sizes"):
        apply_channels(model, {"backbone.0.conv": {"kernel_size": 1}})
    ckpt = torch.load(src, weights_only=True)
    ckpt["channels"] = {"backbone.0.conv": {"out_channels": 8}}  # sizes that disagree with the weights
    torch.save(ckpt, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="weights do not fit"):
        model_from_checkpoint(tmp_path / "bad.pt")


def test_prune_cli_writes_a_set_and_refuses_a_decomposed_source(tmp_path):
    src = save(tmp_path, SE_RESIDUAL)
    r = run_in_process("prune.py", "--weight", str(src), "--target-macs", "0.6", "--round-to", "1", "--no-timing",
                       "--dst", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    assert {p.name for p in (tmp_path / "o").iterdir()} == {"pruned.pt", "report.csv", "prune.json"}
    record = json.loads((tmp_path / "o" / "prune.json").read_text())
    assert record["macs_after"] / record["macs_before"] <= 0.6 and "next: slimnas finetune" in r.stdout
    rows = (tmp_path / "o" / "report.csv").read_text().splitlines()
    assert rows[0] == "layer,size,before,after" and len(rows) > 5
    from slimnas.decompose.run import decompose_checkpoint

    d = decompose_checkpoint(src, tmp_path / "d", target_macs=0.8, runtime=None, verbose=False)
    r = run_in_process("prune.py", "--weight", str(d.checkpoint), "--no-timing", "--dst", str(tmp_path / "o2"))
    assert r.returncode == 2 and "is decomposed; prune the trained checkpoint" in r.stderr
    assert not (tmp_path / "o2").exists()
    r = run_in_process("prune.py", "--weight", str(src), "--ratio", "0.95", "--dst", str(tmp_path / "o3"))
    assert r.returncode == 2 and "--ratio must be in [0, 0.9]" in r.stderr
    for args, says in ((["--target-macs", "0.5", "--also-at", "1x32"], "--also-at names more settings"),
                       (["--target-latency", "0.6", "--also-at", "1x0"], "give THREADSxBATCH with both >= 1"),
                       (["--ratio", "0.3", "--data", "d.yaml"], "--data costs per-group widths")):
        r = run_in_process("prune.py", "--weight", str(src), *args, "--dst", str(tmp_path / "o4"))
        assert r.returncode == 2 and says in r.stderr and not (tmp_path / "o4").exists(), (args, r.stderr)


def test_finetuning_a_pruned_checkpoint_keeps_its_structure(tmp_path, tiny_data_yaml):
    from slimnas.train import TrainConfig
    from slimnas.train.finetune import finetune

    from slimnas.data.config import build_data, load_data_config

    torch.manual_seed(0)
    model_cfg = ModelConfig.from_dict(SE_RESIDUAL, "t")
    data = yaml.safe_load(open(tiny_data_yaml))
    bundle = build_data(load_data_config(tiny_data_yaml))
    model = build_model(model_cfg, num_classes=len(bundle.classes))
    src = save_checkpoint(tmp_path / "best.pt", model, model_cfg.to_dict(), bundle.classes, bundle.cfg.preprocessing)
    p = prune_checkpoint(src, tmp_path / "p", ratio=0.3, runtime=None, verbose=False)
    out = finetune(p.checkpoint, tmp_path / "ft", tiny_data_yaml, TrainConfig(epochs=1, lr=1e-3, warmup_epochs=0),
                   teacher=src, verbose=False)
    tuned, ckpt = model_from_checkpoint(out["checkpoint"])
    assert ckpt["channels"] == load_checkpoint(p.checkpoint)["channels"]
    assert count_macs(tuned, data["img_size"]).macs == p.macs_after


def fake_timing(monkeypatch, extra=lambda model: 0.0, at=None):
    """A model's "time" is its MACs (plus ``extra``), or ``at(model, runtime)``, so what the latency rule chooses does
    not depend on the machine; the pricing and the checks time through the same functions."""
    from slimnas.latency.measure import Timing
    from slimnas.prune import run as run_mod, widths as widths_mod

    def cost(model, runtime):
        return at(model, runtime) if at else count_macs(model, 64).macs + extra(model)

    def interleaved(fns, **kw):
        return {name: Timing(fn() / 1e6, 0.0, 5) for name, fn in fns.items()}

    monkeypatch.setattr(run_mod, "model_call", lambda model, size, runtime: lambda: cost(model, runtime))
    monkeypatch.setattr(widths_mod, "onnx_bytes", lambda model, shape: model)  # "exported": the model itself
    monkeypatch.setattr(widths_mod, "timed_call", lambda model, runtime, shape: lambda: cost(model, runtime))
    for mod in (run_mod, widths_mod):
        monkeypatch.setattr(mod, "interleaved", interleaved)
    return run_mod


def test_a_latency_target_gives_each_layer_group_its_own_width_and_is_met(tmp_path, monkeypatch):
    run_mod = fake_timing(monkeypatch)
    src = save(tmp_path, SE_RESIDUAL)
    r = run_mod.prune_checkpoint(src, tmp_path / "p", target_latency=0.7, verbose=False)
    record = json.loads((tmp_path / "p" / "prune.json").read_text())["widths"]
    assert r.ms_after / r.ms_before <= 0.7 * 1.02 and not r.slower and record["kept"] <= 0.7 * 1.02  # the timer's 2 %
    # every narrower width of every group was priced, at multiples of 8 and never the whole group
    groups = record["channels"]
    assert {o["group"] for o in record["options"]} <= set(groups) and len(groups) >= 4
    assert all(o["width"] % 8 == 0 and 8 <= o["width"] < groups[o["group"]] for o in record["options"])
    # the pruned checkpoint has exactly the chosen widths, and not one width for all
    pruned, _ = model_from_checkpoint(r.checkpoint)
    chosen = record["widths"]
    assert chosen and all(pruned.get_submodule(g).out_channels == w for g, w in chosen.items())
    assert len({w / groups[g] for g, w in chosen.items()}) > 1 or len(chosen) < len(groups)
    assert r.ratio == pytest.approx(sum(groups[g] - w for g, w in chosen.items()) / sum(groups.values()), abs=1e-4)
    # the least important channels went: within a group, each kept channel ranks above each dropped one
    from slimnas.prune.model import layer_groups

    whole, _ = model_from_checkpoint(src)
    g, w = next(iter(chosen.items()))
    scores = layer_groups(whole, 64, 88)[g]
    kept_w = pruned.get_submodule(g).weight.flatten(1)
    kept = [i for i, row in enumerate(whole.get_submodule(g).weight.flatten(1)) if any(torch.equal(row, k) for k in kept_w)]
    assert len(kept) == w and scores[kept].min() >= scores.sort().values[:len(scores) - w].max()


def test_a_latency_target_also_at_other_settings_holds_at_each(tmp_path, monkeypatch):
    """At batch 32 the "time" is the parameter count (a model bound by its weights, not its MACs): a choice made
    for batch 1 alone misses there; asked to hold at both, the widths are priced and checked at each."""
    from slimnas.latency.measure import DeployTarget

    def at(model, runtime):
        return count_macs(model, 64).macs if runtime.batch == 1 else 50 * sum(p.numel() for p in model.parameters())

    run_mod = fake_timing(monkeypatch, at=at)
    src = save(tmp_path, SMALL)
    b1, b32 = DeployTarget(2, 1), DeployTarget(2, 32)
    one = run_mod.prune_checkpoint(src, tmp_path / "one", target_latency=0.7, runtime=b1, verbose=False)
    both = run_mod.prune_checkpoint(src, tmp_path / "both", target_latency=0.7, runtime=b1, also_at=[b32, b1],
                                    verbose=False)
    record = json.loads((tmp_path / "both" / "prune.json").read_text())["widths"]
    assert record["settings"] == [b1.describe(), b32.describe()]  # the deploy setting first, no repeats
    assert len(record["kept_at"]) == 2 and max(record["kept_at"]) == record["kept"] <= 0.7 * 1.02
    assert all(len(c["kept_at"]) == 2 and c["kept"] == max(c["kept_at"]) for c in record["choices"])
    # the pick's kept fractions are the models' own at each setting
    whole, _ = model_from_checkpoint(src)
    pruned, _ = model_from_checkpoint(both.checkpoint)
    assert record["kept_at"] == [pytest.approx(at(pruned, r) / at(whole, r), abs=1e-4) for r in (b1, b32)]
    alone, _ = model_from_checkpoint(one.checkpoint)
    assert at(alone, b32) / at(whole, b32) > 0.7 * 1.02, "the batch-1 choice should miss at batch 32 for this test"
    assert one.ms_after / one.ms_before <= 0.7 * 1.02 and both.ms_after / both.ms_before <= 0.7 * 1.02
    with pytest.raises(ConfigError, match="--also-at"):
        run_mod.prune_checkpoint(src, tmp_path / "x", target_macs=0.5, also_at=[b32], verbose=False)


def test_given_data_each_cut_costs_the_divergence_it_measures_on_training_images(tmp_path, monkeypatch, tiny_data_yaml):
    from slimnas.prune.model import prune_to_widths
    from slimnas.prune.run import calibration_images
    from slimnas.prune.widths import Divergence
    from slimnas.train.evaluate import build_data_for

    run_mod = fake_timing(monkeypatch)
    src = save(tmp_path, SMALL)
    model, ckpt = model_from_checkpoint(src)  # answers far from uniform, as a trained model's (random ones barely move)
    with torch.no_grad():
        [m for m in model.modules() if isinstance(m, nn.Linear)][-1].weight.mul_(30)
    save_checkpoint(src, model, ckpt["model"], ckpt["classes"], ckpt["preprocessing"])
    r = run_mod.prune_checkpoint(src, tmp_path / "p", target_latency=0.7, data=tiny_data_yaml, verbose=False)
    record = json.loads((tmp_path / "p" / "prune.json").read_text())["widths"]
    assert record["cost_of"].startswith("KL divergence") and r.ms_after / r.ms_before <= 0.7 * 1.02
    # the images: training images, evenly spaced, through the evaluation transform (the same every run)
    bundle = build_data_for(src, tiny_data_yaml)
    images = calibration_images(bundle, 40)
    assert images.shape == (40, 3, 64, 64) and torch.equal(images, calibration_images(bundle, 40))
    listed = bundle.calibration()
    assert listed.transform is bundle.val.transform and listed.items == bundle.train.items
    assert torch.equal(images[0], listed[0][0]) and torch.equal(images[-1], listed[len(listed) - 1][0])
    # an option's cost and the pick's are the divergences of those models, measured
    whole, _ = model_from_checkpoint(src)
    judge = Divergence(whole, calibration_images(bundle))
    o = max(record["options"], key=lambda o: o["cost"])
    cut = prune_to_widths(model_from_checkpoint(src)[0], 64, {o["group"]: o["width"]}, 88, "magnitude")
    assert o["cost"] == pytest.approx(judge(cut), rel=0.05) and o["cost"] > 0
    pruned, _ = model_from_checkpoint(r.checkpoint)
    assert record["cost"] == pytest.approx(judge(pruned), rel=0.05) and record["cost"] > 0
    assert judge(whole) == pytest.approx(0.0, abs=1e-6) and record["choices"][0]["cost"] == pytest.approx(0.0, abs=1e-5)
    # and the pick is the least divergent choice that meets the target
    met = [c for c in record["choices"] if c["kept"] <= 0.7 * 1.02]
    assert record["cost"] == min(c["cost"] for c in met)


def test_the_knapsack_finds_the_cheapest_widths_that_save_enough():
    import itertools
    import random

    from slimnas.prune.widths import UNITS, Option, knapsack

    rng = random.Random(0)
    for trial in range(30):
        options = [Option(f"g{g}", w, rng.uniform(-0.1, 1.0), rng.uniform(0.1, 5.0)) for g in range(4) for w in (8, 16, 24)]
        need = rng.uniform(0.5, 2.5)
        per_group = [[None] + [o for o in options if o.group == f"g{g}" and o.saving > 0] for g in range(4)]
        combos = [[o for o in c if o] for c in itertools.product(*per_group)]
        chosen = knapsack(options, need)
        picked = [o for o in options if chosen.get(o.group) == o.width]
        saved = sum(o.saving for o in picked)
        if max(sum(o.saving for o in c) for c in combos) < need:  # out of reach: the fastest there is
            assert saved == pytest.approx(max(sum(o.saving for o in c) for c in combos))
            continue
        assert saved >= need  # never short of the time asked for (each saving is rounded down)
        slack = need + 4 * need / UNITS  # beyond the rounding, nothing cheaper saves enough
        cheapest = min(sum(o.cost for o in c) for c in combos if sum(o.saving for o in c) >= slack)
        assert sum(o.cost for o in picked) <= cheapest + 1e-9
    assert knapsack(options, 0.0) == {} and knapsack([Option("g", 8, -0.1, 1.0)], 1.0) == {}


# the tiny space's start point begins so: a stem of 8 channels, then a grouped conv with a channel multiplier of 2
MULTIPLIER = {**SE_RESIDUAL, "backbone": [[1, "Conv", [8, 3, 2, "hswish"]], [1, "DWConv", [16, 3, 2]],
                                          *SE_RESIDUAL["backbone"][2:]]}


def test_widening_a_channel_multiplier_is_exact_reloads_and_lets_its_layer_group_be_pruned(tmp_path):
    from slimnas.prune.model import prune_channels, widen_depthwise
    from slimnas.pruned import channel_sizes, channel_spec

    src = save(tmp_path, MULTIPLIER)
    model, _ = model_from_checkpoint(src)
    model.eval()
    widened = model_from_checkpoint(src)[0].eval()
    assert widen_depthwise(widened) == ["backbone.1.conv"]
    stem, dw = widened.get_submodule("backbone.0"), widened.get_submodule("backbone.1.conv")
    assert (stem.conv.out_channels, stem.bn.num_features, stem.conv.weight.shape[0]) == (16, 16, 16)
    assert (dw.in_channels, dw.groups, tuple(dw.weight.shape)) == (16, 16, (16, 1, 3, 3))
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        # each channel computed twice, by the same arithmetic; oneDNN may pick another kernel for 16 channels than
        # for 8 (it did on an AMD host), so equal up to float rounding, not bit for bit
        torch.testing.assert_close(widened(x), model(x), rtol=1e-5, atol=1e-6)
    assert widen_depthwise(widened) == []  # already depthwise
    # as a channel spec in a checkpoint it reloads; exported, every grouped conv of ONNX is depthwise
    spec = channel_spec(channel_sizes(model), widened)
    path = save_checkpoint(tmp_path / "w.pt", widened, ModelConfig.from_dict(MULTIPLIER, "t").to_dict(), all_labels(),
                           PRE, channels=spec)
    again, _ = model_from_checkpoint(path)
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x), rtol=1e-5, atol=1e-6)
    import onnx

    graph = onnx.load(export_onnx(again, tmp_path / "w.onnx", 64)).graph
    weights = {t.name: t.dims for t in graph.initializer}
    grouped = [(n, {a.name: a.i for a in n.attribute}.get("group", 1)) for n in graph.node if n.op_type == "Conv"]
    assert all(weights[n.input[1]][1] == 1 for n, g in grouped if g > 1) and any(g == 16 for _, g in grouped)
    # Torch-Pruning now prunes the stem's layer group too; unwidened it must leave it whole
    plain = prune_channels(model_from_checkpoint(src)[0], 64, 0.5, 88)
    assert plain.get_submodule("backbone.0.conv").out_channels == 8
    pruned = prune_channels(widened, 64, 0.5, 88)
    assert pruned.get_submodule("backbone.0.conv").out_channels == 8 == pruned.get_submodule("backbone.1.conv").groups


def test_the_rules_weigh_widening(tmp_path, monkeypatch):
    from slimnas.prune import run as run_mod

    src = save(tmp_path, MULTIPLIER)
    ways = {w: run_mod.prune_checkpoint(src, tmp_path / f"m{w}", target_macs=0.5, round_to=1, runtime=None, widen=w,
                                        verbose=False) for w in (None, False, True)}
    assert ways[True].widened and ways[True].macs_after <= 0.5 * ways[True].macs_before
    assert ways[None].widened == (ways[True].ratio < ways[False].ratio)  # the way that prunes less
    assert ways[None].ratio == min(ways[True].ratio, ways[False].ratio) != ways[True].ratio  # (here: widening costs)
    assert json.loads((tmp_path / "mNone" / "prune.json").read_text())["widened"] is ways[None].widened
    assert not run_mod.prune_checkpoint(src, tmp_path / "o", ratio=0.3, runtime=None, verbose=False).widened

    # "time": the MACs, but a grouped conv with a multiplier costs 100x
    fake_timing(monkeypatch, lambda model: 1e5 * sum(99 * m.out_channels for m in model.modules()
                                                     if isinstance(m, nn.Conv2d) and 1 < m.groups < m.out_channels))
    r = run_mod.prune_checkpoint(src, tmp_path / "l", target_latency=0.5, verbose=False)
    record = json.loads((tmp_path / "l" / "prune.json").read_text())
    assert record["widened"] is True and record["ratio"] == 0.0  # widening alone meets the target: nothing pruned
    assert record["widths"]["whole_kept"] <= 0.5 and record["widths"]["widths"] == {}
    assert 16 in record["widths"]["channels"].values()  # priced on the widened model: its stem's group is widened
    assert r.macs_after > r.macs_before and r.ms_after <= 0.5 * r.ms_before


def test_pruning_more_never_keeps_more_at_a_rounding(tmp_path):
    """Torch-Pruning alone skips a layer group that rounding would empty: at multiples of 8, ratio 0.9 kept more
    MACs than 0.7, and the bisection to a MACs target gave up. Each group now keeps at least one block."""
    from slimnas.prune.model import prune_channels

    model, _ = model_from_checkpoint(save(tmp_path, MULTIPLIER))
    macs = [count_macs(prune_channels(model_from_checkpoint(tmp_path / "best.pt")[0], 64, r, 88, round_to=8), 64).macs
            for r in (0.5, 0.7, 0.9)]
    assert macs[0] >= macs[1] >= macs[2], macs
    pruned = prune_channels(model, 64, 0.9, 88, round_to=8)
    kept = [m.out_channels for m in pruned.modules() if isinstance(m, nn.Conv2d) and m.out_channels != 88]
    assert min(kept) == 8 and all(k % 8 == 0 for k in kept), kept
