"""The latency table of the deployment runtime, its calibration, and the profiling command."""

from __future__ import annotations

import json

import pytest
import torch.nn as nn

from conftest import TINY_MODEL, run_script
from slimnas.export import export_onnx
from slimnas.latency.measure import Runtime
from slimnas.latency.table import LatencyTable, piece_inputs, pieces
from slimnas.model import build_model


def test_pieces_split_repeats_and_follow_the_forward():
    net = build_model({**TINY_MODEL, "backbone": [[1, "Conv", [8, 3, 2]], [2, "Conv", [8, 3, 1]], *TINY_MODEL["backbone"][1:]]},
                      num_classes=5)
    names = [n for n, _ in pieces(net)]
    assert names[:3] == ["backbone.0", "backbone.1.0", "backbone.1.1"]
    called = piece_inputs(net, 32)
    assert [n for n, _, _ in called] == names and called[0][2] == (3, 32, 32) and called[1][2] == (8, 16, 16)


def test_table_measures_each_piece_once_and_persists(tmp_path):
    net = build_model(TINY_MODEL, num_classes=5).eval()
    table = LatencyTable(Runtime(), tmp_path / "t.json")
    first = table.predict(net, 32)
    assert first["ms"] > 0 and len(first["pieces"]) == len(piece_inputs(net, 32)) and not table.calibrated
    measured = dict(table.entries)
    again = table.predict(net, 32)  # every piece from the table: nothing timed again, the same answer
    assert table.entries == measured and again["ms"] == first["ms"]
    table.save()
    reloaded = LatencyTable(Runtime(), tmp_path / "t.json")
    assert reloaded.entries == measured and reloaded.predict(net, 32)["ms"] == first["ms"]
    assert LatencyTable(Runtime(threads=2), tmp_path / "t.json").entries == {}  # another runtime: not reused
    stored = json.loads((tmp_path / "t.json").read_text())
    assert stored["context"]["threads"] == 1 and stored["context"]["ort"]


def test_calibration_fits_whole_models(tmp_path):
    table = LatencyTable(Runtime(), tmp_path / "t.json")
    models = [(build_model({**TINY_MODEL, "backbone": [[1, "Conv", [c, 3, 2]], *TINY_MODEL["backbone"][1:]]},
                           num_classes=5).eval(), s) for c, s in ((8, 32), (16, 48), (24, 64))]
    fit = table.calibrate(models)
    a, b = fit["fit"]
    # a least-squares fit over (a, b) can only do better on the timed models than the raw sum (a=1, b=0)
    assert table.calibrated and fit["models"] == 3 and fit["rms_ms"] <= fit["raw_rms_ms"] + 1e-12
    assert a > 0 and fit["raw_rms_ms"] > 0
    p = table.predict(*models[1])
    assert p["ms"] == pytest.approx(table.overhead() + a * (p["raw"] - table.overhead()) + b * len(p["pieces"]))


def test_profile_command_on_a_yaml_and_an_onnx_file(tmp_path, tiny_model_yaml):
    r = run_script("-m", "slimnas.latency", str(tiny_model_yaml), "--input-size", "32")
    assert r.returncode == 0, r.stderr
    assert "| backbone.0 | Conv | 3x32x32 |" in r.stdout and "whole model:" in r.stdout and "predicted" in r.stdout
    onnx = export_onnx(build_model(TINY_MODEL, num_classes=5), tmp_path / "m.onnx", 32)
    r = run_script("-m", "slimnas.latency", str(onnx))
    assert r.returncode == 0, r.stderr
    assert "| Conv |" in r.stdout and "ORT profiler" in r.stdout and "the whole call" in r.stdout
    bad = run_script("-m", "slimnas.latency", str(tmp_path / "missing.onnx"))
    assert bad.returncode == 2 and "ONNX file not found" in bad.stderr
    assert run_script("-m", "slimnas.latency", "baseline", "--threads", "0").returncode == 2


def test_unexportable_piece_is_not_fatal_unless_latency_is_the_objective(tmp_path):
    from slimnas.search.objective import Objective

    class Weird(nn.Module):
        def forward(self, x):
            return x.numpy()  # not traceable

    obj = Objective.__new__(Objective)
    obj.latency, obj.cost = LatencyTable(Runtime(), tmp_path / "t.json"), "macs"
    obj.budget = type("B", (), {"max_latency_ms": None})()
    assert obj.predict_latency(nn.Sequential(Weird()), 8) is None
