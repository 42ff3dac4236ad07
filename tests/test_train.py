"""Training end to end on tiny data: files written, checkpoints reload exactly, resume, NaN, pickles refused."""

import csv
import itertools
import json
import pickle

import numpy as np
import pytest
import torch
import yaml

from conftest import TINY_MODEL, run_in_process, run_script
from slimnas.data.config import build_data, load_data_config
from slimnas.errors import CheckpointError, SlimnasError
from slimnas.model import build_model
from slimnas.train import TrainConfig, TrainingDiverged, load_checkpoint, model_from_checkpoint, train
from slimnas.train.loop import plan_epochs
from slimnas.train.metrics import balanced_nll, confusion_matrix, macro_f1, macro_f1_sd
from slimnas.train.threads import LAYOUTS, available_cores, fastest_setup

# one layout: runs compared bit for bit must not time NHWC against NCHW and keep different ones
FAST = dict(epochs=2, lr=5e-3, warmup_epochs=0.5, progress=False, layout="contiguous")


def test_macro_f1_and_confusion_by_hand():
    y_true, y_pred = [0, 0, 1, 1, 2], [0, 1, 1, 1, 0]
    # class 0: P=1/2 R=1/2 F=.5; class 1: P=2/3 R=1 F=.8; class 2: F=0
    assert macro_f1(y_true, y_pred) == pytest.approx((0.5 + 0.8 + 0) / 3)
    assert confusion_matrix(y_true, y_pred, 3).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]


def test_macro_f1_sd_is_the_bootstrap_over_the_scored_images():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 10, 300)
    p = np.where(rng.random(300) < 0.6, y, rng.integers(0, 10, 300))
    direct = np.std([macro_f1(y[i], p[i]) for i in (rng.integers(0, 300, 300) for _ in range(400))])
    assert macro_f1_sd(confusion_matrix(y, p, 10)) == pytest.approx(direct, rel=0.15)  # 0.0275 against 0.0268
    assert macro_f1_sd(confusion_matrix(y, y, 10)) == 0.0  # every draw is perfect
    # 3 images per label instead of 30, the same classifier: the score moves far more
    assert macro_f1_sd(confusion_matrix(y[:30], p[:30], 10)) > 2 * direct


def test_balanced_nll_weighs_every_label_alike():
    """Label 0's four images average to 0.1, label 1's one image is 2.0: (0.1 + 2.0) / 2, not the image mean 0.48."""
    assert balanced_nll([0, 0, 0, 0, 1], [0.1, 0.1, 0.1, 0.1, 2.0]) == pytest.approx(1.05)
    assert balanced_nll([1, 1], [0.5, 1.5]) == pytest.approx(1.0)  # labels absent from the split do not count


