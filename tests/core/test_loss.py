"""The loss: exact second-order gradients, reductions, the module, and finiteness."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import largemargin as lm
from tests.core.conftest import mlp_batch


def _tiny_smooth_loss(second_order: bool, norm: float | str):
    torch.manual_seed(0)
    x = torch.randn(4, 3, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 1])

    def loss(w1: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
        inp = x.clone().requires_grad_(True)
        hidden = torch.tanh(inp @ w1)
        logits = hidden @ w2
        return lm.large_margin_loss(
            logits,
            y,
            [inp, hidden],
            gamma=10.0,
            norm=norm,
            second_order=second_order,
            top_k=2,
            aggregation="sum",
        )

    w1 = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    w2 = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    return loss, (w1, w2)


@pytest.mark.parametrize("norm", [2, 3])
def test_second_order_gradient_passes_gradcheck(norm):
    fn, params = _tiny_smooth_loss(second_order=True, norm=norm)
    assert torch.autograd.gradcheck(fn, params, eps=1e-6, atol=1e-6)


def test_first_order_gradient_is_not_the_true_gradient():
    fn, params = _tiny_smooth_loss(second_order=False, norm=2)
    assert not torch.autograd.gradcheck(fn, params, eps=1e-6, atol=1e-6, raise_exception=False)


@pytest.fixture
def batch():
    return mlp_batch(classes=3, seed=1)


def test_reductions_are_consistent(batch):
    _, logits, y, layers = batch
    per_example = lm.large_margin_loss(logits, y, layers, gamma=0.5, reduction="none")
    assert per_example.shape == (6,)
    assert bool((per_example >= 0).all())
    mean = lm.large_margin_loss(logits, y, layers, gamma=0.5, reduction="mean")
    total = lm.large_margin_loss(logits, y, layers, gamma=0.5, reduction="sum")
    torch.testing.assert_close(mean, per_example.mean())
    torch.testing.assert_close(total, per_example.sum())


def test_hinge_is_zero_beyond_the_margin_and_capped_on_the_wrong_side(batch):
    model, logits, y, layers = batch
    d = lm.margin_distances(logits, y, layers)
    tiny = float(d.abs().min()) / 10
    # Examples beyond gamma contribute 0; examples below gamma*(1-alpha) contribute alpha*gamma.
    per_example = lm.large_margin_loss(logits, y, layers, gamma=tiny, alpha=1.0, reduction="none")
    closest = d.amin(dim=2)  # (B, L)
    expected = torch.where(closest > tiny, 0.0, tiny).mean(dim=1)
    torch.testing.assert_close(per_example, expected)
    grads = torch.autograd.grad(per_example.sum(), list(model.parameters()))
    assert all(float(g.abs().max()) == 0.0 for g in grads)


def test_module_matches_function_and_returns_distances(batch):
    _, logits, y, layers = batch
    criterion = lm.LargeMarginLoss(gamma=[1.0, 2.0], top_k=2, norm="inf", norm_scale="dim")
    value, dist = criterion(logits, y, layers, return_distances=True)
    expected = lm.large_margin_loss(
        logits, y, layers, gamma=[1.0, 2.0], top_k=2, norm="inf", norm_scale="dim"
    )
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(criterion(logits, y, layers), expected)
    assert dist.shape == (6, 2, 2)
    assert dist.requires_grad
    assert "top_k=2" in repr(criterion)


def _assert_finite_step(model, logits, y, layers, **kw):
    for second_order in (False, True):
        loss = lm.large_margin_loss(logits, y, layers, second_order=second_order, **kw)
        assert torch.isfinite(loss)
        grads = torch.autograd.grad(
            loss, list(model.parameters()), retain_graph=True, allow_unused=True
        )
        assert all(g is None or bool(torch.isfinite(g).all()) for g in grads)


@pytest.mark.parametrize("norm", [1, 2, math.inf])
@pytest.mark.parametrize("score", ["prob", "logit"])
def test_saturated_softmax_gives_finite_loss_and_gradients(norm, score):
    model = nn.Sequential(nn.Linear(4, 3))
    with torch.no_grad():
        model[0].weight.mul_(1e4)  # softmax saturates: probabilities are exactly 0 and 1
    x = torch.randn(5, 4, requires_grad=True)
    logits = model(x)
    assert float(torch.softmax(logits.detach(), 1).max()) == 1.0
    y = logits.argmax(1)
    y[0] = (y[0] + 1) % 3  # one confidently wrong example
    _assert_finite_step(model, logits, y, [x], norm=norm, score=score)


@pytest.mark.parametrize("norm", [1, 2, math.inf])
def test_zero_activation_layer_gives_finite_loss(norm):
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    with torch.no_grad():
        model[0].bias.fill_(-100.0)  # every ReLU is off: the hidden layer is all zeros
    logits, layers = lm.forward_with_layers(model, torch.randn(5, 4), ["input", "1"])
    assert float(layers[1].detach().abs().max()) == 0.0
    _assert_finite_step(model, logits, torch.randint(0, 3, (5,)), layers, norm=norm)


def test_batch_size_one():
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))
    logits, layers = lm.forward_with_layers(model, torch.randn(1, 4), ["input", "1"])
    _assert_finite_step(model, logits, torch.tensor([2]), layers, top_k=2)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_computes_the_margin_in_float32(dtype):
    torch.manual_seed(2)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5)
    )
    x = torch.rand(8, 1, 6, 6)
    y = torch.randint(0, 5, (8,))
    with torch.autocast("cpu", dtype=dtype):
        logits, layers = lm.forward_with_layers(model, x, ["input", "1"])
        assert logits.dtype == dtype
        d = lm.margin_distances(logits, y, layers, norm="inf")
        for second_order in (False, True):
            loss = lm.large_margin_loss(logits, y, layers, norm="inf", second_order=second_order)
            assert loss.dtype == torch.float32 and torch.isfinite(loss)
            grads = torch.autograd.grad(loss, list(model.parameters()), retain_graph=True)
            assert all(bool(torch.isfinite(g).all()) for g in grads)
    assert d.dtype == torch.float32 and bool(torch.isfinite(d).all())
    full_logits, full_layers = lm.forward_with_layers(model, x, ["input", "1"])
    full = lm.margin_distances(full_logits, y, full_layers, norm="inf")
    # Low precision changes the figure by a few percent at most, not its meaning.
    assert float(((d - full).abs() / full.abs().clamp_min(1e-6)).median()) < 0.05
