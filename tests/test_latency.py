"""The latency table of the deployment runtime, its calibration, and the profiling command."""

from __future__ import annotations

import json

import pytest
import torch.nn as nn

from conftest import TINY_MODEL, run_in_process, run_script
from slimnas.export import export_onnx
from slimnas.latency.measure import DeployTarget
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
    table = LatencyTable(DeployTarget(threads=1), tmp_path / "t.json")
    first = table.predict(net, 32)
    assert first["ms"] > 0 and len(first["pieces"]) == len(piece_inputs(net, 32)) and not table.calibrated
    measured = dict(table.entries)
    again = table.predict(net, 32)  # every piece from the table: nothing timed again, the same answer
    assert table.entries == measured and again["ms"] == first["ms"]
    table.save()
    reloaded = LatencyTable(DeployTarget(threads=1), tmp_path / "t.json")
    assert reloaded.entries == measured and reloaded.predict(net, 32)["ms"] == first["ms"]
    assert LatencyTable(DeployTarget(threads=2), tmp_path / "t.json").entries == {}  # another runtime: not reused
    stored = json.loads((tmp_path / "t.json").read_text())
    assert stored["context"]["threads"] == 1 and stored["context"]["ort"]


def _tiny(c: int) -> nn.Module:
    return build_model({**TINY_MODEL, "backbone": [[1, "Conv", [c, 3, 2]], *TINY_MODEL["backbone"][1:]]},
                       num_classes=5).eval()


def test_calibration_predicts_models_it_was_not_fitted_on(tmp_path, monkeypatch):
    """The bookkeeping of pricing and fitting, on a deterministic clock: a piece alone costs the call overhead plus
    its MACs; a whole model runs its MACs 0.8x as fast and pays 3 us per piece. The fit must find exactly that and
    predict held-out models to rounding. (Wall-clock timing under a loaded test run is too noisy to assert on: how
    well the table predicts real timings is bench/latency_model.py's job.)"""
    from slimnas.latency.measure import Timing
    from slimnas.macs import count_macs

    over, per_mac, whole_speed, per_piece = 0.02, 1e-6, 0.8, 0.003
    macs = lambda module, shape: count_macs(module, shape).macs  # noqa: E731
    monkeypatch.setattr(LatencyTable, "time_alone",
                        lambda self, module, shape: Timing(over + per_mac * macs(module, shape), 0.0, 5))

    def measure_whole(model, size, channels=3):
        n = len(piece_inputs(model, size, channels))
        return Timing(over + whole_speed * per_mac * macs(model, (channels, size, size)) + per_piece * n, 0.0, 5)

    monkeypatch.setattr(LatencyTable, "measure_model", lambda self, model, size, channels=3: measure_whole(model, size))
    table = LatencyTable(DeployTarget(), tmp_path / "t.json")
    uncalibrated = table.predict(_tiny(24), 80)
    # in-context prices telescope: the raw sum is the model's MACs on the piece clock, each piece counted once
    assert uncalibrated["raw"] == pytest.approx(over + per_mac * macs(_tiny(24), (3, 80, 80)), rel=1e-4)
    fit = table.calibrate([(_tiny(c), s) for c, s in ((16, 64), (32, 96), (48, 128), (32, 64))])
    assert table.calibrated and fit["models"] == 4
    assert fit["fit"] == pytest.approx([whole_speed, per_piece], rel=1e-3) and fit["rms_ms"] < 1e-4 < fit["raw_rms_ms"]
    for model, size in ((_tiny(24), 80), (_tiny(40), 112)):  # held out: never timed whole before
        assert table.predict(model, size)["ms"] == pytest.approx(measure_whole(model, size).ms, rel=1e-3)


class _WanderingMachine:
    """A clock whose machine runs ``speeds`` times slower, call after call (another tenant comes and goes): every
    ONNX file costs its size in bytes / 1e6 ms at speed 1, the yardstick included."""

    def __init__(self, speeds):
        self.speeds, self.calls = list(speeds), 0

    def timed_call(self, model, runtime, shape=None):
        return len(model)

    def interleaved(self, fns, **kw):
        from slimnas.latency.measure import Timing

        speed = self.speeds[self.calls % len(self.speeds)]
        self.calls += 1
        return {name: Timing(size / 1e6 * speed, 0.0, 5) for name, size in fns.items()}