def test_train_writes_everything_and_reloads_exactly(tmp_path, tiny_model_yaml, tiny_data_yaml):
    out = tmp_path / "run"
    result = train(tiny_model_yaml, tiny_data_yaml, out, TrainConfig(**FAST), verbose=False)
    for name in ("best.pt", "last.pt", "metrics.csv", "results.json", "confusion_matrix.csv", "per_class.csv",
                 "model.yaml", "data.yaml"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert all(float(r["val_bnll"]) > 0 for r in rows)  # the class-balanced val NLL the search can rank by
    kept = rows[result.selected_epoch - 1]  # the latest epoch within select_tol of the best val F1
    assert result.selected_f1 == pytest.approx(float(kept["val_f1"]), abs=1e-5)
    assert result.selected_f1 >= max(float(r["val_f1"]) for r in rows) - 0.02
    assert all(float(r["val_f1"]) < max(float(q["val_f1"]) for q in rows[:i + 1]) - 0.02 for i, r in enumerate(rows)
               if i + 1 > result.selected_epoch)
    results = json.loads((out / "results.json").read_text())
    assert results["macs"] > 0 and results["epochs"] == 2
    from slimnas.train.evaluate import checkpoint_f1  # the synthetic data ships test answers: best.pt is scored on them

    assert results["test_f1"] == pytest.approx(checkpoint_f1(out / "best.pt", tiny_data_yaml, "test"))
    cm = list(csv.reader(open(out / "confusion_matrix.csv")))
    assert len(cm) == 89 and len(cm[0]) == 89

    ckpt = load_checkpoint(out / "best.pt")
    assert len(ckpt["classes"]) == 88 and ckpt["preprocessing"]["input_size"] == 32
    assert ckpt["metrics"]["val_f1"] == pytest.approx(result.selected_f1)
    model, _ = model_from_checkpoint(out / "best.pt")
    again, _ = model_from_checkpoint(out / "best.pt")
    x = torch.randn(4, 3, 32, 32)
    assert torch.equal(model(x), again(x))
    assert yaml.safe_load((out / "model.yaml").read_text())["backbone"] == TINY_MODEL["backbone"]


def test_best_checkpoint_is_the_latest_epoch_within_the_tolerance(tmp_path, tiny_model_yaml, tiny_data_yaml):
    runs = {}
    for tol in (0.0, 0.99):
        out = tmp_path / f"tol{tol}"
        result = train(tiny_model_yaml, tiny_data_yaml, out, TrainConfig(**{**FAST, "epochs": 3, "threads": 1,
                                                                             "select_tol": tol}), verbose=False)
        f1s = [float(r["val_f1"]) for r in csv.DictReader(open(out / "metrics.csv"))]
        runs[tol] = (result, f1s)
    (strict, f1s), (loose, same) = runs[0.0], runs[0.99]
    assert f1s == same  # the rule only chooses what best.pt holds
    latest_max = max(i for i, f in enumerate(f1s) if f == max(f1s)) + 1  # ties go to the later epoch
    assert strict.selected_f1 == pytest.approx(max(f1s), abs=1e-5) and strict.selected_epoch == latest_max
    assert loose.selected_epoch == 3 and loose.selected_f1 == pytest.approx(f1s[-1], abs=1e-5)
    assert load_checkpoint(tmp_path / "tol0.99" / "best.pt")["metrics"]["epoch"] == 3


def test_final_fit_trains_on_train_and_val_and_keeps_the_last_epoch(tmp_path, tiny_model_yaml, tiny_data_yaml,
                                                                   monkeypatch):
    from slimnas.data.config import DataBundle

    bundle = build_data(load_data_config(tiny_data_yaml))
    both = bundle.with_val_in_train()
    n_train, n_val = len(bundle.train), len(bundle.val)
    assert len(both.train) == n_train + n_val and both.val is bundle.val and len(bundle.train) == n_train
    assert both.train.labels == bundle.train.labels + bundle.val.labels
    assert both.train.transform is bundle.train.transform  # val images are augmented like the training ones
    assert (both.train.images[n_train] == bundle.val.images[0]).all()
    weights = both.class_weights()  # the sampler balances the labels over train + val
    counts = torch.bincount(torch.tensor(both.train.labels), minlength=88).clamp(min=1).float()
    assert torch.allclose(weights, (1 / counts) / (1 / counts).mean())

    trained_on = []  # the training set fit() draws its batches from
    loaders = DataBundle.loaders
    monkeypatch.setattr(DataBundle, "loaders", lambda self, *a, **k: trained_on.append(len(self.train)) or loaders(self, *a, **k))
    out = tmp_path / "final"
    result = train(tiny_model_yaml, tiny_data_yaml, out, TrainConfig(**{**FAST, "epochs": 3, "final_fit": True}),
                   verbose=False)
    assert trained_on == [n_train + n_val]
    assert result.selected_epoch == 3 and load_checkpoint(out / "best.pt")["metrics"]["epoch"] == 3  # no val selection
    results = json.loads((out / "results.json").read_text())
    assert results["val_held_out"] is False and results["train"]["final_fit"] is True
    best, last = load_checkpoint(out / "best.pt")["state_dict"], load_checkpoint(out / "last.pt")["state_dict"]
    assert all(torch.equal(best[k], last[k]) for k in last)


def test_same_seed_same_result(tmp_path, tiny_model_yaml, tiny_data_yaml):
    # bit-identical needs the same thread count and layout too; the auto pair is pinned from the first run's record
    a = train(tiny_model_yaml, tiny_data_yaml, tmp_path / "a", TrainConfig(**{**FAST, "epochs": 1, "layout": "auto"}),
              verbose=False)
    results = json.loads((tmp_path / "a" / "results.json").read_text())
    used, layout = results["cpu_threads"], results["memory_layout"]
    assert used in (1, available_cores()) and layout in LAYOUTS
    b = train(tiny_model_yaml, tiny_data_yaml, tmp_path / "b",
              TrainConfig(**{**FAST, "epochs": 1, "threads": used, "layout": layout}), verbose=False)
    wa, wb = load_checkpoint(tmp_path / "a" / "last.pt"), load_checkpoint(tmp_path / "b" / "last.pt")
    # equal weights also show that timing thread counts on a copy left the RNG and batch-norm state alone
    assert a.selected_f1 == b.selected_f1
    assert all(torch.equal(wa["state_dict"][k], wb["state_dict"][k]) for k in wa["state_dict"])


def test_fastest_setup_times_every_thread_count_and_layout_on_a_copy():
    net = build_model(TINY_MODEL, num_classes=5)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    n, layout, medians = fastest_setup(net, (8, 3, 32, 32), num_classes=5, repeats=2)
    counts = {1, available_cores()}
    assert set(medians) == {(k, lay) for k in counts for lay in LAYOUTS}
    assert (n, layout) == min(medians, key=medians.get) and all(0 < t < 5 for t in medians.values())
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(p.grad is None for p in net.parameters())
    assert all(p.is_contiguous() for p in net.parameters())  # the probe's layout stays on its copy
    # what is fixed is not timed
    assert fastest_setup(net, (8, 3, 32, 32), 5, threads=1, layout="channels_last") == (1, "channels_last", {})
    n, layout, medians = fastest_setup(net, (8, 3, 32, 32), 5, threads=1, repeats=1)
    assert n == 1 and set(medians) == {(1, lay) for lay in LAYOUTS}


def test_a_run_in_channels_last_saves_weights_any_reader_can_view(tmp_path, tiny_model_yaml, tiny_data_yaml):
    train(tiny_model_yaml, tiny_data_yaml, tmp_path / "nhwc", TrainConfig(**{**FAST, "epochs": 1, "layout": "channels_last"}),
          verbose=False)
    assert json.loads((tmp_path / "nhwc" / "results.json").read_text())["memory_layout"] == "channels_last"
    weights = load_checkpoint(tmp_path / "nhwc" / "best.pt")["state_dict"]
    assert all(v.is_contiguous() for v in weights.values())
    convs = [v for v in weights.values() if v.dim() == 4]
    assert convs and all(v.view(v.shape[0], -1).shape[1] == v[0].numel() for v in convs)


def test_resume_continues_where_it_stopped(tmp_path, tiny_model_yaml, tiny_data_yaml):
    out = tmp_path / "run"
    train(tiny_model_yaml, tiny_data_yaml, out, TrainConfig(**{**FAST, "epochs": 1}), verbose=False)
    # a run asked for 2 epochs, interrupted after 1: resuming runs only epoch 2
    cfg = TrainConfig(**FAST)
    result = train(tiny_model_yaml, tiny_data_yaml, out, cfg, resume=out / "last.pt", verbose=False)
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2] and result.epochs_run == 2


