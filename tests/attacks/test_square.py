"""The Square attack: flips on a linear model whose boundary distances are exact, the eps-ball
and the input range, the query budget, early stopping, determinism and the p schedule."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from largemargin.attacks import square
from largemargin.attacks.square import square_p
from tests.attacks.toy import exact_distances, linear_model, mlp


def linear_problem(n: int = 64, seed: int = 0):
    """Four classes, logits W x + b on 6 x 6 images, labels the model's own predictions."""
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(4, 36, generator=g)
    bias = -0.5 * weight.sum(dim=1)
    x = 0.35 + 0.3 * torch.rand(n, 1, 6, 6, generator=g)
    return nn.Sequential(nn.Flatten(), linear_model(weight, bias)), weight, bias, x


@pytest.mark.parametrize(("norm", "dual", "found"), [("inf", 1, 0.95), ("2", 2, 0.5)])
def test_flips_only_reachable_examples_and_most_of_them_on_a_linear_model(norm, dual, found):
    model, weight, bias, x = linear_problem()
    y, dist = exact_distances(weight, bias, x, dual)
    eps = dist.median().item()

    x_adv = square(
        model, x, y, eps, norm=norm, n_queries=300, generator=torch.Generator().manual_seed(0)
    )

    flipped = model(x_adv).argmax(dim=1) != y
    reachable = dist <= eps * (1 + 1e-4)
    assert not flipped[~reachable].any()
    # l-inf Square finds nearly every reachable example in 300 queries; l2 Square is the
    # slower search (in the paper too), still more than half of them
    assert flipped[reachable].float().mean() >= found


def norms(delta: torch.Tensor, norm: str) -> torch.Tensor:
    return delta.flatten(1).norm(p=math.inf if norm == "inf" else 2, dim=1)


@pytest.mark.parametrize("shape", [(40, 2, 5, 7), (40, 9)], ids=["images", "vectors"])
@pytest.mark.parametrize("clip", [(0.0, 1.0), (-1.0, 0.5)])
@pytest.mark.parametrize(("norm", "eps"), [("inf", 0.3), ("2", 1.5)])
def test_stays_in_the_eps_ball_and_the_input_range(norm, eps, clip, shape):
    clip_min, clip_max = clip
    g = torch.Generator().manual_seed(0)
    x = clip_min + (clip_max - clip_min) * torch.rand(shape, generator=g)
    x[:5] = clip_min
    x[5:10] = clip_max
    model = mlp(math.prod(shape[1:]), 3)
    y = model(x).argmax(dim=1)

    x_adv = square(
        model, x, y, eps, norm=norm, n_queries=30, clip_min=clip_min, clip_max=clip_max, generator=g
    )

    assert x_adv.shape == x.shape
    assert (norms(x_adv - x, norm) <= eps * (1 + 1e-5)).all()
    assert x_adv.min() >= clip_min and x_adv.max() <= clip_max
    assert (x_adv != x).flatten(1).any(dim=1).all()  # every example moved


def test_the_generator_makes_it_reproducible():
    model, _, _, x = linear_problem(20)
    y = model(x).argmax(dim=1)

    def run(seed):
        return square(
            model, x, y, 0.05, n_queries=40, generator=torch.Generator().manual_seed(seed)
        )

    assert torch.equal(run(3), run(3))
    assert not torch.equal(run(3), run(4))


class Counter(nn.Module):
    """Counts the examples it is queried on."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner, self.rows = inner, 0

    def forward(self, x):
        self.rows += x.shape[0]
        return self.inner(x)


def test_query_budget_and_early_stopping():
    model, weight, bias, x = linear_problem(30)
    y, dist = exact_distances(weight, bias, x, 1)
    y[:3] = (y[:3] + 1) % 4  # misclassified before any attack: returned unchanged
    counted = Counter(model)

    x_adv = square(counted, x, y, 0.01, n_queries=50, generator=torch.Generator().manual_seed(0))
    # clean predictions, then at most 50 queries for each of the 27 others
    assert counted.rows <= 30 + 27 * 50
    assert torch.equal(x_adv[:3], x[:3])

    counted.rows = 0
    square(
        counted,
        x,
        y,
        2 * dist.max().item(),
        n_queries=50,
        generator=torch.Generator().manual_seed(0),
    )
    assert counted.rows < 30 + 27 * 15  # broken within a few queries each, then left alone


def test_p_schedule_halves_at_the_papers_iterations_rescaled():
    assert square_p(10, 10000, 0.8) == 0.8
    assert square_p(11, 10000, 0.8) == 0.4
    assert square_p(51, 10000, 0.8) == 0.2
    assert square_p(8001, 10000, 0.8) == 0.8 / 512
    # 1000 queries: the same schedule ten times faster
    assert square_p(1, 1000, 0.8) == 0.8
    assert square_p(2, 1000, 0.8) == 0.4
    assert square_p(801, 1000, 0.8) == 0.8 / 512


def test_eps_zero_returns_a_copy_and_draws_nothing():
    model, _, _, x = linear_problem(5)
    y = model(x).argmax(dim=1)
    generator = torch.Generator().manual_seed(0)
    state = generator.get_state()
    x_adv = square(model, x, y, 0.0, generator=generator)
    assert torch.equal(x_adv, x) and x_adv.data_ptr() != x.data_ptr()
    assert torch.equal(generator.get_state(), state)


def test_breaks_a_model_without_gradients():
    # A step function of the input: its gradient is 0 everywhere, Square needs none.
    model, _, _, x = linear_problem(40)
    stepped = nn.Sequential(Floor(), model)
    y = stepped(x).argmax(dim=1)

    x_adv = square(stepped, x, y, 0.15, n_queries=200, generator=torch.Generator().manual_seed(0))

    assert (stepped(x_adv).argmax(dim=1) == y).float().mean() < 0.3


class Floor(nn.Module):
    """Quantises the input to quarters: zero gradient everywhere."""

    def forward(self, x):
        return torch.floor(x * 4) / 4