def test_a_table_timed_in_a_slow_minute_prices_as_one_timed_in_a_fast_one(tmp_path, monkeypatch):
    """Every time is a ratio to the yardstick timed in the same rounds, in the yardstick's ms when the table first
    timed it: a machine that slows down 1.5x mid-table (or between the table and the model) changes no price."""
    import slimnas.latency.table as table_module

    predictions = []
    for speeds in ([1.0], [1.0, 1.5, 0.7, 1.2]):
        machine = _WanderingMachine(speeds)
        monkeypatch.setattr(table_module, "timed_call", machine.timed_call)
        monkeypatch.setattr(table_module, "interleaved", machine.interleaved)
        table = LatencyTable(DeployTarget(threads=1), tmp_path / f"t{len(speeds)}.json")
        predictions.append(table.predict(_tiny(16), 32)["ms"])
        model = table_module.onnx_bytes(_tiny(16), (3, 32, 32))
        for _ in speeds:  # the whole model, at whatever speed: its ms at speed 1 (the unit is stored to 5 digits)
            plain, ms = table.beside_yardstick(model, (3, 32, 32))
            assert ms == pytest.approx(len(model) / 1e6, rel=1e-3)
        assert plain.ms == pytest.approx(len(model) / 1e6 * speeds[(machine.calls - 1) % len(speeds)])
    assert predictions[1] == pytest.approx(predictions[0], rel=1e-3)


def test_tables_saved_by_two_processes_share_one_yardstick_unit(tmp_path, monkeypatch):
    import slimnas.latency.table as table_module

    path = tmp_path / "t.json"
    for speed in (1.0, 2.0):  # the second process's first yardstick timing is twice the first's
        machine = _WanderingMachine([speed])
        monkeypatch.setattr(table_module, "timed_call", machine.timed_call)
        monkeypatch.setattr(table_module, "interleaved", machine.interleaved)
        table = LatencyTable(DeployTarget(threads=1), tmp_path / f"alone{speed}.json")
        table.ms(nn.Conv2d(8, 8, 3 if speed == 1 else 1), (8, 16, 16))
        table.path = path
        table.save()
    merged = LatencyTable(DeployTarget(threads=1), path)
    assert merged.entries["__yardstick__"]["ms"] == pytest.approx(len(table_module.yardstick_bytes()) / 1e6, rel=1e-3)
    for conv in (nn.Conv2d(8, 8, 3), nn.Conv2d(8, 8, 1)):  # each priced at speed 1, in the first process's unit
        assert merged.ms(conv, (8, 16, 16)) == pytest.approx(len(table_module.onnx_bytes(conv, (8, 16, 16))) / 1e6,
                                                             rel=1e-3)


DAMAGED = {  # what a cache file can hold after a crash, a hand edit or another version's bug
    "not JSON": "{ half a file",
    "a list": "[]",
    "entries a list": lambda ctx: {"context": ctx, "entries": []},
    "entry without ms": lambda ctx: {"context": ctx, "entries": {"abc": {"spread": 0.1}}},
    "overhead null": lambda ctx: {"context": ctx, "entries": {"__overhead__": None}},
    "overhead ms a string": lambda ctx: {"context": ctx, "entries": {"__overhead__": {"ms": "fast"}}},
    "negative ms": lambda ctx: {"context": ctx, "entries": {"abc": {"ms": -1}}},
    "calibration of the wrong shape": lambda ctx: {"context": ctx, "entries": {"__calibration__": {"fit": "x"}}},
    "context missing": lambda ctx: {"entries": {"abc": {"ms": 1.0}}},
}


@pytest.mark.parametrize("damage", list(DAMAGED))
def test_a_damaged_cache_is_measured_again(damage, tmp_path, capsys):
    path = tmp_path / "t.json"
    raw = DAMAGED[damage]
    raw = raw if isinstance(raw, str) else json.dumps(raw(LatencyTable(DeployTarget(), path).context()))
    path.write_text(raw)
    table = LatencyTable(DeployTarget(), path)
    p = table.predict(_tiny(8), 32)
    assert p["ms"] > 0 and table.overhead() > 0
    table.save()
    assert LatencyTable(DeployTarget(), path).predict(_tiny(8), 32)["ms"] == p["ms"]  # healed: reloads cleanly
    assert "warning: latency cache" in capsys.readouterr().err


def test_the_cache_key_holds_every_version_that_changes_a_timing(tmp_path):
    import torch

    ctx = LatencyTable(DeployTarget(), tmp_path / "t.json").context()
    assert ctx["torch"] == torch.__version__ and ctx["opset"] == 18 and ctx["exporter"] and ctx["slimnas"]
    (tmp_path / "t.json").write_text(json.dumps({"context": {**ctx, "torch": "0.0"}, "entries": {"k": {"ms": 1.0}}}))
    assert LatencyTable(DeployTarget(), tmp_path / "t.json").entries == {}  # timed with another torch: not reused
    from slimnas.latency.table import YARDSTICK_SHAPE  # entries are ratios to the yardstick: another one, another unit

    one = LatencyTable(DeployTarget(threads=1), tmp_path / "t1.json").context()["timing"]
    assert "yardstick " + "x".join(map(str, YARDSTICK_SHAPE)) in one


