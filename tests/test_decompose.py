"""Decomposition: exactness at full rank, analytic MACs, rank selection, checkpoints, rank_cfg errors."""

from __future__ import annotations

import csv
import json
import pickle
import re

import numpy as np
import pytest
import torch
import torch.nn as nn
import yaml

from conftest import REPO, TINY_MODEL, run_in_process, run_script
from slimnas.data.mvtec import all_labels
from slimnas.decompose import decompose, layer_macs, relative_error, resolve_spec
from slimnas.latency.measure import DeployTarget
from slimnas.decompose.ranks import Spectra, energy_rank, evbmf_rank, greedy_under_budget
from slimnas.decompose.run import decompose_checkpoint
from slimnas.errors import ConfigError
from slimnas.macs import count_macs
from slimnas.model import build_model, load_model_config
from slimnas.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint


def _rel(a, b):
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("stride, padding, dilation, bias", [(1, 1, 1, True), (2, 1, 1, False), (2, 2, 2, True),
                                                             (1, 0, 1, False)])
def test_tucker_full_rank_is_exact(stride, padding, dilation, bias):
    torch.manual_seed(0)
    conv = nn.Conv2d(12, 20, 3, stride=stride, padding=padding, dilation=dilation, bias=bias)
    seq = decompose(conv, "tucker", [20, 12])
    x = torch.randn(2, 12, 17, 17)
    with torch.no_grad():
        assert seq(x).shape == conv(x).shape and _rel(seq(x), conv(x)) <= 1e-4
    assert [type(m) for m in seq] == [nn.Conv2d] * 3 and seq[1].stride == (stride, stride)


@pytest.mark.parametrize("layer", [nn.Conv2d(16, 24, 1, stride=2), nn.Conv2d(16, 24, 1, bias=False), nn.Linear(32, 10)])
def test_svd_full_rank_is_exact(layer):
    torch.manual_seed(0)
    seq = decompose(layer, "svd", [min(layer.weight.shape[:2])])
    x = torch.randn(3, 16, 9, 9) if isinstance(layer, nn.Conv2d) else torch.randn(3, 32)
    with torch.no_grad():
        assert _rel(seq(x), layer(x)) <= 1e-4


def test_cp_error_falls_as_rank_grows():
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 16, 3, padding=1)
    errors = [relative_error(conv, decompose(conv, "cp", [r]), (9, 9)) for r in (2, 8, 24, 72)]
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 0.05


def _cp_kernel(seq: nn.Sequential) -> torch.Tensor:
    """The k×k kernel a CP replacement computes: sum over r of out[:, r] ⊗ in[r] ⊗ h[r] ⊗ w[r]."""
    a_in, a_h, a_w, a_out = (m.weight.detach().double() for m in seq)
    return torch.einsum("or,ri,rh,rw->oihw", a_out[:, :, 0, 0], a_in[:, :, 0, 0], a_h[:, 0, :, 0], a_w[:, 0, 0, :])


@pytest.mark.parametrize("decay", [1.0, 0.7])  # a random kernel, and one whose output spectrum decays like a trained one's
def test_cp_rank_price_bounds_the_fitted_error_from_above(decay):
    from slimnas.decompose.ranks import cp_bounds

    rng = np.random.default_rng(0)
    u = np.linalg.qr(rng.normal(size=(16, 16)))[0]
    w = np.einsum("oa,a,aikl->oikl", u, decay ** np.arange(16), rng.normal(size=(16, 16, 3, 3)))
    conv = nn.Conv2d(16, 16, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.as_tensor(w))
    spectra = Spectra(w)
    bounds = cp_bounds(w)  # the construction's error, which stays put past its last term
    for r in (4, 16, 32):
        fitted2 = float(((_cp_kernel(decompose(conv, "cp", [r])) - torch.as_tensor(w)) ** 2).sum() / (w ** 2).sum())
        # the price the rank is chosen by is never below what the fit reaches: rank 16 of a 16x16 kernel is
        # not free (the channel tails, a lower bound, said 0 there, and the fitted error was 0.71)
        assert fitted2 - 1e-6 <= spectra.error2("cp", [r]) <= bounds[min(r, len(bounds) - 1)] + 1e-9, (r, fitted2)
        assert fitted2 > 0.01
    assert spectra.error2("cp", [16]) >= 0.1 and spectra.error2("cp", [4]) >= spectra.error2("cp", [16])


