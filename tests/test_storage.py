"""Search storage for real: a SIGKILLed search resumed without losing a trial, and two workers on PostgreSQL."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from conftest import REPO, run_script


def search_args(space, data, out, *extra: str) -> list[str]:
    return ["tune_architecture.py", "--space", str(space), "--data", str(data), "--out", str(out), "--study", "s",
            "--epochs", "3", "--no-prune", "--max-macs", "none", *extra]


def by_state(study: optuna.Study) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for t in study.get_trials(deepcopy=False):
        out.setdefault(t.state.name, []).append(t.number)
    return out


def test_sigkill_mid_trial_then_resume_loses_nothing(tmp_path, tiny_space_yaml, tiny_data_yaml):
    storage = f"sqlite:///{tmp_path / 's' / 'study.db'}"
    proc = subprocess.Popen([sys.executable, *search_args(tiny_space_yaml, tiny_data_yaml, tmp_path, "--n-trials", "50",
                                                          "--heartbeat", "1")],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    try:
        while time.time() < deadline:  # wait for >= 2 finished trials and one in flight, then kill -9
            time.sleep(0.3)
            if not (tmp_path / "s" / "trials").exists():  # the search has created its study and started
                continue
            study = optuna.load_study(study_name="s", storage=storage)
            states = by_state(study)
            # in flight = running with its whole candidate sampled: the objective records the model once sampling
            # is done (a kill mid-sampling leaves part of the parameters, and the retry samples the rest anew)
            running = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING
                       and "model" in t.user_attrs]
            if len(states.get("COMPLETE", [])) >= 2 and running:
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait()
    assert time.time() < deadline, "the search never had a trial in flight"
    before = optuna.load_study(study_name="s", storage=storage)
    done_before = {t.number: t.values for t in before.trials if t.state == TrialState.COMPLETE}
    killed = by_state(before)["RUNNING"]
    assert len(killed) == 1

    time.sleep(2.5)  # > the grace period (2 heartbeats): the killed trial's heartbeat is now stale
    r = run_script(*search_args(tiny_space_yaml, tiny_data_yaml, tmp_path, "--n-trials", "2", "--heartbeat", "1"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "its worker stopped answering" in r.stdout
    after = optuna.load_study(study_name="s", storage=storage)
    trials = {t.number: t for t in after.trials}
    assert {n: trials[n].values for n in done_before} == done_before  # no completed trial lost or changed
    assert trials[killed[0]].state == TrialState.FAIL
    retries = [t for t in after.trials if t.system_attrs.get("failed_trial") == killed[0]]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == trials[killed[0]].params  # the same candidate, run again
    assert not by_state(after).get("RUNNING")
    assert (tmp_path / "s" / "pareto.csv").is_file() and (tmp_path / "s" / "best.yaml").is_file()


# ------------------------------------------------------------------------------------------ PostgreSQL

def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@pytest.fixture(scope="module")
def postgres_url():
    """A throw-away PostgreSQL server on loopback, in a temp folder; stopped and removed afterwards."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl): `apt-get install postgresql` (.ci/run does)")
    pytest.importorskip("psycopg", reason="the psycopg driver is not installed (requirements.txt has it)")
    home = Path(tempfile.mkdtemp(prefix="slimnas-pg-"))  # not under pytest's 0700 tmp: the server user must reach it
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        if not shutil.which("runuser"):
            pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
        shutil.chown(home, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = home / "data"
    subprocess.run([*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "slimnas", "--no-sync"], check=True,
                   capture_output=True)
    opts = f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*as_user, pg_ctl, "-D", str(data), "-o", opts, "-l", str(home / "log"), "-w", "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql://slimnas@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.postgres
def test_two_workers_on_postgresql(tmp_path, tiny_space_yaml, tiny_data_yaml, postgres_url):
    r = run_script(*search_args(tiny_space_yaml, tiny_data_yaml, tmp_path, "--storage", postgres_url,
                                "--n-trials", "4", "--n-workers", "2", "--epochs", "1"))
    assert r.returncode == 0, r.stderr[-2000:]
    study = optuna.load_study(study_name="s", storage=postgres_url)
    numbers = sorted(t.number for t in study.trials)
    # every trial once: none lost, none duplicated. Workers check the count between trials, so two finishing
    # at the same moment may both start one more: at most n_workers - 1 extra.
    assert numbers == list(range(len(numbers))) and 4 <= len(numbers) <= 5
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert sorted(int(p.name) for p in (tmp_path / "s" / "trials").iterdir()) == sorted(numbers)
    assert (tmp_path / "s" / "pareto.csv").is_file()
    assert not (tmp_path / "s" / "study.db").exists()  # the study lives in PostgreSQL only
