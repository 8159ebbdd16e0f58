"""Wide ResNets (Zagoruyko & Komodakis 2016): sizes, pre-activation structure, shortcuts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from largemargin.models import WideResNet
from largemargin.models.wide_resnet import PreActBlock
from tests.models.probes import call_counts, layer_outputs


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("depth", "widen_factor", "params"),
    # Zagoruyko & Komodakis 2016, table 4: 2.7M, 11.0M, 8.9M, 36.5M.
    [(16, 4, 2_748_890), (16, 8, 10_961_370), (40, 4, 8_949_210), (28, 10, 36_479_194)],
)
def test_parameter_count(depth, widen_factor, params):
    assert _count(WideResNet(depth, widen_factor)) == params


def test_structure():
    model = WideResNet(16, 2)
    blocks = [m for m in model.modules() if isinstance(m, PreActBlock)]
    assert len(blocks) == 3 * 2
    # Projection shortcuts only where the shape changes: the first block of each stage.
    projections = [m.shortcut for m in blocks if isinstance(m.shortcut, nn.Conv2d)]
    assert len(projections) == 3
    assert [p.out_channels for p in projections] == [32, 64, 128]
    assert [p.stride for p in projections] == [(1, 1), (2, 2), (2, 2)]
    assert all(p.kernel_size == (1, 1) and p.bias is None for p in projections)
    assert all(isinstance(m.shortcut, nn.Identity) for m in blocks if not m.projection)
    # Pre-activation: each block starts with BN, and the network ends with BN-ReLU.
    assert all(next(iter(m.children())) is m.bn1 for m in blocks)
    assert model.bn.num_features == 128


def test_stage_output_shapes():
    torch.manual_seed(0)
    model = WideResNet(10, 2, num_classes=100)
    logits, outs = layer_outputs(model, torch.randn(2, 3, 32, 32), ["stage1", "stage2", "stage3"])
    assert logits.shape == (2, 100)
    assert outs["stage1"].shape == (2, 32, 32, 32)
    assert outs["stage2"].shape == (2, 64, 16, 16)
    assert outs["stage3"].shape == (2, 128, 8, 8)


def test_dropout_is_inside_blocks():
    model = WideResNet(10, 1, dropout=0.3)
    dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert len(dropouts) == 3
    assert all(m.p == 0.3 for m in dropouts)


def test_identity_block_adds_its_raw_input():
    torch.manual_seed(0)
    block = PreActBlock(8, 8, stride=1, dropout=0.0)
    nn.init.zeros_(block.conv2.weight)
    x = torch.randn(2, 8, 4, 4)
    torch.testing.assert_close(block(x), x)


def test_in_channels_and_every_module_runs_once():
    model = WideResNet(10, 1, in_channels=1)
    assert model.stem.in_channels == 1
    counts = call_counts(model, torch.randn(2, 1, 16, 16))
    assert set(counts.values()) == {1}


def test_default_margin_layers_are_modules():
    names = dict(WideResNet(10, 1).named_modules())
    assert WideResNet.DEFAULT_MARGIN_LAYERS == ("input", "stage1", "stage2", "stage3")
    assert all(name in names for name in WideResNet.DEFAULT_MARGIN_LAYERS[1:])


@pytest.mark.parametrize("depth", [4, 15, 17])
def test_bad_depth_raises(depth):
    with pytest.raises(ValueError, match=r"depth must be 6n \+ 4"):
        WideResNet(depth, 1)


def test_bad_widen_factor_raises():
    with pytest.raises(ValueError, match="widen_factor must be >= 1"):
        WideResNet(16, 0)
