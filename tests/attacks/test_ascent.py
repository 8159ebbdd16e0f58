"""attacks.ascend, the one projected ascent: exact steps on a linear objective, the l2 and l-inf
balls, the box, determinism of the random start and its settings' errors."""

from __future__ import annotations

import pytest
import torch

from largemargin.attacks import ascend


def linear(weight: torch.Tensor):
    """The gradient of sum_i <w, x_i>: w for every example (no model needed)."""
    return lambda x_adv: weight.expand_as(x_adv).clone()


@pytest.fixture
def batch():
    torch.manual_seed(0)
    x = 0.3 + 0.4 * torch.rand(4, 1, 5, 5)  # inside [0.3, 0.7]: eps 0.1 never meets the box
    weight = torch.randn(1, 1, 5, 5)
    return x, weight


def test_linf_steps_reach_the_corner_of_the_ball(batch):
    x, weight = batch
    x_adv = ascend(linear(weight), x, 0.1, steps=4, step_size=0.03, random_start=False)
    torch.testing.assert_close(x_adv, x + 0.1 * weight.sign(), rtol=0, atol=1e-6)


def test_l2_steps_reach_the_ball_along_the_gradient(batch):
    x, weight = batch
    x_adv = ascend(linear(weight), x, 0.2, steps=3, step_size=0.1, norm=2, random_start=False)
    torch.testing.assert_close(x_adv, x + 0.2 * weight / weight.norm(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("norm", ["inf", 2])
def test_a_random_start_stays_in_the_ball_and_the_box(norm):
    torch.manual_seed(1)
    x = torch.rand(16, 3, 4, 4)  # pixels touching 0 and 1: the box binds
    weight = torch.randn(1, 3, 4, 4)
    eps = 0.3 if norm == "inf" else 1.5
    x_adv = ascend(linear(weight), x, eps, steps=5, step_size=eps / 2, norm=norm)
    delta = (x_adv - x).flatten(1)
    size = delta.abs().amax(1) if norm == "inf" else delta.norm(dim=1)
    assert (size <= eps + 1e-5).all() and (size > 0).all()
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    objective = (x_adv * weight).flatten(1).sum(1)
    assert (objective > (x * weight).flatten(1).sum(1)).all()  # it ascended


def test_the_random_start_follows_its_generator(batch):
    x, weight = batch

    def run(seed: int) -> torch.Tensor:
        rng = torch.Generator().manual_seed(seed)
        return ascend(linear(weight * 0), x, 0.1, steps=1, step_size=0.01, generator=rng)

    assert torch.equal(run(3), run(3))
    assert not torch.equal(run(3), run(4))


def test_zero_eps_is_a_copy_and_draws_nothing(batch):
    x, weight = batch
    state = torch.get_rng_state()
    x_adv = ascend(linear(weight), x, 0.0, steps=3, step_size=0.1)
    assert torch.equal(x_adv, x) and x_adv.data_ptr() != x.data_ptr()
    assert torch.equal(torch.get_rng_state(), state)


def test_a_given_start_replaces_the_random_one(batch):
    x, weight = batch
    start = x + 0.05
    x_adv = ascend(linear(weight * 0), x, 0.1, steps=1, step_size=0.01, start=start)
    torch.testing.assert_close(x_adv, start)  # a zero gradient leaves the start where it was
    with pytest.raises(ValueError, match=r"start must have the shape of x \(4, 1, 5, 5\)"):
        ascend(linear(weight), x, 0.1, steps=1, step_size=0.1, start=x[:2])


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        (dict(eps=-0.1, steps=1, step_size=0.1), "eps"),
        (dict(eps=float("nan"), steps=1, step_size=0.1), "eps"),
        (dict(eps=0.1, steps=0, step_size=0.1), "steps"),
        (dict(eps=0.1, steps=1, step_size=0.0), "step_size"),
        (dict(eps=0.1, steps=1, step_size=0.1, norm=3), "norm"),
    ],
)
def test_bad_settings_are_named(batch, settings, fragment):
    x, weight = batch
    eps = settings.pop("eps")
    with pytest.raises(ValueError, match=fragment):
        ascend(linear(weight), x, eps, **settings)


def test_inputs_outside_the_box_are_refused(batch):
    _, weight = batch
    with pytest.raises(ValueError):
        ascend(linear(weight), torch.full((2, 1, 5, 5), 1.5), 0.1, steps=1, step_size=0.1)
