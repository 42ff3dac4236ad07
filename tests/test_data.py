"""Loaders for the three layouts, image modes, bad files, splits and the data YAML."""

import os
import warnings

import numpy as np
import pytest
import yaml
from PIL import Image

from slimnas.data.config import build_data, load_data_config
from slimnas.data.images import load_image
from slimnas.data.mvtec import all_labels
from slimnas.data.sources import list_source
from slimnas.data.split import stratified_kfold, stratified_split
from slimnas.errors import ConfigError, DataError


def _png(path, mode="RGB", size=(20, 16), value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "I;16":
        Image.fromarray(np.full(size[::-1], value * 257, np.uint16)).save(path)
    else:
        Image.new(mode, size, value if mode in ("L", "P") else (value,) * len(mode)).save(path)
    return path


def test_dacon_csv_layout(tiny_dataset):
    src = list_source("dacon_csv", tiny_dataset)
    assert src.classes == all_labels()  # sorted labels: the competition's indices
    assert len(src.test) > 0 and set(src.test_labels) == {i for i, _ in src.test}
    assert all(p.is_file() for p, _ in src.train[:10])


def test_mvtec_layout(tmp_path):
    for cat, split, state, n in [("bottle", "train", "good", 3), ("bottle", "test", "good", 1),
                                 ("bottle", "test", "broken_large", 2), ("screw", "test", "thread_top", 2)]:
        for k in range(n):
            _png(tmp_path / cat / split / state / f"{k:03d}.png")
    _png(tmp_path / "bottle" / "ground_truth" / "broken_large" / "000_mask.png", "L")
    src = list_source("mvtec", tmp_path)
    assert src.classes == ["bottle-broken_large", "bottle-good", "screw-thread_top"]
    assert sorted(np.bincount([y for _, y in src.train]).tolist()) == [2, 2, 4]


def test_a_folder_in_a_real_layout_stands_for_its_shipped_yaml(tmp_path, tiny_dataset):
    csv_cfg = load_data_config(tiny_dataset, img_size=32)  # demo.py --data /path/to/open
    assert (csv_cfg.kind, csv_cfg.root, csv_cfg.img_size) == ("dacon_csv", str(tiny_dataset.resolve()), 32)
    assert csv_cfg.augment == load_data_config("dacon_csv").augment  # the shipped YAML's recipe, not the class's
    _png(tmp_path / "mvtec" / "bottle" / "train" / "good" / "000.png")
    assert load_data_config(tmp_path / "mvtec").kind == "mvtec"
    with pytest.raises(ConfigError, match=r"must hold train_df.csv .* or <category>/train/good/"):
        load_data_config(tmp_path / "mvtec" / "bottle")


def test_sealed_test_answers_are_never_read(tmp_path, tiny_dataset, monkeypatch):
    """Choose on dev, report on test: with the data's root sealed its test answers do not load at all, the
    test images to predict stay, and scoring the test split says why it cannot."""
    from slimnas.data.config import build_data
    from slimnas.data.sources import SEALED_ENV
    from slimnas.train.evaluate import split_loader

    monkeypatch.setenv(SEALED_ENV, f"{tmp_path / 'elsewhere'}{os.pathsep}{tiny_dataset}")
    src = list_source("dacon_csv", tiny_dataset)
    assert src.test_labels is None and len(src.test) > 0
    bundle = build_data(load_data_config(tiny_dataset, img_size=32))
    with pytest.raises(ConfigError, match=r"test answers are sealed \(\$SLIMNAS_SEALED_TEST\)"):
        split_loader(bundle, "test")
    monkeypatch.setenv(SEALED_ENV, str(tmp_path / "elsewhere"))  # another root sealed: these answers read
    assert list_source("dacon_csv", tiny_dataset).test_labels


def test_image_folder_and_empty_class(tmp_path):
    _png(tmp_path / "a" / "1.png"), _png(tmp_path / "b" / "1.jpg")
    assert list_source("image_folder", tmp_path).classes == ["a", "b"]
    (tmp_path / "c").mkdir()
    with pytest.raises(DataError, match=r"c: empty class folder"):
        list_source("image_folder", tmp_path)


@pytest.mark.parametrize("mode", ["RGBA", "L", "P", "I;16", "LA", "CMYK"])
def test_modes_become_rgb(tmp_path, mode):
    img = load_image(_png(tmp_path / "x.png" if mode != "CMYK" else tmp_path / "x.jpg", mode, value=200))
    arr = np.asarray(img)
    assert img.mode == "RGB" and arr.shape == (16, 20, 3)
    if mode in ("L", "I;16"):
        assert abs(int(arr[0, 0, 0]) - 200) <= 1  # 16-bit is rescaled, not clipped to white


def test_corrupt_and_missing_images_are_named(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(_png(tmp_path / "ok.png").read_bytes()[:40])  # truncated
    (tmp_path / "empty.png").write_bytes(b"")
    for path in (bad, tmp_path / "empty.png", tmp_path / "missing.png"):
        with pytest.raises(DataError, match=str(path)):
            load_image(path)


def _csv_dataset(root, rows, images):
    (root / "train").mkdir(parents=True)
    for name in images:
        _png(root / "train" / name)
    (root / "train_df.csv").write_text("index,file_name,class,state,label\n" + "".join(
        f"{i},{n},{lab.split('-')[0]},{lab.split('-')[1]},{lab}\n" for i, (n, lab) in enumerate(rows)))


def test_missing_file_listed_in_csv(tmp_path):
    _csv_dataset(tmp_path, [("a.png", "x-good"), ("b.png", "x-bad")], ["a.png"])
    with pytest.raises(DataError, match=r"b.png: image file not found \(listed in .*train_df.csv row 2\)"):
        list_source("dacon_csv", tmp_path)
    with pytest.warns(UserWarning, match="b.png"):
        assert len(list_source("dacon_csv", tmp_path, skip_missing=True).train) == 1


def test_corrupt_image_skipped_only_when_asked(tmp_path):
    rows = [(f"{k}.png", lab) for k, lab in enumerate(["x-good"] * 4 + ["x-bad"] * 4)]
    _csv_dataset(tmp_path, rows, [r[0] for r in rows])
    (tmp_path / "train" / "5.png").write_bytes(b"not a png")
    cfg = {"kind": "dacon_csv", "root": str(tmp_path), "img_size": 16, "val_fraction": 0.25}
    with pytest.raises(DataError, match="5.png: cannot decode image"):
        build_data(load_data_config(None, **cfg))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        bundle = build_data(load_data_config(None, **cfg, skip_bad_images=True))
    assert len(bundle.train) + len(bundle.val) == 7 and any("5.png" in str(x.message) for x in w)


def test_stratified_split_keeps_every_class_in_train():
    labels = [0] * 100 + [1] * 5 + [2] * 2 + [3] * 1
    train, val = stratified_split(labels, 0.2, seed=1)
    assert sorted(train + val) == list(range(len(labels)))
    y_val = [labels[i] for i in val]
    assert y_val.count(0) == 20 and y_val.count(1) == 1 and y_val.count(2) == 1 and y_val.count(3) == 0
    assert {labels[i] for i in train} == {0, 1, 2, 3}
    assert stratified_split(labels, 0.2, seed=1) == (train, val)  # deterministic


def test_kfold_partitions():
    labels = [0] * 20 + [1] * 10
    vals = [stratified_kfold(labels, 5, f, seed=0)[1] for f in range(5)]
    assert sorted(sum(vals, [])) == list(range(30))
    assert all(sum(labels[i] for i in v) == 2 for v in vals)


def test_data_yaml_errors_name_file_and_entry(tmp_path):
    path = tmp_path / "d.yaml"
    path.write_text(yaml.safe_dump({"kind": "synthetic", "augment": ["ColorJitter", {"Afine": {"rotate": 5}}]}))
    with pytest.raises(ConfigError, match=r"d.yaml: augment\[1\]: unknown albumentations transform 'Afine'; did you mean Affine"):
        load_data_config(path)
    path.write_text(yaml.safe_dump({"kind": "synthetic", "augment": [{"Affine": {"rotat": 5}}]}))
    with pytest.raises(ConfigError, match=r"augment\[0\]: bad arguments for Affine"):
        load_data_config(path)
    path.write_text(yaml.safe_dump({"kind": "synthetic", "img_sise": 64}))
    with pytest.raises(ConfigError, match="unknown setting 'img_sise'; did you mean 'img_size'"):
        load_data_config(path)
    path.write_text(yaml.safe_dump({"kind": "synthetic", "batch_size": "big"}))
    with pytest.raises(ConfigError, match="setting 'batch_size' must be int"):
        load_data_config(path)


def test_bundle_loaders_and_weighted_sampler(tiny_data_yaml):
    bundle = build_data(load_data_config(tiny_data_yaml, sampler="weighted"))
    assert len(bundle.classes) == 88
    x, y = next(iter(bundle.loaders(16)[0]))
    assert x.shape == (16, 3, 32, 32) and x.dtype.is_floating_point
    w = bundle.class_weights()
    counts = np.bincount(bundle.train.labels, minlength=88)
    assert w[counts.argmax()] < w[counts.argmin()]  # rare labels are drawn more often


def test_the_training_seed_orders_batches_and_draws_augmentations(tiny_data_yaml):
    """Seeds that mean something: the split comes from the data seed alone; batch order, the balanced sampler's
    draws and the augmentation come from the training seed, so two training seeds see different batches."""
    import torch

    bundle = build_data(load_data_config(tiny_data_yaml, sampler="weighted",
                                         augment=[{"Affine": {"rotate": [-20, 20]}}, "RandomBrightnessContrast"]))

    def first_epoch(seed):
        xs, ys = zip(*list(bundle.loaders(8, seed=seed)[0]))
        return torch.cat(xs), torch.cat(ys)

    (x1, y1), (x1_again, y1_again), (x2, y2) = first_epoch(1), first_epoch(1), first_epoch(2)
    assert torch.equal(y1, y1_again) and torch.equal(x1, x1_again)  # one seed: one run, bit for bit
    assert not torch.equal(y1, y2)  # another seed: another order of draws
    same = build_data(load_data_config(tiny_data_yaml, sampler="weighted",
                                       augment=[{"Affine": {"rotate": [-20, 20]}}, "RandomBrightnessContrast"]))
    assert same.train.items == bundle.train.items  # the data seed alone fixes the split
    bundle.loaders(seed=1)
    a = bundle.train[0][0]
    bundle.loaders(seed=2)
    b = bundle.train[0][0]
    bundle.loaders(seed=1)
    assert torch.equal(bundle.train[0][0], a) and not torch.equal(a, b)  # augmentation follows the seed
