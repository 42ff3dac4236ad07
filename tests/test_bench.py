"""The bench scripts are not run by the tests (they take an hour), but they must at least import:
a library refactor that breaks one should fail here, not an hour into bench/run_all."""

from conftest import run_script

BENCHES = ["train_baselines", "decompose_table", "deploy_latency", "search_pruning", "search_front", "search_fidelity",
           "train_recipe", "road_goal", "report"]


def test_every_bench_script_imports():
    code = "import sys; sys.path.insert(0, 'bench'); " + "; ".join(f"import {b}" for b in BENCHES)
    r = run_script("-c", code)
    assert r.returncode == 0, r.stderr[-2000:]
