"""MACs against hand counts (the ``aten`` convention: conv/linear multiply-adds plus bias adds)."""

import torch.nn as nn

from slimnas.macs import count_macs
from slimnas.model import build_model


def test_conv_dwconv_linear_hand_count():
    model = build_model({"backbone": [
        [1, "Conv", [16, 3, 2]],       # 3→16, 3x3, stride 2: 32x32 → 16x16
        [1, "DWConv", [16, 3, 1]],     # depthwise 16 groups, 3x3 at 16x16
        [1, "DWConv", [32, 1, 2]],     # grouped 1x1 (gcd(16, 32) = 16 groups), stride 2 → 8x8
        [1, "GlobalAvgPool", []],
        [1, "Flatten", []],
        [1, "Linear", [10]],           # 32→10 with bias
    ]}, num_classes=10)
    conv = 16 * 3 * 3 * 3 * 16 * 16
    dw = 16 * 1 * 3 * 3 * 16 * 16
    grouped = 32 * (16 // 16) * 1 * 1 * 8 * 8
    linear = 32 * 10 + 10
    report = count_macs(model, 32, per_layer=True)
    assert report.macs == conv + dw + grouped + linear
    assert [r["macs"] for r in report.rows] == [conv, dw, grouped, 0, 0, linear]
    params = (16 * 27 + 32) + (16 * 9 + 32) + (32 * 1 + 64) + (32 * 10 + 10)  # conv + BN(γ,β) per layer
    assert report.params == params == sum(r["params"] for r in report.rows)


def test_plain_torch_modules_and_bias():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=True), nn.Flatten(), nn.Linear(4 * 8 * 8, 5, bias=False))
    report = count_macs(model, 8)
    assert report.macs == (4 * 3 * 9 * 64 + 4 * 64) + 256 * 5


def test_pytorch_convention_counts_more_but_not_activations():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
    aten = count_macs(model, 10).macs
    torch_conv = count_macs(model, 10, convention="pytorch").macs
    assert aten == 8 * 27 * 64
    bn, pool = 2 * 8 * 64, 8 * 64  # ptflops' module hooks count BN and pooling; the ReLU is ignored
    assert torch_conv == aten + bn + pool


def test_counting_leaves_the_model_untouched():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    count_macs(model, 16, per_layer=True)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_the_closed_form_count_agrees_with_ptflops():
    """``layer_macs`` (the decomposition's fast count) and ``count_macs`` are two ways to one number."""
    from slimnas.macs import layer_macs

    layers = [nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), nn.Conv2d(16, 16, 5, padding="same", groups=16,
                                                                               bias=False),
              nn.Conv2d(16, 24, (3, 1), stride=(2, 1), padding=(1, 0), dilation=2, bias=False),
              nn.Sequential(nn.Conv2d(8, 4, 1, bias=False), nn.Conv2d(4, 4, 3, stride=2, bias=False))]
    for layer in layers:
        c_in = layer[0].in_channels if isinstance(layer, nn.Sequential) else layer.in_channels
        assert layer_macs(layer, (20, 18)) == count_macs(layer, (c_in, 20, 18)).macs, layer