WRITER = """
import sys
from slimnas.latency.measure import DeployTarget
from slimnas.latency.table import LatencyTable
name, path = sys.argv[1], sys.argv[2]
for i in range(25):  # each save re-reads, merges and rewrites the whole file
    table = LatencyTable(DeployTarget(), path)
    table.entries[f"{name}-{i}"] = {"ms": 1.0, "spread": 0.0, "rounds": 1}
    table.save()
"""


def test_concurrent_writers_lose_no_entry(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "shared.json"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, name, str(path)]) for name in ("a", "b")]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    keys = set(LatencyTable(DeployTarget(), path).entries)
    assert keys == {f"{n}-{i}" for n in "ab" for i in range(25)}


def test_profile_command_on_a_yaml_and_an_onnx_file(tmp_path, tiny_model_yaml):
    r = run_script("-m", "slimnas.latency", str(tiny_model_yaml), "--input-size", "32")
    assert r.returncode == 0, r.stderr
    assert "| backbone.0 | Conv | 3x32x32 |" in r.stdout and "whole model:" in r.stdout and "predicted" in r.stdout
    onnx = export_onnx(build_model(TINY_MODEL, num_classes=5), tmp_path / "m.onnx", 32)
    r = run_in_process("-m", "slimnas.latency", str(onnx))
    assert r.returncode == 0, r.stderr
    assert "| Conv |" in r.stdout and "ORT profiler" in r.stdout and "the whole call" in r.stdout
    bad = run_in_process("-m", "slimnas.latency", str(tmp_path / "missing.onnx"))
    assert bad.returncode == 2 and "ONNX file not found" in bad.stderr
    assert run_in_process("-m", "slimnas.latency", "baseline", "--ort-threads", "0").returncode == 2


def test_unexportable_piece_is_not_fatal_unless_latency_is_the_objective(tmp_path):
    from slimnas.search.objective import Objective

    class Weird(nn.Module):
        def forward(self, x):
            return x.numpy()  # not traceable

    obj = Objective.__new__(Objective)
    obj.latency, obj.cost = LatencyTable(DeployTarget(), tmp_path / "t.json"), "macs"
    obj.budget = type("B", (), {"max_latency_ms": None})()
    assert obj.predict_latency(nn.Sequential(Weird()), 8) is None


def test_timing_sessions_spin_as_deployed(tmp_path):
    # the deployed predictor keeps ORT's default (idle threads spin); timing unspun sessions measured 30-50 %
    # slower than what deploys at 2 threads, so timing makes its sessions the same way
    import torch.nn as nn

    from slimnas.latency.measure import DeployTarget, session
    from slimnas.latency.table import onnx_bytes

    model = onnx_bytes(nn.Conv2d(3, 4, 3), (3, 8, 8))

    def spinning(sess):
        try:
            return sess.get_session_options().get_session_config_entry("session.intra_op.allow_spinning")
        except RuntimeError:  # not set: ORT's default (spin)
            return "default"

    assert spinning(session(model, DeployTarget(threads=2))) == "default"
    assert spinning(session(model, DeployTarget(threads=1))) == "default"


def test_the_default_deploy_target_is_onnx_runtimes_default_threads():
    # where a session made without options runs: one thread per physical core this process may use
    import os

    from slimnas.latency.measure import default_threads

    assert 1 <= default_threads() <= len(os.sched_getaffinity(0))
    assert DeployTarget().threads == default_threads() and DeployTarget().batch == 1


def test_spinning_candidates_take_the_cores_only_after_a_settle_pause(monkeypatch):
    # ORT's idle threads spin ~30 ms after a call: at 2+ threads interleaved candidates wait that out and are woken
    # by one untimed call before their block is timed; one candidate, or 1 thread, needs no pause
    from slimnas.latency import measure
    from slimnas.latency.table import onnx_bytes

    model = onnx_bytes(nn.Conv2d(3, 4, 3), (3, 8, 8))
    assert measure.timed_call(model, DeployTarget(threads=2), (3, 8, 8)).settle_s == measure.SPIN_SETTLE_S > 0.02
    assert measure.timed_call(model, DeployTarget(threads=1), (3, 8, 8)).settle_s == 0

    events = []
    monkeypatch.setattr(measure.time, "sleep", lambda s: events.append(("sleep", s)))

    def call(name, settle_s):
        return measure._Call(lambda: events.append(name), settle_s)

    measure.interleaved({"a": call("a", 0.05), "b": call("b", 0.0)}, min_rounds=2, max_rounds=2, round_ms=0.01)
    timed = events[events.index(("sleep", 0.05)):]  # after the warm-up: every block starts with pause + wake call
    assert timed[:3] == [("sleep", 0.05), "a", "a"] and ("sleep", 0.05) in timed[3:] and "b" in timed
    assert sum(e == ("sleep", 0.05) for e in timed) == 4  # 2 rounds x 2 candidates
    events.clear()
    measure.interleaved({"a": call("a", 0.05)}, min_rounds=2, max_rounds=2, round_ms=0.01)
    assert not any(isinstance(e, tuple) for e in events)