def test_separable_split_is_exact_for_rank_one_kernels():
    dw = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8)
    with torch.no_grad():
        dw.weight.copy_(torch.randn(8, 1, 3, 1) * torch.randn(8, 1, 1, 3))
    seq = decompose(dw, "separable", [])
    x = torch.randn(2, 8, 10, 10)
    with torch.no_grad():
        assert _rel(seq(x), dw(x)) <= 1e-5


def test_decomposed_macs_equal_the_hand_count():
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, stride=2, padding=1))
    before = count_macs(model, 16).macs
    conv = model[2]
    model[2] = decompose(conv, "tucker", [8, 4])
    # 1x1 16->4 at 16x16, 3x3 core 4->8 stride 2 -> 8x8, 1x1 8->32 at 8x8
    hand = 16 * 16 * 16 * 4 + 8 * 8 * 4 * 8 * 9 + 8 * 8 * 8 * 32
    assert layer_macs(model[2], (16, 16)) == hand
    assert count_macs(model, 16).macs == before - 8 * 8 * 32 * 16 * 9 + hand


def test_rank_rules():
    rng = np.random.default_rng(0)
    low = rng.normal(size=(40, 5)) @ rng.normal(size=(5, 60))
    assert evbmf_rank(low + 0.01 * rng.normal(size=low.shape)) == 5
    assert energy_rank(np.diag([3.0, 2.0, 1.0]), 0.9) == 2  # 9+4 = 13 of 14 = 93 %
    options = {"a": [(100, 0.0), (50, 0.1), (10, 0.5)], "b": [(100, 0.0), (40, 0.05)]}
    assert greedy_under_budget(options, 0, 150) == {"a": 0, "b": 1}  # b saves 60 for 0.05: cheapest per MAC
    assert greedy_under_budget(options, 0, 90) == {"a": 1, "b": 1}


# ------------------------------------------------------------------------------------------ checkpoints

@pytest.fixture()
def checkpoint(tmp_path):
    torch.manual_seed(0)
    cfg = load_model_config(REPO / "code/configs/model/baseline.yaml")
    model = build_model(cfg, num_classes=88)
    return save_checkpoint(tmp_path / "best.pt", model, cfg.to_dict(), all_labels(),
                           {"input_size": 64, "resize": "resize", "mean": [0.5] * 3, "std": [0.25] * 3})


def test_target_macs_save_load_and_replay(checkpoint, tmp_path):
    r = decompose_checkpoint(checkpoint, tmp_path / "auto", target_macs=0.5, verbose=False)
    assert abs(r.macs_after / r.macs_before - 0.5) <= 0.05 * 0.5
    model, ckpt = model_from_checkpoint(r.checkpoint)
    assert count_macs(model, 64).macs == r.macs_after and ckpt["decomposition"]
    x = torch.randn(2, 3, 64, 64)
    replay = decompose_checkpoint(checkpoint, tmp_path / "replay", rank_cfg=r.rank_cfg, verbose=False)
    again, _ = model_from_checkpoint(replay.checkpoint)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))
    assert yaml.safe_load(r.rank_cfg.read_text()) == yaml.safe_load(replay.rank_cfg.read_text())
    report = (tmp_path / "auto" / "report.csv").read_text().splitlines()
    assert report[0].startswith("layer,shape,method,ranks") and len(report) == len(r.rows) + 1


def test_decomposed_model_keeps_outputs_close_at_full_rank(checkpoint, tmp_path):
    original, _ = model_from_checkpoint(checkpoint)
    cfg = tmp_path / "full.yaml"
    cfg.write_text(yaml.safe_dump({"backbone.0.conv": {"method": "tucker", "ranks": 1.0},
                                   "backbone.5.conv": {"method": "svd", "ranks": 1.0}}))
    r = decompose_checkpoint(checkpoint, tmp_path / "full", rank_cfg=cfg, verbose=False)
    model, _ = model_from_checkpoint(r.checkpoint)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert _rel(model(x), original(x)) <= 1e-4