def test_plan_epochs_follows_the_pace_after_the_first_epoch():
    assert plan_epochs(100, [10], 50) == 10  # the first epoch alone sets the first plan
    assert plan_epochs(100, [10, 22, 34], 50) == 3 + 66 // 12  # then the pace of the later ones (12 s)
    assert plan_epochs(50, [5.0, 10.4], 50) == 2 + 7  # epochs slower than the first: fewer than 50 // 5
    assert plan_epochs(10, [6, 12], 50) == 2  # over the budget: stop now
    assert plan_epochs(1e6, [1], 3) == 3  # --epochs stays the upper bound
    # a standing plan is kept within 1 % over to two epochs under the budget, and re-drawn outside that
    assert plan_epochs(100, [10, 22, 34], 50, planned=7) == 7  # ends at 82 s: less than two epochs (24 s) early
    assert plan_epochs(100, [10, 22, 34], 50, planned=6) == 8  # would end at 70 s: longer
    assert plan_epochs(100, [10, 22, 34], 50, planned=9) == 8  # would end at 106 s: shorter
    assert plan_epochs(1e6, [1, 2], 3, planned=3) == 3  # capped by --epochs, well within the budget


def test_time_budget_plans_the_epochs_from_the_measured_pace(tmp_path, tiny_model_yaml, tiny_data_yaml, monkeypatch):
    import types

    from slimnas.train import loop

    def run(name, budget, epochs=50):
        cfg = TrainConfig(**{**FAST, "epochs": epochs, "threads": 1, "time_budget": budget, "min_lr": 1e-5})
        result = train(tiny_model_yaml, tiny_data_yaml, tmp_path / name, cfg, verbose=False)
        return result, list(csv.DictReader(open(tmp_path / name / "metrics.csv")))

    short, _ = run("short", 1e-3)  # less than one epoch: the first epoch is the whole run
    assert short.epochs_run == 1
    capped, _ = run("capped", 1e6, epochs=3)  # --epochs stays the upper bound
    assert capped.epochs_run == 3

    def clock(steps):  # the loop reads the clock once at the start and once per epoch: each epoch takes steps[i] s
        ticks = iter([0.0, *itertools.accumulate(steps)])
        monkeypatch.setattr(loop, "time", types.SimpleNamespace(perf_counter=lambda: next(ticks)))

    clock([1.0] * 10)  # a steady 1 s per epoch and a 5.5 s budget: 5 epochs, the cosine ending on the floor
    steady, rows = run("steady", 5.5)
    assert steady.epochs_run == 5 and float(rows[-1]["lr"]) == pytest.approx(1e-5)
    assert json.loads((tmp_path / "steady" / "results.json").read_text())["planned_epochs"] == 5
    clock([1.0, 1.0] + [2.0] * 10)  # epochs slow down from the third: the first plan (10) is cut to 6, on time
    slowed, rows = run("slowed", 10.0)
    assert slowed.epochs_run == 6 and float(rows[-1]["seconds"]) == 10.0
    assert float(rows[-1]["lr"]) == pytest.approx(1e-5)  # re-drawn while there was time to land on the floor
    with pytest.raises(SlimnasError, match="time_budget must be > 0"):
        train(tiny_model_yaml, tiny_data_yaml, tmp_path / "bad", TrainConfig(**{**FAST, "time_budget": 0}), verbose=False)


