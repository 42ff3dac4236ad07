"""The synthetic look-alike: the competition's counts, the CSV layout, determinism."""

import csv
from collections import Counter

import numpy as np

from conftest import run_script
from slimnas.data.mvtec import all_labels, competition_counts
from slimnas.data.synthetic import SCENES, render


def test_cli_scale_1_writes_competition_counts(tmp_path):
    r = run_script("-m", "slimnas.data.synthetic", "--out", str(tmp_path / "d"), "--scale", "1", "--size", "16")
    assert r.returncode == 0, r.stderr
    with open(tmp_path / "d" / "train_df.csv") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["index", "file_name", "class", "state", "label"]
        rows = list(reader)
    counts = Counter(r["label"] for r in rows)
    assert len(counts) == 88 and sorted(counts) == all_labels()
    assert counts == competition_counts("train") and len(rows) == 4277
    goods = [n for lab, n in counts.items() if lab.endswith("-good")]
    defects = [n for lab, n in counts.items() if not lab.endswith("-good")]
    assert (min(goods), max(goods), min(defects), max(defects)) == (60, 391, 4, 15)
    assert all(r["label"] == f"{r['class']}-{r['state']}" for r in rows)
    assert len(list((tmp_path / "d" / "train").glob("*.png"))) == 4277
    with open(tmp_path / "d" / "test_df.csv") as f:
        assert next(csv.reader(f)) == ["index", "file_name"]


def test_every_label_renders_and_is_deterministic():
    assert sorted(SCENES) == sorted({lab.split("-")[0] for lab in all_labels()})
    for i, label in enumerate(all_labels()):
        a = np.asarray(render(label, 32, np.random.default_rng([7, i])))
        b = np.asarray(render(label, 32, np.random.default_rng([7, i])))
        assert a.shape == (32, 32, 3) and a.dtype == np.uint8 and np.array_equal(a, b), label
        assert a.std() > 3, label  # not a blank image


def test_defects_change_the_image():
    """The same random draw with and without the defect differs, and mostly in a small area."""
    for label in all_labels():
        category, state = label.split("-", 1)
        if state == "good":
            continue
        good = np.asarray(render(f"{category}-good", 64, np.random.default_rng(3)), np.float32)
        bad = np.asarray(render(label, 64, np.random.default_rng(3)), np.float32)
        changed = (np.abs(good - bad).max(2) > 25).mean()  # 25 of 255 grey levels: visible to the eye
        assert changed > 0.002, f"{label}: defect not visible"  # >= 0.2 % of the image (thin scratches)
