"""The objective's terms: multi-class hinge, the margin and cross-entropy mix, weight decay; the
logit margin that evaluation logs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import largemargin as lm
from largemargin.models import build_model
from largemargin.training.config import LossConfig, recipe
from largemargin.training.objective import Objective, logit_margins, multiclass_hinge
from tests.analysis.linear import closed_form, linear_model


def test_multiclass_hinge_by_hand():
    logits = torch.tensor([[3.0, 1.0, 0.5], [0.0, 2.0, 1.5], [1.0, 1.0, 4.0]])
    y = torch.tensor([0, 2, 1])
    # gaps z_y - max other: 2.0, -0.5, -3.0 -> hinge with margin 1: 0, 1.5, 4.0
    expected = torch.tensor((0.0 + 1.5 + 4.0) / 3)
    torch.testing.assert_close(multiclass_hinge(logits, y, 1.0), expected)


def _batch():
    torch.manual_seed(0)
    model = build_model("mnist_reference", num_classes=10).double()
    x = torch.rand(6, 1, 28, 28, dtype=torch.float64)
    y = torch.randint(0, 10, (6,))
    return model, x, y


def test_large_margin_terms_add_up():
    model, x, y = _batch()
    cfg = LossConfig(cross_entropy_weight=0.5, margin_scale=10.0)
    terms = Objective(cfg, ["input", "block1", "block2"], weight_decay=1e-3)(model, x, y)
    assert set(terms.parts) == {"margin", "cross_entropy", "weight_decay"}
    torch.testing.assert_close(terms.total, sum(terms.parts.values()))
    logits, layers = lm.forward_with_layers(model, x, ["input", "block1", "block2"])
    margin = lm.large_margin_loss(logits, y, layers, cfg.margin)
    torch.testing.assert_close(terms.parts["margin"], margin / 10.0)
    torch.testing.assert_close(terms.parts["cross_entropy"], 0.5 * F.cross_entropy(logits, y))
    squares = sum(p.pow(2).sum() for p in model.parameters())
    torch.testing.assert_close(terms.parts["weight_decay"], 0.5 * 1e-3 * squares)
    assert set(terms.margins) == {"input", "block1", "block2"}


def test_cross_entropy_objective_measures_margins_only_when_asked():
    model, x, y = _batch()
    objective = Objective(LossConfig(kind="cross_entropy"), ["input"], weight_decay=0.0)
    assert objective(model, x, y).margins == {}
    measured = objective(model, x, y, measure_margin=True).margins
    logits, layers = lm.forward_with_layers(model, x, ["input"])
    expected = lm.margin_distances(logits, y, layers, norm="inf", norm_scale="dim", epsilon=1e-6)[
        :, 0, 0
    ].mean()
    torch.testing.assert_close(measured["input"], expected)


def saturated_linear(seed: int = 0, scale: float = 1e3):
    """A linear model with huge weights (softmax saturated: the true class's probability is 1
    to float64 precision on most examples), its weights, inputs and labels."""
    g = torch.Generator().manual_seed(seed)
    weight = scale * torch.randn(5, 12, generator=g, dtype=torch.float64)
    bias = scale * 0.1 * torch.randn(5, generator=g, dtype=torch.float64)
    x = torch.rand(40, 12, generator=g, dtype=torch.float64)
    y = torch.randint(0, 5, (40,), generator=g)  # some misclassified
    return linear_model(weight, bias), weight, bias, x, y


@pytest.mark.parametrize(("norm", "q"), [(2, 2.0), ("inf", 1.0), (3, 1.5)])
def test_logit_margin_is_the_closed_form_distance_under_saturated_softmax(norm, q):
    model, weight, bias, x, y = saturated_linear()
    logits, layers = lm.forward_with_layers(model, x, ["input"])
    probs = torch.softmax(logits, dim=1).detach()
    assert (probs.amax(dim=1) > 1 - 1e-12).float().mean() > 0.5  # precondition: saturated
    got = logit_margins(logits, y, layers, norm=norm)
    assert got.shape == (40, 1)
    exact, _ = closed_form(weight, bias, x, y, q)  # min_i (z_y - z_i) / ||w_y - w_i||_q
    torch.testing.assert_close(got[:, 0], exact, rtol=1e-7, atol=1e-9)
    assert got.abs().max() < 10  # inputs in [0, 1]^12: the boundary is a few units away
    # the training score's distances (probabilities, per-element norm scale) are not geometric
    objective = Objective(recipe(norm=norm, norm_scale="dim"), ["input"], weight_decay=0.0)
    training = objective(model, x, y, measure_margin=True).margins["input"]
    means = objective.mean_logit_margins(logits, y, layers)
    torch.testing.assert_close(means["input"], exact.mean(), rtol=1e-7, atol=1e-9)
    assert training.abs() > 1e3 * means["input"].abs()


def test_logit_margin_ignores_training_options_and_last_layer_scale():
    model, x, y = _batch()
    model.eval()
    names = ["input", "block1", "block2"]
    logits, layers = lm.forward_with_layers(model, x, names)
    base = logit_margins(logits, y, layers, norm="inf")
    assert torch.isfinite(base).all()
    last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():  # logits x 1e3: softmax saturates, the logit margin does not move
        last.weight.mul_(1e3)
        last.bias.mul_(1e3)
    logits, layers = lm.forward_with_layers(model, x, names)
    scaled = logit_margins(logits, y, layers, norm="inf")
    torch.testing.assert_close(scaled, base, rtol=1e-6, atol=1e-12)
    # only the norm of the run's loss options matters
    a = Objective(recipe(norm="inf", score="prob", norm_scale="dim", top_k=3), names, 0.0)
    b = Objective(recipe(norm="inf", score="logit", epsilon=1.0), names, 0.0)
    for one, other in zip(
        a.mean_logit_margins(logits, y, layers).values(),
        b.mean_logit_margins(logits, y, layers).values(),
        strict=True,
    ):
        torch.testing.assert_close(one, other)