def test_ema_weights_are_the_ones_scored_and_resume(tmp_path, tiny_model_yaml, tiny_data_yaml):
    from slimnas.train.evaluate import checkpoint_f1

    out = tmp_path / "run"
    cfg = TrainConfig(**{**FAST, "epochs": 1, "ema_decay": 0.9, "threads": 1})
    train(tiny_model_yaml, tiny_data_yaml, out, cfg, verbose=False)
    last = load_checkpoint(out / "last.pt")
    raw, averaged = last["train_state"]["model"], last["state_dict"]
    assert any(not torch.equal(raw[k], averaged[k]) for k in raw if raw[k].is_floating_point())
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    # what metrics.csv reports is the averaged model, as saved
    assert checkpoint_f1(out / "last.pt", tiny_data_yaml, "val") == pytest.approx(float(rows[-1]["val_f1"]), abs=1e-5)
    result = train(tiny_model_yaml, tiny_data_yaml, out, TrainConfig(**{**FAST, "ema_decay": 0.9, "threads": 1}),
                   resume=out / "last.pt", verbose=False)
    assert result.epochs_run == 2
    with pytest.raises(SlimnasError, match="trained with weight EMA; resume it with the same ema_decay"):
        train(tiny_model_yaml, tiny_data_yaml, out, TrainConfig(**{**FAST, "epochs": 3}), resume=out / "last.pt",
              verbose=False)
    with pytest.raises(SlimnasError, match=r"ema_decay must be in \[0, 1\)"):
        train(tiny_model_yaml, tiny_data_yaml, tmp_path / "bad", TrainConfig(**{**FAST, "ema_decay": 1.0}), verbose=False)


