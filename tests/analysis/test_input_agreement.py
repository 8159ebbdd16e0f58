"""input_margin_agreement: on a linear model both margins equal the closed form."""

from __future__ import annotations

import math

import pytest
import torch

from largemargin.analysis import input_margin_agreement

from .linear import Staircase, closed_form, linear_model


@pytest.mark.parametrize(("norm", "q"), [(2, 2.0), ("inf", 1.0)])
def test_linear_model_agrees_perfectly_with_the_closed_form(norm, q):
    g = torch.Generator().manual_seed(4)
    weight = torch.randn(4, 6, generator=g, dtype=torch.float64)
    bias = 0.2 * torch.randn(4, generator=g, dtype=torch.float64)
    x = 0.5 + 0.1 * torch.randn(25, 6, generator=g, dtype=torch.float64)
    model = linear_model(weight, bias)
    y = torch.randint(0, 4, (25,), generator=g)  # some examples misclassified
    exact, _ = closed_form(weight, bias, x, y, q)
    wrong = exact < 0
    assert wrong.any() and (~wrong).any()  # precondition: both kinds present
    model.train()
    first, true, stats = input_margin_agreement(model, x, y, norm=norm, clip_min=-5.0, clip_max=6.0)
    assert model.training  # mode restored
    torch.testing.assert_close(first.double(), exact, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(true[~wrong], exact[~wrong], rtol=1e-6, atol=1e-9)
    assert (true[wrong] == 0).all()
    assert stats["count"] == int((~wrong).sum())
    assert stats["spearman"] == pytest.approx(1.0)
    assert stats["median_ratio"] == pytest.approx(1.0, rel=1e-5)
    assert stats["median_true"] == pytest.approx(float(exact[~wrong].median()), rel=1e-6)
    assert stats["median_first_order"] == pytest.approx(stats["median_true"], rel=1e-5)
    assert not math.isnan(stats["within_2x"])
    assert stats["not_found"] == 0 and stats["not_found_share"] == 0.0


def test_not_found_examples_are_counted_and_candidates_passed_through():
    model = Staircase()  # zero input gradient: DeepFool finds nothing
    x, y = torch.full((2, 2), 0.2), torch.tensor([0, 0])
    _, true, stats = input_margin_agreement(model, x, y, norm=2)
    assert true.isnan().all() and stats["not_found"] == 2 and stats["not_found_share"] == 1.0
    assert stats["count"] == 0 and math.isnan(stats["median_true"])
    candidate = torch.tensor([[1.0, 1.0], [0.2, 0.2]])  # flips the first example only
    _, true, stats = input_margin_agreement(model, x, y, norm=2, adversarial=candidate)
    # the flip starts where both coordinates reach 0.75, at (0.55, 0.55) from x
    assert true[0].item() == pytest.approx(0.55 * math.sqrt(2), rel=1e-6) and true[1].isnan()
    assert stats["count"] == 1 and stats["not_found"] == 1 and stats["not_found_share"] == 0.5
