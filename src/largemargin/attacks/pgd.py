"""Projected gradient descent on a loss (Madry et al., 2018), l-inf and l2, with a uniform
random start in the eps-ball and optional restarts keeping each example's worst case.

Conventions: ``x`` is a floating batch (N, ...) in [clip_min, clip_max], ``y`` the true
labels (N,) as integer class indices, ``model(x)`` returns logits (N, K). ``eps`` and
``step_size`` are in input units (those of clip_min/clip_max), measured in the l-inf norm
(``norm="inf"``) or the l2 norm of the whole example (``norm=2``). The model runs in eval
mode (every submodule's previous mode is restored afterwards, even on exception); gradients
are taken w.r.t. the input only, so parameters' ``.grad`` stay untouched. The loss ascended
is ``"ce"`` (cross-entropy), ``"margin"`` (Carlini-Wagner logit margin) or ``"dlr"``
(AutoAttack's difference-of-logits ratio); see ``_model``.
"""

from __future__ import annotations

import torch
from torch import nn

from largemargin.torch_utils import eval_mode, per_example

from ._ascent import ascend
from ._model import loss_and_error, loss_gradient
from ._validate import (
    check_attack_loss,
    check_batch,
    check_eps,
    check_norm,
    check_positive_int,
    check_step_size,
)


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    steps: int = 20,
    step_size: float | None = None,
    norm: str | float = "inf",
    restarts: int = 1,
    generator: torch.Generator | None = None,
    clip_min: float = 0.0,
    clip_max: float = 1.0,
    loss: str = "ce",
) -> torch.Tensor:
    """PGD: from a random point of the eps-ball, ``steps`` projected steepest-ascent steps
    on ``loss``.

    Each run starts at ``clip(x + delta)`` with delta uniform in the ``norm`` ball of radius
    ``eps`` (drawn from ``generator``, default: torch's global RNG), then takes ``steps``
    steps of length ``step_size`` (l-inf: along the gradient's sign; l2: along the gradient
    scaled to unit l2 norm), each followed by projection onto the ball (l-inf: clamp;
    l2: rescale) and onto [clip_min, clip_max]. The default ``step_size`` is the usual
    ``2.5 * eps / steps``: the path may travel 2.5 eps in all, more than the ball's diameter,
    so it can reach any point of the ball from any start. With ``restarts`` > 1 each example
    keeps the run that misclassifies it, and among equals the one with the highest ``loss``.

    Returns a new detached tensor (N, ...) in the ball and in [clip_min, clip_max];
    ``eps=0`` returns a copy of ``x`` and draws nothing from the RNG.
    """
    norm = check_norm(norm)
    eps = check_eps(eps)
    steps = check_positive_int("steps", steps)
    restarts = check_positive_int("restarts", restarts)
    loss = check_attack_loss(loss)
    if step_size is not None:
        step_size = check_step_size(step_size)
    y = check_batch(x, y, clip_min, clip_max)
    if eps == 0:
        return x.detach().clone()
    step_size = 2.5 * eps / steps if step_size is None else step_size

    def run() -> torch.Tensor:
        return ascend(
            lambda v: loss_gradient(model, v, y, loss),
            x,
            eps,
            steps=steps,
            step_size=step_size,
            norm=norm,
            generator=generator,
            clip_min=clip_min,
            clip_max=clip_max,
        )

    with eval_mode(model):
        best = run()
        if restarts > 1:
            best_loss, best_wrong = loss_and_error(model, best, y, loss)
            for _ in range(restarts - 1):
                x_adv = run()
                value, wrong = loss_and_error(model, x_adv, y, loss)
                better = (wrong & ~best_wrong) | ((wrong == best_wrong) & (value > best_loss))
                best = torch.where(per_example(better, x_adv), x_adv, best)
                best_loss = torch.where(better, value, best_loss)
                best_wrong = best_wrong | wrong
    return best
