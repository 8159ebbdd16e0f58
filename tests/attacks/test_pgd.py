"""PGD and iterative FGSM: the eps-ball and input range, exact flips on a linear model,
restarts and the random start."""

from __future__ import annotations

import math

import pytest
import torch

from largemargin.attacks import iterative_fgsm, pgd
from largemargin.attacks._geometry import random_in_ball
from largemargin.attacks._model import LOSSES
from tests.attacks.toy import exact_distances, linear_model, mlp

ATTACKS = {
    "pgd": lambda *a, **k: pgd(*a, generator=torch.Generator().manual_seed(0), **k),
    "pgd-margin": lambda *a, **k: pgd(
        *a, generator=torch.Generator().manual_seed(0), loss="margin", **k
    ),
    "iterative_fgsm": iterative_fgsm,
}


def norms(delta: torch.Tensor, norm: str) -> torch.Tensor:
    return delta.flatten(1).norm(p=math.inf if norm == "inf" else 2, dim=1)


@pytest.mark.parametrize("clip", [(0.0, 1.0), (-1.0, 0.5)])
@pytest.mark.parametrize(("norm", "eps"), [("inf", 0.3), ("2", 1.5)])
@pytest.mark.parametrize("name", ATTACKS)
def test_stays_in_the_eps_ball_and_the_input_range(name, norm, eps, clip):
    clip_min, clip_max = clip
    g = torch.Generator().manual_seed(0)
    x = clip_min + (clip_max - clip_min) * torch.rand(64, 1, 3, 3, generator=g)
    x[:8] = clip_min
    x[8:16] = clip_max
    y = torch.randint(0, 4, (64,), generator=g)

    x_adv = ATTACKS[name](
        mlp(9, 4), x, y, eps, steps=5, norm=norm, clip_min=clip_min, clip_max=clip_max
    )

    dist = norms(x_adv - x, norm)
    assert (dist <= eps * (1 + 1e-5)).all()
    assert (dist >= 0.5 * eps).float().mean() > 0.9  # the attack did move
    assert x_adv.min() >= clip_min and x_adv.max() <= clip_max
    assert (x_adv == clip_min).any() and (x_adv == clip_max).any()


@pytest.mark.parametrize(("norm", "dual"), [("inf", 1), ("2", 2)])
@pytest.mark.parametrize("name", ATTACKS)
def test_flips_exactly_the_examples_closer_than_eps_on_a_linear_model(name, norm, dual):
    # Two classes, logits (0, w.x + b): the exact distance to the boundary is
    # |w.x + b| / ||w||_dual. Inputs stay 0.3 away from the range's edges, farther than any
    # eps here, so clipping never bars the shortest path.
    g = torch.Generator().manual_seed(0)
    w = torch.randn(32, generator=g, dtype=torch.float64)
    x = 0.3 + 0.4 * torch.rand(400, 32, generator=g, dtype=torch.float64)
    weight = torch.stack([torch.zeros_like(w), w])
    bias = torch.tensor([0.0, -(x @ w).median().item()], dtype=torch.float64)
    model = linear_model(weight, bias)
    y, dist = exact_distances(weight, bias, x, dual)
    eps = dist.median().item()
    assert eps < 0.3

    flipped = model(ATTACKS[name](model, x, y, eps, norm=norm)).argmax(dim=1) != y

    # PGD-l2 converges to the ball's best point only up to ~2% of eps in 20 steps from a
    # random start (the rescaling projection turns the iterate towards w geometrically).
    band = 0.05
    below, above = dist < (1 - band) * eps, dist > (1 + band) * eps
    assert below.sum() > 150 and above.sum() > 150
    assert flipped[below].all()
    assert not flipped[above].any()


@pytest.mark.parametrize("loss", ["ce", "margin", "dlr"])
def test_restarts_keep_each_examples_worst_case_by_the_chosen_loss(loss):
    model = mlp(6, 4, seed=1)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(200, 6, generator=g), torch.randint(0, 4, (200,), generator=g)
    kwargs = {"steps": 1, "step_size": 0.05, "norm": "inf", "loss": loss}

    generator = torch.Generator().manual_seed(7)
    runs = torch.stack([pgd(model, x, y, 0.3, generator=generator, **kwargs) for _ in range(3)])
    best = pgd(model, x, y, 0.3, restarts=3, generator=torch.Generator().manual_seed(7), **kwargs)

    with torch.no_grad():
        run_loss = torch.stack([LOSSES[loss](model(r), y) for r in runs])
        run_wrong = torch.stack([model(r).argmax(dim=1) != y for r in runs])
        best_loss = LOSSES[loss](model(best), y)
        best_wrong = model(best).argmax(dim=1) != y
    # The restarts' random starts are the single runs' (same generator, same draws) ...
    assert ((runs == best).flatten(2).all(dim=2)).any(dim=0).all()
    assert not (runs[0] == best).all()
    # ... and each example keeps a misclassifying run if any, else its highest loss.
    assert torch.equal(best_wrong, run_wrong.any(dim=0))
    same_status = run_wrong == best_wrong
    assert (best_loss >= run_loss.where(same_status, -torch.inf).amax(dim=0)).all()


def test_the_generator_makes_pgd_reproducible():
    model, x, y = mlp(6, 3), torch.rand(20, 6), torch.randint(0, 3, (20,))

    def run(seed):
        return pgd(model, x, y, 0.2, steps=2, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(run(0), run(0))
    assert not torch.equal(run(0), run(1))


def test_random_start_is_uniform_in_the_ball():
    like = torch.zeros(20000, 2, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)

    box = random_in_ball(like, 0.5, math.inf, g)
    assert box.abs().max() <= 0.5
    # uniform on [-eps, eps]: a quarter of the entries beyond eps / 2 on each side
    assert abs((box > 0.25).double().mean().item() - 0.25) < 0.01
    assert abs((box < -0.25).double().mean().item() - 0.25) < 0.01

    disc = random_in_ball(like, 0.5, 2.0, g)
    radius = disc.norm(dim=1)
    assert radius.max() <= 0.5
    # uniform in a disc of radius eps: P(r < eps / 2) = 1/4, and no preferred direction
    assert abs((radius < 0.25).double().mean().item() - 0.25) < 0.01
    assert disc.mean(dim=0).abs().max() < 0.01
