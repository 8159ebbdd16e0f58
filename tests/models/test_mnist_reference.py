"""The reference MNIST network: exact layers, sizes and block outputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from largemargin.models import MnistReference
from tests.models.probes import call_counts, layer_outputs


def _check_block(block: nn.Module, in_channels: int, out_channels: int) -> None:
    conv, relu, pool, bn = block
    assert [name for name, _ in block.named_children()] == ["conv", "relu", "pool", "bn"]
    assert isinstance(conv, nn.Conv2d)
    assert (conv.in_channels, conv.out_channels) == (in_channels, out_channels)
    assert conv.kernel_size == (5, 5)
    assert conv.stride == (1, 1)
    assert conv.padding == (2, 2)
    assert conv.bias is None
    assert type(relu) is nn.ReLU
    assert isinstance(pool, nn.MaxPool2d)
    assert (pool.kernel_size, pool.stride) == (2, 2)
    assert isinstance(bn, nn.BatchNorm2d)
    assert bn.num_features == out_channels
    assert bn.eps == 1e-5
    assert bn.momentum == 0.1
    assert bn.affine
    assert bn.track_running_stats


def test_layers_are_the_reference_ones():
    model = MnistReference()
    assert [name for name, _ in model.named_children()] == [
        "block1",
        "block2",
        "flatten",
        "fc1",
        "relu",
        "fc2",
    ]
    _check_block(model.block1, 1, 32)
    _check_block(model.block2, 32, 64)
    assert (model.fc1.in_features, model.fc1.out_features) == (7 * 7 * 64, 512)
    assert model.fc1.bias is not None
    assert (model.fc2.in_features, model.fc2.out_features) == (512, 10)
    assert model.fc2.bias is not None


def test_parameter_count():
    # convs 5*5*1*32 + 5*5*32*64, BN 2*(32+64), fc 3136*512+512, 512*10+10
    model = MnistReference()
    assert sum(p.numel() for p in model.parameters()) == 1_663_466


def test_forward_shapes_and_block_outputs():
    torch.manual_seed(0)
    model = MnistReference()
    x = torch.rand(3, 1, 28, 28)
    logits, outs = layer_outputs(model, x, ["block1", "block1.bn", "block2", "block2.bn"])
    assert logits.shape == (3, 10)
    assert outs["block1"].shape == (3, 32, 14, 14)
    assert outs["block2"].shape == (3, 64, 7, 7)
    # A block's output is its BatchNorm's output: the block ends with BN.
    assert outs["block1"] is outs["block1.bn"]
    assert outs["block2"] is outs["block2.bn"]


def test_every_module_runs_once():
    model = MnistReference()
    counts = call_counts(model, torch.rand(2, 1, 28, 28))
    assert set(counts.values()) == {1}


def test_three_channel_32x32_inputs():
    model = MnistReference(num_classes=7, in_channels=3, input_size=32)
    assert model.block1.conv.in_channels == 3
    assert model.fc1.in_features == 8 * 8 * 64
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 7)


def test_rectangular_input_size():
    model = MnistReference(input_size=(28, 36))
    assert model.fc1.in_features == 7 * 9 * 64
    assert model(torch.rand(2, 1, 28, 36)).shape == (2, 10)


def test_default_margin_layers_are_modules():
    model = MnistReference()
    assert MnistReference.DEFAULT_MARGIN_LAYERS == ("input", "block1", "block2")
    modules = dict(model.named_modules())
    assert {"block1", "block2"} <= modules.keys()


def test_too_small_input_size_raises():
    with pytest.raises(ValueError, match="at least 4x4"):
        MnistReference(input_size=3)