def test_distillation_from_a_teacher(tmp_path, tiny_model_yaml, tiny_data_yaml):
    teacher = tmp_path / "teacher"
    train(tiny_model_yaml, tiny_data_yaml, teacher, TrainConfig(**{**FAST, "epochs": 1, "threads": 1}), verbose=False)
    plain = train(tiny_model_yaml, tiny_data_yaml, tmp_path / "plain", TrainConfig(**{**FAST, "epochs": 1, "threads": 1}),
                  verbose=False)
    kd = TrainConfig(**{**FAST, "epochs": 1, "threads": 1, "teacher": str(teacher / "best.pt"), "kd_alpha": 0.9})
    taught = train(tiny_model_yaml, tiny_data_yaml, tmp_path / "taught", kd, verbose=False)
    a, b = load_checkpoint(plain.out / "best.pt")["state_dict"], load_checkpoint(taught.out / "best.pt")["state_dict"]
    assert any(not torch.equal(a[k], b[k]) for k in a)  # same seed and data: only the teacher's term differs
    recorded = json.loads((taught.out / "results.json").read_text())["train"]
    assert recorded["teacher"] == str(teacher / "best.pt") and recorded["kd_alpha"] == 0.9
    with pytest.raises(CheckpointError, match="nope.pt: checkpoint not found"):
        train(tiny_model_yaml, tiny_data_yaml, tmp_path / "x", TrainConfig(**{**FAST, "teacher": str(tmp_path / "nope.pt")}),
              verbose=False)
    with pytest.raises(SlimnasError, match="0 <= kd_alpha <= 1"):
        train(tiny_model_yaml, tiny_data_yaml, tmp_path / "x", TrainConfig(**{**FAST, "kd_alpha": 2.0}), verbose=False)


def test_mixup_and_cutmix_mix_images_and_labels(tmp_path, tiny_model_yaml, tiny_data_yaml):
    from slimnas.errors import ConfigError
    from slimnas.train.loop import make_mixing

    assert make_mixing(TrainConfig(), 5, "ce") is None  # off by default
    torch.manual_seed(0)
    x, y = torch.rand(8, 3, 16, 16), torch.arange(8) % 5
    for cfg in (TrainConfig(mixup=0.2), TrainConfig(cutmix=1.0), TrainConfig(mixup=0.2, cutmix=1.0)):
        mx, my = make_mixing(cfg, 5, "ce")(x.clone(), y)
        assert mx.shape == x.shape and my.shape == (8, 5) and not torch.equal(mx, x)
        assert torch.allclose(my.sum(1), torch.ones(8)) and ((my > 0).sum(1) <= 2).all()  # two labels, mixed
    with pytest.raises(ConfigError, match="needs the 'ce' loss; the data YAML sets loss: focal"):
        make_mixing(TrainConfig(mixup=0.2), 5, "focal")
    with pytest.raises(SlimnasError, match="Beta alphas >= 0"):
        train(tiny_model_yaml, tiny_data_yaml, tmp_path / "x", TrainConfig(**{**FAST, "cutmix": -1.0}), verbose=False)
    mixed = train(tiny_model_yaml, tiny_data_yaml, tmp_path / "mixed",
                  TrainConfig(**{**FAST, "epochs": 1, "threads": 1, "mixup": 0.2, "cutmix": 1.0}), verbose=False)
    recorded = json.loads((mixed.out / "results.json").read_text())["train"]
    assert recorded["mixup"] == 0.2 and recorded["cutmix"] == 1.0 and 0 <= mixed.selected_f1 <= 1