@pytest.mark.parametrize("entry, message", [
    ({"backbone.0.cnv": 0.5}, "layer 'backbone.0.cnv': no such layer; did you mean 'backbone.0.conv'?"),
    ({"backbone.0.conv": {"method": "tucker", "ranks": [0, 3]}}, "rank 0 is out of range (1..16"),
    ({"backbone.0.conv": {"method": "tucker", "ranks": [17, 3]}}, "rank 17 is out of range (1..16"),
    ({"backbone.5.conv": {"method": "cp", "ranks": [4]}}, "cp does not fit a pointwise layer (use svd)"),
    ({"backbone.0.bn": 0.5}, "cannot be decomposed: a BatchNorm2d is not a conv"),
])
def test_bad_rank_cfg_names_the_layer_and_writes_nothing(checkpoint, tmp_path, entry, message):
    cfg = tmp_path / "ranks.yaml"
    cfg.write_text(yaml.safe_dump(entry))
    with pytest.raises(ConfigError) as e:
        decompose_checkpoint(checkpoint, tmp_path / "out", rank_cfg=cfg, verbose=False)
    assert message in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "out").exists()


def test_pickled_rank_cfg_is_refused_unread(checkpoint, tmp_path):
    class Boom:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    bad = tmp_path / "ranks.pkl"
    bad.write_bytes(pickle.dumps({"backbone.0.conv": Boom()}))
    r = run_in_process("decompose.py", "--weight", str(checkpoint), "--rank_cfg", str(bad), "--dst", str(tmp_path / "out"))
    assert r.returncode == 2 and "looks like a pickle" in r.stderr and "json.dump" in r.stderr
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "out").exists()


def test_decompose_cli(checkpoint, tmp_path):
    r = run_script("decompose.py", "--weight", str(checkpoint), "--target-macs", "0.7", "--dst", str(tmp_path / "d"))
    assert r.returncode == 0, r.stderr
    assert "model: MACs" in r.stdout and "next: slimnas finetune" in r.stdout
    assert {p.name for p in (tmp_path / "d").iterdir()} >= {"decomposed.pt", "rank_cfg.yaml", "report.csv"}


def test_target_latency_is_measured_and_a_slower_result_is_said(checkpoint, tmp_path):
    r = run_in_process("decompose.py", "--weight", str(checkpoint), "--target-latency", "0.9", "--ort-threads", "1",
                       "--dst", str(tmp_path / "lat"))
    assert r.returncode == 0, r.stderr
    assert "1 thread, batch 1" in r.stdout + r.stderr  # where it was measured, whatever the outcome
    kept = load_checkpoint(tmp_path / "lat" / "decomposed.pt")["decomposition"]
    # three outcomes, each said: layers kept and the whole model timed faster; every layer timed faster alone but
    # the whole model slower, so all reverted; or no layer measured faster at all (a loaded machine). Never a
    # slower model shipped.
    if "none is measured faster in a factorised form" in r.stderr:
        assert not kept and not (tmp_path / "lat" / "latency.json").exists()
        return  # (the decision with layers kept, and the revert, are checked with fixed timings below)
    assert list(csv.DictReader(open(tmp_path / "lat" / "report.csv")))  # what was tried, with its timings
    timing = json.loads((tmp_path / "lat" / "latency.json").read_text())
    assert timing["before"]["ms"] > 0 and timing["after"]["rounds"] >= 5 and "slower" in timing
    assert (not timing["slower"] and kept and "measured on ONNX Runtime" in r.stdout) or \
        (timing.get("reverted") and not kept and "the whole model ran slower" in r.stderr), (timing, r.stderr)
    # every layer kept runs faster factorised: timed afresh here, interleaved, not read from the cache the rule
    # chose by (a test reading those entries back could not fail)
    from slimnas.decompose.model import input_sizes
    from slimnas.decompose.timing import layer_shape
    from slimnas.latency.measure import interleaved, session, session_call
    from slimnas.latency.table import onnx_bytes

    original, _ = model_from_checkpoint(checkpoint)
    factorised, _ = model_from_checkpoint(tmp_path / "lat" / "decomposed.pt")
    sizes, rt = input_sizes(original, 64), DeployTarget(threads=1)
    for name in kept:
        shape = layer_shape(original.get_submodule(name), sizes.get(name))
        calls = {k: session_call(session(onnx_bytes(m.get_submodule(name), shape), rt), rt, shape)
                 for k, m in (("whole", original), ("factorised", factorised))}
        # the rule keeps a layer only 10 % and 5 us faster; a fresh timing on a loaded machine wanders by its
        # own measured spread (up to 21 % when another process held a core), so that much is allowed, and
        # three fresh timings are taken before a layer is called slower: a layer that is slower fails them all
        tries = []
        for _ in range(3):
            t = interleaved(calls, min_rounds=9)
            tries.append(t)
            noise = max(t["factorised"].spread, t["whole"].spread)
            if t["factorised"].ms < t["whole"].ms * (1.1 + noise):
                break
        else:
            raise AssertionError((name, tries))


