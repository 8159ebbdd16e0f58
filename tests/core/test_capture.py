"""Named layers of unmodified models: ResNet-18 (in-place ReLUs), BatchNorm, clean-up."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

import largemargin as lm


def _hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.fixture(scope="module")
def resnet18():
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None, num_classes=10)


@pytest.mark.slow
def test_resnet18_train_mode_loss_and_backward(resnet18):
    model = resnet18.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(4, 3, 32, 32)
    y = torch.randint(0, 10, (4,))
    names = ["input", "bn1", "layer1", "layer2.0.bn1", "fc"]
    logits, layers = lm.forward_with_layers(model, x, names)
    assert [tuple(t.shape[1:]) for t in layers] == [
        (3, 32, 32),
        (64, 16, 16),
        (64, 8, 8),
        (128, 4, 4),
        (10,),
    ]
    # bn1 is followed by ReLU(inplace=True): the captured output must still be pre-ReLU.
    assert float(layers[1].detach().min()) < 0
    loss = lm.large_margin_loss(
        logits, y, layers, norm="inf", norm_scale="dim", top_k=2, second_order=True
    )
    loss.backward()
    assert torch.isfinite(loss)
    assert all(
        p.grad is not None and bool(torch.isfinite(p.grad).all()) for p in model.parameters()
    )
    assert _hook_count(model) == 0
    # Only what a train-mode forward changes anyway (BatchNorm statistics) has changed.
    for k, v in model.state_dict().items():
        if "running" not in k and "num_batches" not in k:
            assert torch.equal(v, state[k]), k


def test_captured_gradient_is_the_module_output_gradient(resnet18):
    """Gradient w.r.t. the captured bn1 output equals the one through its own ReLU mask."""
    model = resnet18.eval()
    x = torch.rand(2, 3, 32, 32)
    logits, (bn1,) = lm.forward_with_layers(model, x, ["bn1"])
    (g,) = torch.autograd.grad(logits[:, 0].sum(), bn1)
    assert float(g[bn1 < 0].abs().max()) == 0.0  # the in-place ReLU still gates the gradient
    assert float(g[bn1 > 0].abs().max()) > 0.0


def test_unknown_name_lists_the_valid_ones(resnet18):
    with pytest.raises(ValueError, match=r"unknown layer name\(s\) \['layer9'\]") as info:
        lm.forward_with_layers(resnet18, torch.rand(1, 3, 32, 32), ["input", "layer9"])
    assert "layer4.1.bn2" in str(info.value) and "input" in str(info.value)


def test_shared_module_running_twice_is_rejected(resnet18):
    with pytest.raises(ValueError, match="ran 2 times"):
        lm.forward_with_layers(resnet18, torch.rand(1, 3, 32, 32), ["layer1.0.relu"])
    assert _hook_count(resnet18) == 0


def test_hooks_are_removed_when_forward_raises():
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(5, 2))  # shapes do not chain
    with pytest.raises(RuntimeError):
        lm.forward_with_layers(model, torch.rand(2, 4), ["0", "1"])
    assert _hook_count(model) == 0


def test_non_tensor_output_is_rejected():
    class Pair(nn.Module):
        def forward(self, x):
            return x, x

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.pair = Pair()
            self.head = nn.Linear(3, 2)

        def forward(self, x):
            return self.head(self.pair(x)[0])

    with pytest.raises(TypeError, match="layer 'pair' returned tuple"):
        lm.forward_with_layers(Net(), torch.rand(2, 3), ["pair"])


def test_input_that_already_requires_grad_is_used_as_is():
    model = nn.Linear(3, 2)
    x = torch.rand(2, 3, requires_grad=True)
    _, (inp,) = lm.forward_with_layers(model, x, ["input"])
    assert inp is x


def test_layer_names_lists_input_and_modules():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    assert lm.layer_names(model) == ["input", "0", "1"]
    with pytest.raises(ValueError, match="distinct"):
        lm.check_layer_names(model, ["0", "0"])
