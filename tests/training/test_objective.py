"""The objective's terms: multi-class hinge, the margin and cross-entropy mix, weight decay."""

from __future__ import annotations

import torch
import torch.nn.functional as F

import largemargin as lm
from largemargin.models import build_model
from largemargin.training.config import LossConfig
from largemargin.training.objective import Objective, multiclass_hinge


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
    margin = lm.large_margin_loss(logits, y, layers, **cfg.margin_options())
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