def fixed_timings(monkeypatch, before: float, after: float):
    """Timings that do not depend on the machine: a layer costs 1 ms per M-MACs alone, the whole model
    ``before`` -> ``after`` ms (the real measurements are the benches' job; a loaded machine reorders them)."""
    from slimnas.decompose import run as run_mod
    from slimnas.macs import layer_macs
    from slimnas.latency.measure import Timing

    real = run_mod.ModelTimer.compare

    def whole(self, calls):
        if set(calls) != {"before", "after"}:
            return real(self, calls)
        return {"before": Timing(before, 0.01, 5), "after": Timing(after, 0.01, 5)}

    monkeypatch.setattr(run_mod.ModelTimer, "compare", whole)
    monkeypatch.setattr(run_mod.LayerTimer, "__call__",
                        lambda self, m, shape: layer_macs(m, tuple(shape[1:]) if len(shape) == 3 else None) / 1e6)
    return run_mod


def test_a_slower_result_is_said_in_capitals(checkpoint, tmp_path, monkeypatch, capsys):
    run_mod = fixed_timings(monkeypatch, 1.0, 1.3)
    run_mod.decompose_checkpoint(checkpoint, tmp_path / "full", target_macs=0.7)
    said = capsys.readouterr()
    assert "SLOWER than the source" in said.out and "warning: the decomposed model is SLOWER" in said.err
    assert "1.0000 -> 1.3000 ms" in said.err
    assert json.loads((tmp_path / "full" / "latency.json").read_text())["slower"] is True


def test_a_latency_target_reverts_when_the_whole_model_runs_slower(checkpoint, tmp_path, monkeypatch, capsys):
    # each factorised layer timed faster alone (the rule chose them), the whole model measured slower
    run_mod = fixed_timings(monkeypatch, 1.0, 1.2)
    result = run_mod.decompose_checkpoint(checkpoint, tmp_path / "d", target_latency=0.9, verbose=False)
    assert "the whole model ran slower (1.0000 -> 1.2000 ms" in capsys.readouterr().err
    assert result.rows == [] and result.macs_after == result.macs_before and not result.slower
    assert load_checkpoint(tmp_path / "d" / "decomposed.pt")["decomposition"] == {}
    tried = list(csv.DictReader(open(tmp_path / "d" / "report.csv")))
    assert tried and all(float(x["ms_after"]) < float(x["ms_before"]) for x in tried)  # what was tried, kept in the report
    assert json.loads((tmp_path / "d" / "latency.json").read_text())["reverted"] is True
    model, _ = model_from_checkpoint(tmp_path / "d" / "decomposed.pt")
    original, _ = model_from_checkpoint(checkpoint)
    x = torch.randn(2, 3, 64, 64)
    assert torch.equal(model.eval()(x), original.eval()(x))  # the model unchanged, weights included


def test_resolve_spec_fraction_defaults():
    model = build_model(TINY_MODEL, num_classes=5)
    spec = resolve_spec(model, {"backbone.0.conv": 0.5})
    assert spec == {"backbone.0.conv": {"method": "tucker", "ranks": [4, 2]}}