def test_a_teacher_at_another_size_sees_the_batch_resized(tmp_path):
    from types import SimpleNamespace

    from slimnas.errors import ConfigError
    from slimnas.train.losses import distillation_loss, teacher_loss

    seen = []

    class Teacher(torch.nn.Module):
        def forward(self, x):
            seen.append(tuple(x.shape))
            return torch.zeros(len(x), 3)

    loss = distillation_loss(Teacher(), alpha=1.0, temperature=2.0, teacher_size=48)
    student = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 3))
    value = loss(student, torch.randn(2, 3, 32, 32), torch.tensor([0, 1]), torch.nn.CrossEntropyLoss())
    assert seen == [(2, 3, 48, 48)] and value.item() >= 0
    # a teacher whose labels differ from the data's is refused with both counts named
    net = build_model(TINY_MODEL, num_classes=2)
    from slimnas.train import save_checkpoint
    pre = {"input_size": 32, "resize": "resize", "mean": [0.5] * 3, "std": [0.5] * 3, "invariant_to": []}
    save_checkpoint(tmp_path / "t.pt", net, TINY_MODEL, ["a", "b"], pre)
    data = SimpleNamespace(classes=["a", "b", "c"], cfg=SimpleNamespace(preprocessing=pre))
    with pytest.raises(ConfigError, match="its 2 classes differ from the data's 3"):
        teacher_loss(tmp_path / "t.pt", data, torch.device("cpu"))
    data = SimpleNamespace(classes=["a", "b"], cfg=SimpleNamespace(preprocessing={**pre, "mean": [0.4] * 3}))
    with pytest.raises(ConfigError, match="trained with another mean"):
        teacher_loss(tmp_path / "t.pt", data, torch.device("cpu"))


def test_nan_loss_is_a_clear_error(tmp_path, tiny_model_yaml, tiny_data_yaml):
    with pytest.raises(TrainingDiverged, match=r"loss became (nan|inf) at epoch \d+, step \d+; lower the learning rate"):
        train(tiny_model_yaml, tiny_data_yaml, tmp_path / "run", TrainConfig(**{**FAST, "lr": 1e30, "grad_clip": None}),
              verbose=False)


def test_timm_model_trains(tmp_path, tiny_data_yaml):
    path = tmp_path / "timm.yaml"
    path.write_text("timm: mobilenetv3_small_050\n")
    result = train(path, tiny_data_yaml, tmp_path / "run", TrainConfig(**{**FAST, "epochs": 1}), verbose=False)
    model, ckpt = model_from_checkpoint(tmp_path / "run" / "best.pt")
    assert ckpt["model"] == {"timm": "mobilenetv3_small_050"} and result.epochs_run == 1
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 88)


class _Boom:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /tmp/slimnas_pwned",))


def test_pickled_payload_is_refused_and_runs_nothing(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "model": {}, "classes": [], "preprocessing": {}, "x": _Boom()}, path)
    with pytest.raises(CheckpointError, match="refused to load"):
        load_checkpoint(path)
    import os

    assert not os.path.exists("/tmp/slimnas_pwned")
    (tmp_path / "trunc.pt").write_bytes(path.read_bytes()[:50])
    with pytest.raises(CheckpointError, match="trunc.pt: not a readable checkpoint"):
        load_checkpoint(tmp_path / "trunc.pt")
    pickle  # noqa: B018 - imported to make clear what is being refused


def test_checkpoint_from_another_architecture(tmp_path, tiny_model_yaml, tiny_data_yaml):
    train(tiny_model_yaml, tiny_data_yaml, tmp_path / "run", TrainConfig(**{**FAST, "epochs": 1}), verbose=False)
    ckpt = load_checkpoint(tmp_path / "run" / "best.pt")
    ckpt["model"]["backbone"][0][2][0] = 16  # claims a wider stem than its weights
    torch.save(ckpt, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="weights do not fit this architecture .*shape mismatch"):
        model_from_checkpoint(tmp_path / "other.pt")


