"""Output sets are replaced as one, whatever moment a run is killed at; written files honour the umask.

Fault injection without killing: every change a step makes to the file system (``os.replace``, ``os.rename``,
``os.unlink``, ``os.rmdir``) first snapshots the output folder. Each snapshot is exactly what a SIGKILL just
before that change would leave on disk. The next run of the step recovers the folder (``recover``), after
which it must hold the complete old set or the complete new set, and no temp or staging file.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from conftest import TINY_MODEL
from slimnas.data.config import build_data, load_data_config
from slimnas.decompose.run import OUTPUTS, decompose_checkpoint
from slimnas.export.pipeline import export_checkpoint
from slimnas.io import file_set, recover, write_text
from slimnas.latency.measure import DeployTarget
from slimnas.model import ModelConfig
from slimnas.train import TrainConfig, train


@pytest.fixture(scope="module")
def trained(tiny_data_yaml, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("trained")
    train(ModelConfig.from_dict(TINY_MODEL), tiny_data_yaml, out, TrainConfig(epochs=1, progress=False), verbose=False)
    return out / "best.pt"


class KillPoints:
    """Snapshots of ``folder`` taken before each file-system change: the states a kill can leave."""

    def __init__(self, folder: Path, base: Path, monkeypatch):
        self.folder, self.base, self.snaps = folder, base, []
        for name in ("replace", "rename", "unlink", "rmdir"):
            monkeypatch.setattr(os, name, self._before(getattr(os, name)))

    def _before(self, real):
        def call(*args, **kwargs):
            self.snaps.append(self.base / f"kill{len(self.snaps):03d}")
            shutil.copytree(self.folder, self.snaps[-1])
            return real(*args, **kwargs)
        return call


def _members(folder: Path, names) -> dict[str, bytes | None]:
    return {n: (folder / n).read_bytes() if (folder / n).is_file() else None for n in names}


def _check_every_kill_point(run, folder: Path, set_name: str, members: list[str], tmp_path, monkeypatch) -> int:
    old = _members(folder, members)
    (folder / f".{members[0]}.x1y2z3.tmp").write_bytes(b"left by a run killed mid-write")  # an older run's debris
    kills = KillPoints(folder, tmp_path / "snaps", monkeypatch)
    run()
    monkeypatch.undo()
    new = _members(folder, members)
    assert all(new[m] != old[m] for m in members if old[m] or new[m]) and not list(folder.glob(".*.tmp"))  # the real run replaced the set and left no debris
    assert len(kills.snaps) >= len(members)  # a kill point between every write of the set, at least
    for snap in kills.snaps:
        recover(snap, set_name, members)  # what the next run of the step does first
        state = _members(snap, members)
        assert state in (old, new), (snap.name, {k: v is None for k, v in state.items()})
        assert not list(snap.glob(".*.tmp")) and not list(snap.glob(f".{set_name}.*")), sorted(os.listdir(snap))
    return len(kills.snaps)


def test_a_kill_at_any_write_of_decompose_leaves_the_old_set_or_the_new(trained, tmp_path, monkeypatch):
    out = tmp_path / "d"
    decompose_checkpoint(trained, out, target_macs=0.7, verbose=False, runtime=DeployTarget())  # the old set, timed
    members = ["decomposed.pt", *OUTPUTS]
    assert all(v is not None for v in _members(out, members).values())
    ranks = tmp_path / "ranks.yaml"
    ranks.write_text("backbone.0.conv: {method: tucker, ranks: [2, 2]}\n")
    # the new set has no latency.json (not timed): the commit must drop the old one with the rest
    n = _check_every_kill_point(lambda: decompose_checkpoint(trained, out, rank_cfg=ranks, verbose=False, runtime=None),
                                out, "decompose", members, tmp_path, monkeypatch)
    assert not (out / "latency.json").exists() and n >= 4


def test_a_kill_at_any_write_of_export_leaves_the_old_set_or_the_new(trained, tiny_data_yaml, tmp_path, monkeypatch):
    out = tmp_path / "e"
    bundle = build_data(load_data_config(tiny_data_yaml))
    export_checkpoint(trained, out, bundle, verbose=False)  # the old set: model.onnx + export.json
    members = ["model.onnx", "model.int8.onnx", "export.json"]
    ranks = tmp_path / "ranks.yaml"
    ranks.write_text("backbone.0.conv: {method: tucker, ranks: [2, 2]}\n")
    other = decompose_checkpoint(trained, tmp_path / "d", rank_cfg=ranks, verbose=False, runtime=None).checkpoint
    # the new set is another model's, so every member differs from the old one's
    _check_every_kill_point(lambda: export_checkpoint(other, out, bundle, int8=True, tol=1e-3, verbose=False),
                            out, "export", members, tmp_path, monkeypatch)


def test_a_failed_step_leaves_the_old_set_byte_identical(tmp_path):
    folder = tmp_path / "run"
    write_text(folder / "a.txt", "old a")
    write_text(folder / "b.txt", "old b")
    with pytest.raises(RuntimeError), file_set(folder, "step", ["a.txt", "b.txt"]) as files:
        write_text(files.path("a.txt"), "new a")
        raise RuntimeError("the step fails after one of its two files")
    assert (folder / "a.txt").read_text() == "old a" and (folder / "b.txt").read_text() == "old b"
    assert sorted(p.name for p in folder.iterdir()) == ["a.txt", "b.txt"]
    with pytest.raises(ValueError, match="not a member"), file_set(folder, "step", ["a.txt"]) as files:
        files.path("c.txt")


def test_written_files_honour_the_umask_and_keep_a_replaced_files_mode(tmp_path):
    old = os.umask(0o022)
    try:
        fresh = write_text(tmp_path / "fresh.txt", "x")
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o644  # not mkstemp's 0600
        kept = tmp_path / "kept.txt"
        kept.write_text("old")
        kept.chmod(0o640)
        write_text(kept, "new")
        assert stat.S_IMODE(kept.stat().st_mode) == 0o640 and kept.read_text() == "new"
        with file_set(tmp_path / "set", "s", ["m.txt"]) as files:
            write_text(files.path("m.txt"), "in a set")
        assert stat.S_IMODE((tmp_path / "set" / "m.txt").stat().st_mode) == 0o644
    finally:
        os.umask(old)


def test_the_next_run_of_the_command_clears_what_a_killed_one_left(trained, tmp_path):
    """Through the CLI: a staging folder and temp files of a killed decompose are gone after the next run, whose
    set is complete."""
    from conftest import run_in_process

    out = tmp_path / "d"
    (out / ".decompose.staging").mkdir(parents=True)
    (out / ".decompose.staging" / "decomposed.pt").write_bytes(b"half of a killed run's checkpoint")
    (out / ".rank_cfg.yaml.k1ll3d.tmp").write_text("backbone.0.conv: {method: tuc")
    r = run_in_process("decompose.py", "--weight", str(trained), "--target-macs", "0.7", "--no-timing",
                       "--dst", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["decomposed.pt", "rank_cfg.yaml", "report.csv"]


def test_a_damaged_latency_cache_heals_through_the_cli(tmp_path, tiny_model_yaml, monkeypatch):
    from conftest import run_in_process
    from slimnas.latency.measure import DeployTarget
    from slimnas.latency.table import default_path

    monkeypatch.setenv("SLIMNAS_CACHE", str(tmp_path / "cache"))
    damaged = default_path(DeployTarget())
    damaged.parent.mkdir(parents=True)
    damaged.write_text('{"context": [], "entries": {"__overhead__": null}}')
    r = run_in_process("-m", "slimnas.latency", str(tiny_model_yaml), "--input-size", "32", "--num-classes", "5")
    assert r.returncode == 0 and "whole model:" in r.stdout, r.stderr[-2000:]
    assert f"warning: latency cache {damaged}" in r.stderr
    assert '"entries"' in damaged.read_text() and "__overhead__" in damaged.read_text()  # re-measured, saved
