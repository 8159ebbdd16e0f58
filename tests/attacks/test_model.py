"""The attack losses (cross-entropy, Carlini-Wagner margin, DLR): values and input gradients
on linear models against hand computations, in float64."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from largemargin.attacks import fgsm, pgd
from largemargin.attacks._model import LOSSES, loss_and_error, loss_gradient
from tests.attacks.toy import linear_model


def setup(seed: int = 0, n: int = 30, k: int = 5, d: int = 8):
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(k, d, generator=g, dtype=torch.float64)
    bias = torch.randn(k, generator=g, dtype=torch.float64)
    x = torch.rand(n, d, generator=g, dtype=torch.float64)
    y = torch.randint(0, k, (n,), generator=g)
    return linear_model(weight, bias), weight, bias, x, y


def best_other(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Index of the largest logit other than y's, by a loop."""
    out = []
    for row, label in zip(z.tolist(), y.tolist(), strict=True):
        others = [(v, j) for j, v in enumerate(row) if j != label]
        out.append(max(others)[1])
    return torch.tensor(out)


def test_cross_entropy_gradient_is_softmax_minus_onehot_times_w():
    model, weight, bias, x, y = setup()
    z = x @ weight.T + bias
    expected = (z.softmax(dim=1) - F.one_hot(y, 5).double()) @ weight

    torch.testing.assert_close(loss_gradient(model, x, y, "ce"), expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(loss_gradient(model, x, y), expected, rtol=0, atol=1e-12)


def test_margin_is_best_other_minus_true_logit_and_its_gradient_their_weights():
    model, weight, bias, x, y = setup(1)
    z = x @ weight.T + bias
    j = best_other(z, y)
    rows = torch.arange(len(y))

    value, wrong = loss_and_error(model, x, y, "margin")

    torch.testing.assert_close(value, z[rows, j] - z[rows, y], rtol=0, atol=1e-12)
    assert torch.equal(wrong, value > 0)  # positive exactly when misclassified
    assert wrong.any() and (~wrong).any()
    torch.testing.assert_close(
        loss_gradient(model, x, y, "margin"), weight[j] - weight[y], rtol=0, atol=1e-12
    )


def test_dlr_value_and_gradient_by_the_quotient_rule():
    model, weight, bias, x, y = setup(2)
    z = x @ weight.T + bias
    j = best_other(z, y)
    rows = torch.arange(len(y))
    order = z.argsort(dim=1, descending=True)
    p1, p3 = order[:, 0], order[:, 2]
    num = z[rows, j] - z[rows, y]
    den = z[rows, p1] - z[rows, p3] + 1e-12
    d_num = weight[j] - weight[y]
    d_den = weight[p1] - weight[p3]
    expected = d_num / den[:, None] - (num / den**2)[:, None] * d_den

    value, _ = loss_and_error(model, x, y, "dlr")

    torch.testing.assert_close(value, num / den, rtol=0, atol=1e-12)
    torch.testing.assert_close(loss_gradient(model, x, y, "dlr"), expected, rtol=1e-10, atol=1e-10)


def test_margin_and_dlr_keep_their_gradient_where_the_softmax_saturates():
    # Logits in the thousands: float32 softmax is one-hot, the CE gradient exactly 0, while
    # the margin's gradient is the weights' difference and the DLR is scale invariant.
    _, weight, bias, x, y = setup(3)
    big = linear_model((1000 * weight).float(), (1000 * bias).float())
    x32 = x.float()
    z = big(x32).detach()
    y = z.argmax(dim=1)  # correctly classified
    top2 = z.topk(2, dim=1).values
    saturated = top2[:, 0] - top2[:, 1] > 120  # exp(-120) is below float32's smallest number
    assert saturated.sum() > 20

    assert (loss_gradient(big, x32, y, "ce")[saturated] == 0).all()
    assert (loss_gradient(big, x32, y, "margin") != 0).any(dim=1).all()
    small = linear_model(weight.float(), bias.float())
    torch.testing.assert_close(
        LOSSES["dlr"](big(x32), y), LOSSES["dlr"](small(x32), y), rtol=1e-3, atol=1e-5
    )


def test_dlr_needs_three_classes():
    model = linear_model(torch.randn(2, 4), torch.zeros(2))
    x, y = torch.rand(3, 4), torch.tensor([0, 1, 0])
    with pytest.raises(ValueError, match=r"loss='dlr' needs logits for at least 3 classes.*2"):
        pgd(model, x, y, 0.1, loss="dlr")


@pytest.mark.parametrize("loss", ["margin", "dlr"])
def test_fgsm_on_another_loss_follows_that_losss_gradient(loss):
    model, _, _, x, y = setup(4)
    expected = (x + 0.1 * loss_gradient(model, x, y, loss).sign()).clamp(0, 1)
    torch.testing.assert_close(fgsm(model, x, y, 0.1, loss=loss), expected, rtol=0, atol=0)
