"""ResNet-9 (Page 2018) at any width: sizes, structure, channels-last, margins through it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from largemargin import forward_with_layers, large_margin_loss
from largemargin.models import CifarResNet9, build_model, default_margin_layers
from tests.models.probes import call_counts, layer_outputs

STAGES = ["layer1", "layer2", "layer3"]


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("width", "params"),
    # 8 convs 3x3 without bias, a BN (2 per channel) after each, a bias-free fc 8w x 10:
    # 6.57M at Page's width 64.
    [(64, 6_573_120), (16, 412_944)],
)
def test_parameter_count(width, params):
    assert _count(CifarResNet9(width)) == params


def test_stage_output_shapes_and_residuals():
    torch.manual_seed(0)
    model = CifarResNet9(8, num_classes=100)
    logits, outs = layer_outputs(model, torch.randn(2, 3, 32, 32), ["prep", *STAGES])
    assert logits.shape == (2, 100)
    assert outs["prep"].shape == (2, 8, 32, 32)
    assert outs["layer1"].shape == (2, 16, 16, 16)
    assert outs["layer2"].shape == (2, 32, 8, 8)
    assert outs["layer3"].shape == (2, 64, 4, 4)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 8 and all(c.bias is None for c in convs)
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 3


def test_channels_last_gives_the_nchw_numbers():
    torch.manual_seed(0)
    model = CifarResNet9(8).eval()
    assert all(
        p.is_contiguous(memory_format=torch.channels_last)
        for p in model.parameters()
        if p.dim() == 4
    )
    reference = CifarResNet9(8).eval()
    reference.load_state_dict(model.state_dict())
    reference.to(memory_format=torch.contiguous_format)
    x = torch.randn(3, 3, 32, 32)
    torch.testing.assert_close(model(x), reference(x), rtol=1e-4, atol=1e-5)


def test_every_module_runs_once():
    counts = call_counts(CifarResNet9(4), torch.randn(2, 3, 16, 16))
    assert set(counts.values()) == {1}


def test_registry_names_and_default_margin_layers():
    assert _count(build_model("cifar_resnet9", 10)) == _count(CifarResNet9(64))
    assert _count(build_model("cifar_resnet9_w16", 10)) == _count(CifarResNet9(16))
    assert build_model("cifar_resnet9_w16", 10, in_channels=1).prep.conv.in_channels == 1
    names = dict(CifarResNet9(4).named_modules())
    layers = default_margin_layers("cifar_resnet9_w16")
    assert layers == ["input", *STAGES]
    assert all(name in names for name in layers[1:])


@pytest.mark.parametrize("second_order", [False, True])
def test_margin_loss_through_channels_last_layers_is_finite_and_trains(second_order):
    torch.manual_seed(0)
    model = CifarResNet9(4)
    x, y = torch.rand(4, 3, 16, 16), torch.tensor([0, 1, 2, 3])
    logits, layers = forward_with_layers(model, x, default_margin_layers("cifar_resnet9_w16"))
    loss = large_margin_loss(logits, y, layers, gamma=1.0, norm=2, second_order=second_order)
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert torch.isfinite(loss) and loss > 0
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_bad_width_raises():
    with pytest.raises(ValueError, match="width must be >= 1"):
        CifarResNet9(0)