def test_closed_form_errors_bound_the_fitted_ones():
    """--target-macs ranks candidates by the spectra: SVD exact, Tucker-2 between the larger tail and their sum."""
    # the bounds are on the weights, the fitted error is probed on outputs: a rare unlucky weight draw lands
    # 20 % over (once in CI, where xdist leaves the global RNG in any state); 40 seeds in a row all pass
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(24, 32, 3, bias=False)
    with torch.no_grad():  # a decaying spectrum, as trained weights have
        conv.weight.mul_(torch.logspace(0, -2, 32)[:, None, None, None])
    spectra = Spectra(conv.weight.detach().double().numpy())
    for ranks in ([8, 6], [16, 12], [28, 20]):
        fitted = relative_error(conv, decompose(conv, "tucker", ranks), (10, 10)) ** 2
        lower = max(spectra.out[ranks[0]], spectra.inp[ranks[1]])
        assert lower * 0.8 <= fitted <= spectra.error2("tucker", ranks) * 1.2 + 1e-9, ranks
    assert spectra.error2("tucker", [32, 24]) == pytest.approx(0.0, abs=1e-12)
    pw = torch.nn.Conv2d(24, 32, 1, bias=False)
    exact = relative_error(pw, decompose(pw, "svd", [10]), (6, 6)) ** 2
    assert Spectra(pw.weight.detach().double().numpy()).error2("svd", [10]) == pytest.approx(exact, rel=0.2)


@pytest.mark.parametrize("method, layer", [
    ("tucker", nn.Conv2d(8, 12, 3, padding="same")), ("tucker", nn.Conv2d(8, 12, 5, padding="same", dilation=2)),
    ("cp", nn.Conv2d(6, 6, 3, padding="same")), ("separable", nn.Conv2d(8, 8, 3, padding="same", groups=8)),
    ("svd", nn.Conv2d(8, 12, 1, padding=1)), ("tucker", nn.Conv2d(8, 12, 3, padding="valid"))])
def test_padding_same_and_valid_are_reproduced(method, layer):
    torch.manual_seed(0)
    if method == "separable":  # exact only for rank-1 kernels
        with torch.no_grad():
            layer.weight.copy_(torch.randn(8, 1, 3, 1) * torch.randn(8, 1, 1, 3))
    if method == "cp":  # an exact rank-3 kernel, which ALS recovers: a full-rank (324) CP of a random kernel is
        with torch.no_grad():  # degenerate, and one CI draw diverged to 1.16 relative error
            layer.weight.copy_(torch.einsum("ro,ri,rh,rw->oihw", *(torch.randn(3, n) for n in (6, 6, 3, 3))))
    ranks = {"tucker": [12, 8], "cp": [3], "svd": [8], "separable": []}[method]
    seq = decompose(layer, method, ranks)
    x = torch.randn(2, layer.in_channels, 11, 11)
    with torch.no_grad():
        assert seq(x).shape == layer(x).shape and _rel(seq(x), layer(x)) <= 1e-4


def test_layers_no_method_reproduces_are_refused_by_name(tmp_path):
    from timm.layers import Conv2dSame, StdConv2d

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.same = Conv2dSame(3, 8, 3, stride=2)
            self.std = StdConv2d(8, 8, 3, padding=1)
            self.grouped = nn.Conv2d(8, 8, 3, padding=1, groups=2)
            self.reflect = nn.Conv2d(8, 8, 3, padding=1, padding_mode="reflect")
            self.ok = nn.Conv2d(8, 8, 3, padding=1)

    net = Net()
    from slimnas.factorized import decomposable

    assert list(decomposable(net)) == ["ok"]  # the automatic rules never touch the others
    for name, why in (("same", "Conv2dSame is not a plain Conv2d"), ("std", "StdConv2d is not a plain Conv2d"),
                      ("grouped", "grouped conv (groups=2)"), ("reflect", "padding_mode='reflect'")):
        with pytest.raises(ConfigError, match=re.escape(why)):
            resolve_spec(net, {name: 0.5})


