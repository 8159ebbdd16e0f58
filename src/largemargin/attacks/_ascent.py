"""Projected steepest ascent: the one loop that FGSM, iterative FGSM, PGD and adversarial
training share, on any objective whose input gradient the caller supplies."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ._geometry import ascent_direction, project, random_in_ball
from ._validate import check_batch_range, check_eps, check_norm, check_positive_int, check_step_size

#: ``gradient(x_adv)``: the gradient of the objective being ascended w.r.t. ``x_adv`` (N, ...),
#: row i that of example i's own term; it must not accumulate into parameters' ``.grad``.
Gradient = Callable[[torch.Tensor], torch.Tensor]


def projected_ascent(
    x: torch.Tensor,
    start: torch.Tensor,
    eps: float,
    gradient: Gradient,
    *,
    steps: int,
    step_size: float,
    norm: float,
    clip_min: float,
    clip_max: float,
) -> torch.Tensor:
    """Ascend the objective of ``gradient`` from ``start`` by ``steps`` steps of length
    ``step_size``.

    Each step moves every example by ``step_size`` (input units, measured in ``norm``) along
    its steepest-ascent direction, then projects back onto the ``norm`` ball of radius ``eps``
    around the clean ``x`` and onto [clip_min, clip_max]. Since ``x`` lies in that range, the
    result lies in both sets. ``x``, ``start``: (N, ...). The caller sets the model's mode.
    Returns a detached tensor shaped like ``x``.
    """
    x, x_adv = x.detach(), start.detach()
    for _ in range(steps):
        x_adv = x_adv + step_size * ascent_direction(gradient(x_adv), norm)
        x_adv = (x + project(x_adv - x, eps, norm)).clamp(clip_min, clip_max)
    return x_adv.detach()


def ascend(
    gradient: Gradient,
    x: torch.Tensor,
    eps: float,
    *,
    steps: int,
    step_size: float,
    norm: str | float = "inf",
    random_start: bool = True,
    start: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    clip_min: float = 0.0,
    clip_max: float = 1.0,
) -> torch.Tensor:
    """Perturb ``x`` to increase any objective, given its input gradient: what adversarial
    training needs for the cross-entropy, a run's own loss, or TRADES's divergence.

    From ``clip(x + delta)`` with delta uniform in the ``norm`` ball of radius ``eps`` (drawn
    from ``generator``, default torch's global RNG; ``random_start=False``: from ``x``), takes
    ``steps`` projected steepest-ascent steps of length ``step_size`` (l-inf: the gradient's
    sign; l2: the gradient scaled to unit l2 norm), each projected onto the ball and onto
    [clip_min, clip_max]. ``start`` (shaped like ``x``), when given, is the starting point
    instead (TRADES starts at x + 0.001 N(0, 1)); ``random_start`` is then ignored. One step
    of 1.25 eps from a random start is fast adversarial training's FGSM (Wong et al., 2020);
    k steps of about 2.5 eps / k, PGD (Madry et al.).

    ``x``: a floating batch (N, ...) in [clip_min, clip_max]; ``eps``, ``step_size`` in input
    units; ``gradient(x_adv)`` returns the objective's gradient w.r.t. ``x_adv`` (shape of
    ``x``; see ``Gradient``). Returns a new detached tensor; ``eps=0`` returns a copy of ``x``
    and draws nothing. The settings are always checked, the range of ``x`` on the CPU only
    (on a GPU that check would wait for the device at every training step).
    """
    norm = check_norm(norm)
    eps = check_eps(eps)
    steps = check_positive_int("steps", steps)
    step_size = check_step_size(step_size)
    if x.device.type == "cpu":
        check_batch_range(x, clip_min, clip_max)
    if eps == 0:
        return x.detach().clone()
    if start is None:
        start = x
        if random_start:
            start = (x + random_in_ball(x, eps, norm, generator)).clamp(clip_min, clip_max)
    elif start.shape != x.shape:
        raise ValueError(
            f"start must have the shape of x {tuple(x.shape)}, got {tuple(start.shape)}"
        )
    return projected_ascent(
        x,
        start,
        eps,
        gradient,
        steps=steps,
        step_size=step_size,
        norm=norm,
        clip_min=clip_min,
        clip_max=clip_max,
    )