def test_initial_checkpoint_starts_a_new_run_from_its_weights(tmp_path, tiny_model_yaml, tiny_data_yaml):
    first = tmp_path / "first"
    train(tiny_model_yaml, tiny_data_yaml, first, TrainConfig(**{**FAST, "epochs": 1}), verbose=False)
    start = load_checkpoint(first / "best.pt")

    def weights(run):  # the learned tensors (BatchNorm's running statistics move even when the lr does not)
        return {k: v for k, v in load_checkpoint(run / "best.pt")["state_dict"].items() if "running" not in k
                and "num_batches" not in k}

    # an lr of 1e-9 leaves the weights where the run started: from the checkpoint's, not the seed's draw
    still = {**FAST, "epochs": 1, "lr": 1e-9, "weight_decay": 0.0, "seed": 1}
    train(tiny_model_yaml, tiny_data_yaml, tmp_path / "warm",
          TrainConfig(**still, initial_checkpoint=str(first / "best.pt")), verbose=False)
    train(tiny_model_yaml, tiny_data_yaml, tmp_path / "cold", TrainConfig(**still), verbose=False)
    warm, cold = weights(tmp_path / "warm"), weights(tmp_path / "cold")
    assert all(torch.allclose(v, start["state_dict"][k], atol=1e-5) for k, v in warm.items())
    assert not all(torch.allclose(v, start["state_dict"][k], atol=1e-5) for k, v in cold.items())
    assert yaml.safe_load((tmp_path / "warm" / "train.yaml").read_text())["initial_checkpoint"] == str(first / "best.pt")

    for change, message in (({"classes": start["classes"][::-1]}, "trained on other labels \\(in another order\\)"),
                            ({"classes": start["classes"][:5]}, "trained on other labels \\(5 labels, not these 88\\)"),
                            ({"decomposition": {"features.0": {"method": "tucker"}}}, "a decomposed or pruned model")):
        torch.save({**start, **change}, tmp_path / "other.pt")
        with pytest.raises(SlimnasError, match=f"--initial-checkpoint {tmp_path / 'other.pt'}: {message}"):
            train(tiny_model_yaml, tiny_data_yaml, tmp_path / "refused", TrainConfig(**still,
                  initial_checkpoint=str(tmp_path / "other.pt")), verbose=False)
    with pytest.raises(CheckpointError, match="missing.pt: checkpoint not found"):
        train(tiny_model_yaml, tiny_data_yaml, tmp_path / "refused", TrainConfig(**still,
              initial_checkpoint=str(tmp_path / "missing.pt")), verbose=False)
    assert not (tmp_path / "refused").exists()  # refused before anything was written
    # the checkpoint a run starts from is an input: a run into its own folder would overwrite it
    r = run_in_process("train.py", "--model", str(tiny_model_yaml), "--data", str(tiny_data_yaml), "--dst", str(first),
                       "--initial-checkpoint", str(first / "best.pt"), "--exist-ok", "--no-progress")
    assert r.returncode == 2 and "which is an input of this command" in r.stderr
    assert all(torch.equal(v, start["state_dict"][k]) for k, v in weights(first).items())


def test_train_cli(tmp_path, tiny_model_yaml, tiny_data_yaml):
    r = run_script("train.py", "--model", str(tiny_model_yaml), "--data", str(tiny_data_yaml),
                   "--dst", str(tmp_path / "run"), "--epochs", "1", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "best val macro-F1" in r.stdout and "aten MACs at 3x32x32" in r.stdout
    assert (tmp_path / "run" / "best.pt").is_file()
    r = run_in_process("train.py", "--model", str(tiny_model_yaml), "--data", str(tmp_path / "nope.yaml"))
    assert r.returncode == 2 and "nope.yaml: file not found" in r.stderr
    r = run_in_process("train.py", "--model", str(tiny_model_yaml), "--data", str(tiny_data_yaml), "--dst",
                       str(tmp_path / "kd"), "--teacher", str(tmp_path / "missing.pt"), "--no-progress")
    assert r.returncode == 2 and "missing.pt: checkpoint not found" in r.stderr and not (tmp_path / "kd").exists()


@pytest.mark.parametrize("script", ["train.py", "tune_architecture.py", "decompose.py", "finetune_inference.py"])
def test_every_cli_has_help(script):
    r = run_in_process(script, "--help")  # each script also runs as a script in tests/test_bad_input.py
    assert r.returncode == 0 and "usage:" in r.stdout


def test_bundle_is_reusable_for_model_building(tiny_data_yaml):
    bundle = build_data(load_data_config(tiny_data_yaml))
    assert build_model(TINY_MODEL, len(bundle.classes), 32)(torch.randn(1, 3, 32, 32)).shape == (1, 88)