def test_resnet18_decomposes_exactly_at_full_rank():
    """timm resnet18 (k×k-heavy, conv → BN pairs, 1×1 strided shortcuts): every conv at full rank."""
    torch.manual_seed(0)
    model = build_model({"timm": "resnet18"}, num_classes=10).eval()
    from slimnas.decompose import apply_decomposition
    from slimnas.decompose.model import decompose_model
    from slimnas.factorized import decomposable

    # every kind of layer it has (7×7 stem, 3×3 conv → BN pairs, strided 1×1 shortcuts, the linear head),
    # leaving out the 256/512-channel 3×3 convs only to keep the test fast
    spec = resolve_spec(model, {n: 1.0 for n in decomposable(model)
                                if not n.startswith(("layer3", "layer4")) or "downsample" in n})
    assert len(spec) == 13 and {e["method"] for e in spec.values()} == {"tucker", "svd"}
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
        decompose_model(model, spec, 64)
        assert _rel(model(x), ref) <= 1e-3
    assert type(model.layer2[0].conv1) is nn.Sequential and apply_decomposition(
        build_model({"timm": "resnet18"}, num_classes=10), spec) is not None


def test_factor_chains_add_no_unfused_work_in_onnx_runtime(checkpoint, tmp_path):
    """conv → BN → act becomes 1×1 → k×k → 1×1 → BN → act: the BN folds and the act fuses into the last factor."""
    import collections

    import onnx
    import onnxruntime as ort

    from slimnas.export import export_onnx

    r = decompose_checkpoint(checkpoint, tmp_path / "d", target_macs=0.6, verbose=False, runtime=None)
    model, _ = model_from_checkpoint(r.checkpoint)
    path = export_onnx(model, tmp_path / "m.onnx", 64)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    opts.optimized_model_filepath = str(tmp_path / "opt.onnx")
    ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    ops = collections.Counter(n.op_type for n in onnx.load(tmp_path / "opt.onnx").graph.node)
    assert not {"BatchNormalization", "Relu", "Clip"} & set(ops), ops
    convs = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    assert ops["Conv"] + ops.get("FusedConv", 0) == convs


def test_ranks_and_factors_follow_the_batchnorm_scale():
    """12 of a conv's 16 output channels are switched off by the BN after it (γ = 0.01) and hold most of the
    raw weight's energy: chosen on raw weights a rank spends itself on them; on BN-scaled weights it goes to
    the channels the network uses, and the error after BN is far lower."""
    from slimnas.decompose.model import auto_rank_cfg, output_scales

    torch.manual_seed(0)
    block = nn.Sequential(nn.Conv2d(16, 16, 1, bias=False), nn.BatchNorm2d(16)).eval()
    with torch.no_grad():
        block[0].weight[:12] *= 10.0  # loud channels...
        block[1].weight[:12] = 0.01  # ...that BN silences
    model = nn.Sequential(nn.Conv2d(3, 16, 1), block, nn.Flatten()).eval()
    scales = output_scales(model)
    assert list(scales) == ["1.0"] and scales["1.0"][:12].max() < 0.02 < scales["1.0"][12:].min()
    x = torch.randn(4, 16, 6, 6)

    def bn_error(seq):
        with torch.no_grad():
            return float(torch.linalg.norm(block[1](seq(x)) - block(x)) / torch.linalg.norm(block(x)))

    raw, scaled = decompose(block[0], "svd", [4]), decompose(block[0], "svd", [4], out_scale=scales["1.0"])
    assert bn_error(scaled) < 0.25 * bn_error(raw), (bn_error(scaled), bn_error(raw))
    # the energy rule sees the scaled spectrum: the 12 loud, silenced channels no longer need rank
    assert energy_rank(block[0].weight.detach().double().numpy()[:, :, 0, 0], 0.9) >= 6  # what raw weights ask
    assert auto_rank_cfg(model, 6, "energy", 0.9)["1.0"]["ranks"][0] <= 4
    # a conv whose output also goes elsewhere is not scaled by the BN on one of its paths
    class Fork(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)

        def forward(self, y):
            z = self.conv(y)
            return self.bn(z) + z

    assert output_scales(Fork()) == {}
