"""The YAML builder: every registered block, scaling arithmetic, timm models, and errors that name the entry."""

import pytest
import torch
import yaml

from conftest import TINY_MODEL, run_in_process
from slimnas.errors import ConfigError
from slimnas.model import ModelConfig, SlimNet, build_model, layer_table
from slimnas.modules import get_module, list_modules, make_divisible

# one example row per registered block; a new block without an example fails test_every_block_has_an_example
EXAMPLES = {
    "Conv": [16, 3, 2], "DWConv": [16, 3, 2], "Bottleneck": [16, 2], "InvertedResidualv2": [16, 4, 2],
    "InvertedResidualv3": [16, 5, 3, 1, 1, 2], "MBConv": [16, 3, 4, 2], "FusedMBConv": [16, 3, 2, 2],
    "Fire": [16, 8, 2], "MaxPool": [2], "AvgPool": [2], "GlobalAvgPool": [], "Flatten": [], "Linear": [32, "relu"],
}


def test_every_block_has_an_example():
    assert sorted(EXAMPLES) == list_modules()


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_block_forward_backward(name):
    """Generated from the registry: each block builds, repeats, runs forward and backward in a model."""
    kind = get_module(name).kind
    rows = [[1, "Conv", [8, 3, 1]]]
    rows += [[2, name, EXAMPLES[name]]] if kind != "head" and name not in ("GlobalAvgPool", "Flatten") else []
    rows += [[1, "GlobalAvgPool", []], [1, "Flatten", []]]
    rows += [[2, name, EXAMPLES[name]]] if kind == "head" else []
    rows += [[1, "Linear", ["num_classes"]]]
    model = build_model({"backbone": rows}, num_classes=5, input_size=16)
    out = model(torch.randn(2, 3, 16, 16))
    assert out.shape == (2, 5)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_repeats_chain_channels_and_stride_only_first():
    model = build_model({"backbone": [[3, "InvertedResidualv2", [24, 4, 2]], [1, "GlobalAvgPool", []],
                                      [1, "Flatten", []], [1, "Linear", ["num_classes"]]]}, num_classes=4)
    blocks = model.backbone[0]
    assert len(blocks) == 3
    strides = [m.stride[0] for b in blocks for m in b.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    assert strides == [2, 1, 1]
    assert [b.use_res for b in blocks] == [False, True, True]
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 4)


def test_width_and_depth_multiples():
    cfg = {**TINY_MODEL, "width_multiple": 0.5, "depth_multiple": 2.0}
    cfg["backbone"] = [[1, "Conv", [30, 3, 2]], [2, "Conv", [64, 3, 1]], *TINY_MODEL["backbone"][2:]]
    model = build_model(cfg, num_classes=7)
    assert model.table[0]["c_out"] == make_divisible(15) == 16
    assert model.table[1]["c_out"] == 32 and model.table[1]["n"] == 4
    assert model.table[-1]["c_out"] == 7  # the logits are never width-scaled
    assert "total parameters" in layer_table(model)


def test_last_layer_follows_the_data_class_count():
    cfg = {"backbone": [*TINY_MODEL["backbone"][:-1], [1, "Linear", [6]]]}
    assert build_model(cfg, num_classes=88)(torch.randn(1, 3, 32, 32)).shape == (1, 88)
    assert build_model(cfg)(torch.randn(1, 3, 32, 32)).shape == (1, 6)


@pytest.mark.parametrize("row, message", [
    ([1, "Conv", [16, 3, 2, "relu", 7]], "backbone[1] .*wrong arguments for Conv"),
    ([1, "Convv", [16]], "backbone[1] .*unknown module 'Convv'; did you mean Conv"),
    ([1, "Conv", ["sixteen", 3]], "backbone[1] .*output channels must be a positive integer"),
    ([1, "Conv", [16, "three"]], "backbone[1] .*cannot build Conv"),
    ([0, "Conv", [16]], "backbone[1] .*repeat must be a positive integer"),
    (["Conv", [16]], r"backbone\[1\] .*expected \[repeat, Module, \[args\]\]"),
    ([1, "Conv", [16, 3, 1, "swishy"]], "backbone[1] .*unknown activation"),
])
def test_bad_entries_name_the_entry(row, message):
    cfg = ModelConfig.from_dict({"backbone": [[1, "Conv", [8, 3, 2]], row, *TINY_MODEL["backbone"][2:]]}, "m.yaml")
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(r"\\[", "[") if "\\" not in message else message):
        build_model(cfg, num_classes=3)


def test_shape_mistake_is_caught_by_the_dry_run():
    cfg = ModelConfig.from_dict({"backbone": [[1, "Conv", [8, 3, 2]], [1, "Linear", ["num_classes"]]]}, "m.yaml")
    with pytest.raises(ConfigError, match=r"m.yaml: backbone\[1\] .*fails on input \(1, 8, 16, 16\)"):
        build_model(cfg, num_classes=3, input_size=32)


def test_unknown_top_level_key():
    with pytest.raises(ConfigError, match="unknown key"):
        ModelConfig.from_dict({**TINY_MODEL, "widht_multiple": 1}, "m.yaml")


def test_timm_model_and_unknown_name():
    model = build_model({"timm": "mobilenetv3_small_050"}, num_classes=11, input_size=64)
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 11)
    with pytest.raises(ConfigError, match="did you mean mobilenetv3_small_050"):
        build_model({"timm": "mobilenetv3_smal_050"}, num_classes=3)


def test_timm_pretrained_offline_fails_clearly(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # no network wait in tests
    with pytest.raises(ConfigError, match="could not load pretrained weights .*pretrained: false"):
        build_model({"timm": "mobilenetv3_small_050", "pretrained": True}, num_classes=3)


def test_shipped_model_yamls_build(tmp_path):
    from pathlib import Path

    for path in sorted(Path(__file__).parents[1].glob("code/configs/model/*.yaml")):
        model = build_model(path, num_classes=88, input_size=96)
        assert model(torch.randn(1, 3, 96, 96)).shape == (1, 88), path


def test_cli_wrong_arguments_exit_2(tmp_path, tiny_data_yaml):
    bad = {**TINY_MODEL, "backbone": [[1, "Conv", [8, 3, 2, "relu", 1, 2, 3]], *TINY_MODEL["backbone"][1:]]}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    r = run_in_process("train.py", "--model", str(path), "--data", str(tiny_data_yaml), "--dst", str(tmp_path / "run"))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith(f"error: {path}: backbone[0]")
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "run").exists()


def test_slimnet_is_sequential_over_entries():
    model = build_model(TINY_MODEL, num_classes=3)
    assert isinstance(model, SlimNet) and len(model.backbone) == len(TINY_MODEL["backbone"])
