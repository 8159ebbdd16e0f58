"""FGSM and iterative FGSM against perturbations computed by hand, in float64."""

from __future__ import annotations

import pytest
import torch

from largemargin.attacks import fgsm, iterative_fgsm, pgd
from tests.attacks.toy import linear_model


def unit(v: torch.Tensor, norm: str) -> torch.Tensor:
    """The steepest-ascent direction of unit norm for the linear gain v . delta, per row."""
    return v.sign() if norm == "inf" else v / v.norm(dim=1, keepdim=True)


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_fgsm_on_binary_linear_model_moves_along_w_wrong_minus_w_true(norm):
    g = torch.Generator().manual_seed(0)
    weight, bias = torch.randn(2, 6, generator=g, dtype=torch.float64), torch.zeros(2).double()
    x = torch.rand(40, 6, generator=g, dtype=torch.float64)
    x[:5] = 0.0  # on the range's edges, where clipping must act
    x[5:10] = 1.0
    y = torch.randint(0, 2, (40,), generator=g)
    eps = 0.3
    # d CE / dx = p_wrong * (w_wrong - w_true), so the direction depends on w only.
    expected = (x + eps * unit(weight[1 - y] - weight[y], norm)).clamp(0.0, 1.0)

    x_adv = fgsm(linear_model(weight, bias), x, y, eps, norm=norm)

    torch.testing.assert_close(x_adv, expected, rtol=0, atol=1e-12)
    assert (x_adv != x).any(dim=1).all()


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_fgsm_on_multiclass_linear_model_follows_the_softmax_gradient(norm):
    g = torch.Generator().manual_seed(1)
    weight = torch.randn(5, 8, generator=g, dtype=torch.float64)
    bias = torch.randn(5, generator=g, dtype=torch.float64)
    x = torch.rand(30, 8, generator=g, dtype=torch.float64)
    y = torch.randint(0, 5, (30,), generator=g)
    eps = 0.2
    # d CE / dx = (softmax(W x + b) - onehot(y)) @ W
    grad = ((x @ weight.T + bias).softmax(dim=1) - torch.eye(5).double()[y]) @ weight
    expected = (x + eps * unit(grad, norm)).clamp(0.0, 1.0)

    x_adv = fgsm(linear_model(weight, bias), x, y, eps, norm=norm)

    torch.testing.assert_close(x_adv, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_iterative_fgsm_on_linear_model_reaches_the_ball_in_the_gain_direction(norm):
    # A constant gradient direction: every step goes the same way, and the default step
    # size travels 1.25 eps, so the iterate ends on the ball's surface along that direction.
    g = torch.Generator().manual_seed(2)
    weight, bias = torch.randn(2, 6, generator=g, dtype=torch.float64), torch.zeros(2).double()
    x = 0.3 + 0.4 * torch.rand(20, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 2, (20,), generator=g)
    eps = 0.1
    expected = x + eps * unit(weight[1 - y] - weight[y], norm)

    x_adv = iterative_fgsm(linear_model(weight, bias), x, y, eps, steps=7, norm=norm)

    torch.testing.assert_close(x_adv, expected, rtol=0, atol=1e-12)


def test_iterative_fgsm_with_one_step_of_eps_is_fgsm():
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3))
    x, y = torch.rand(16, 5), torch.randint(0, 3, (16,))
    for norm in ("inf", "2"):
        torch.testing.assert_close(
            iterative_fgsm(model, x, y, 0.2, steps=1, step_size=0.2, norm=norm),
            fgsm(model, x, y, 0.2, norm=norm),
            rtol=0,
            atol=0,
        )


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_zero_gradient_leaves_the_input_unchanged_without_nan(norm):
    model = linear_model(torch.zeros(3, 4), torch.tensor([0.0, 50.0, 0.0]))
    x = torch.rand(8, 4)
    y = torch.ones(8, dtype=torch.long)  # softmax saturates at class 1: the gradient is 0
    for x_adv in (fgsm(model, x, y, 0.1, norm=norm), iterative_fgsm(model, x, y, 0.1, norm=norm)):
        torch.testing.assert_close(x_adv, x, rtol=0, atol=0)


def test_l2_steps_have_their_length_even_when_the_gradient_squared_underflows():
    # Gradients of order 1e-30 in float32: their squares underflow to 0, so a plain
    # g / max(||g||, floor) would not move, or move by the wrong length; each step must
    # still have l2 length step_size (here on a linear model, all along one direction).
    g = torch.Generator().manual_seed(3)
    model = linear_model(1e-30 * torch.randn(3, 10, generator=g), torch.zeros(3))
    x = torch.full((4, 10), 0.5)
    y = torch.tensor([0, 1, 2, 0])

    one_step = fgsm(model, x, y, 0.1, norm=2) - x
    two_short_steps = iterative_fgsm(model, x, y, 0.1, steps=2, step_size=0.025, norm=2) - x

    torch.testing.assert_close(one_step.norm(dim=1), torch.full((4,), 0.1), rtol=1e-5, atol=0)
    torch.testing.assert_close(
        two_short_steps.norm(dim=1), torch.full((4,), 0.05), rtol=1e-5, atol=0
    )


def test_eps_zero_returns_an_equal_copy_and_draws_no_random_numbers():
    model = torch.nn.Linear(4, 3)
    x, y = torch.rand(5, 4), torch.randint(0, 3, (5,))
    generator = torch.Generator().manual_seed(0)
    state = generator.get_state()
    for x_adv in (
        fgsm(model, x, y, 0.0),
        iterative_fgsm(model, x, y, 0.0, norm=2),
        pgd(model, x, y, 0, restarts=3, generator=generator),
    ):
        assert torch.equal(x_adv, x)
        assert x_adv.data_ptr() != x.data_ptr()
    assert torch.equal(generator.get_state(), state)
