"""CIFAR ResNets (He et al. 2016, option-A shortcuts): sizes, structure, shortcut."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from largemargin.models import CifarResNet
from largemargin.models.cifar_resnet import ZeroPadShortcut
from tests.models.probes import call_counts, layer_outputs

STAGES = ["stage1", "stage2", "stage3"]


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("depth", "params"),
    # He et al. 2016, table 6: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M.
    [(20, 269_722), (32, 464_154), (44, 658_586), (56, 853_018), (110, 1_727_962)],
)
def test_parameter_count(depth, params):
    assert _count(CifarResNet(depth)) == params


@pytest.mark.parametrize("depth", [20, 56])
def test_depth_counts_weighted_layers_and_shortcuts_are_parameter_free(depth):
    model = CifarResNet(depth)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(convs) + len(linears) == depth
    assert all(conv.kernel_size == (3, 3) and conv.bias is None for conv in convs)
    shortcuts = [m for m in model.modules() if isinstance(m, ZeroPadShortcut)]
    assert len(shortcuts) == 2
    assert all(_count(s) == 0 for s in shortcuts)


def test_stage_output_shapes():
    torch.manual_seed(0)
    model = CifarResNet(20, num_classes=100)
    logits, outs = layer_outputs(model, torch.randn(2, 3, 32, 32), ["stem", *STAGES])
    assert logits.shape == (2, 100)
    assert outs["stem"].shape == (2, 16, 32, 32)
    assert outs["stage1"].shape == (2, 16, 32, 32)
    assert outs["stage2"].shape == (2, 32, 16, 16)
    assert outs["stage3"].shape == (2, 64, 8, 8)
    # Post-activation blocks: every stage ends with a ReLU.
    assert all((outs[name] >= 0).all() for name in STAGES)


def test_in_channels():
    model = CifarResNet(20, in_channels=1)
    assert model.stem.conv.in_channels == 1
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_every_module_runs_once():
    counts = call_counts(CifarResNet(20), torch.randn(2, 3, 16, 16))
    assert set(counts.values()) == {1}


def test_default_margin_layers_are_modules():
    names = dict(CifarResNet(20).named_modules())
    assert CifarResNet.DEFAULT_MARGIN_LAYERS == ("input", "stage1", "stage2", "stage3")
    assert all(name in names for name in CifarResNet.DEFAULT_MARGIN_LAYERS[1:])


def test_zero_pad_shortcut_subsamples_and_appends_zero_channels():
    x = torch.randn(2, 16, 8, 8)
    out = ZeroPadShortcut(16, 32, stride=2)(x)
    assert out.shape == (2, 32, 4, 4)
    torch.testing.assert_close(out[:, :16], x[:, :, ::2, ::2])
    assert (out[:, 16:] == 0).all()


@pytest.mark.parametrize("depth", [2, 19, 21])
def test_bad_depth_raises(depth):
    with pytest.raises(ValueError, match=r"6n \+ 2"):
        CifarResNet(depth)
