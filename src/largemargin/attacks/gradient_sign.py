"""FGSM (Goodfellow et al., 2015) and iterative FGSM, the basic iterative method (Kurakin et
al., 2017), in their l-inf and l2 forms.

Conventions for both attacks: ``x`` is a floating batch (N, ...) in [clip_min, clip_max],
``y`` the true labels (N,) as integer class indices, and ``model(x)`` returns logits (N, K).
The attacks maximise ``loss``: ``"ce"`` (the cross-entropy, the default), ``"margin"`` (the
Carlini-Wagner logit margin ``max_{i != y} z_i - z_y``) or ``"dlr"`` (AutoAttack's
difference-of-logits ratio, K >= 3), with the model in eval mode (every submodule's
previous mode is restored afterwards, even on exception) and gradients taken w.r.t. the input
only, so parameters' ``.grad`` stay untouched. ``eps`` is the radius of the perturbation
ball in input units (the units of clip_min/clip_max), in the l-inf norm (``norm="inf"``) or
the l2 norm of the whole example (``norm=2``). The result is a new detached tensor
(N, ...) in the ball and in [clip_min, clip_max]; ``eps=0`` returns a copy of ``x``.
"""

from __future__ import annotations

import torch
from torch import nn

from largemargin.torch_utils import eval_mode

from ._ascent import ascend
from ._model import loss_gradient
from ._validate import (
    check_attack_loss,
    check_batch,
    check_eps,
    check_norm,
    check_positive_int,
    check_step_size,
)


def fgsm(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    norm: str | float = "inf",
    clip_min: float = 0.0,
    clip_max: float = 1.0,
    loss: str = "ce",
) -> torch.Tensor:
    """One step of size ``eps`` along the steepest-ascent direction of the loss.

    l-inf: ``clip(x + eps * sign(g))``; l2 (the fast gradient method):
    ``clip(x + eps * g / ||g||_2)`` per example, where g is the gradient of the example's
    ``loss`` w.r.t. its input. A zero gradient leaves the example unchanged. It is one
    ``iterative_fgsm`` step of size eps.
    """
    eps = check_eps(eps)
    return iterative_fgsm(
        model,
        x,
        y,
        eps,
        steps=1,
        step_size=eps if eps > 0 else None,
        norm=norm,
        clip_min=clip_min,
        clip_max=clip_max,
        loss=loss,
    )


def iterative_fgsm(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    steps: int = 10,
    step_size: float | None = None,
    norm: str | float = "inf",
    clip_min: float = 0.0,
    clip_max: float = 1.0,
    loss: str = "ce",
) -> torch.Tensor:
    """``steps`` FGSM steps of size ``step_size`` from ``x`` itself (no random start).

    After each step the perturbation is projected onto the eps-ball (l-inf: clamp;
    l2: rescale) and the input onto [clip_min, clip_max]. The default ``step_size`` is
    ``1.25 * eps / steps``, Kurakin et al.'s choice (steps of one grey level for
    ``min(eps + 4, 1.25 * eps)`` iterations, eps in grey levels): the path may travel 1.25 eps
    in all, enough to reach the ball's boundary even when the direction changes on the way.
    """
    norm = check_norm(norm)
    eps = check_eps(eps)
    steps = check_positive_int("steps", steps)
    loss = check_attack_loss(loss)
    if step_size is not None:
        step_size = check_step_size(step_size)
    y = check_batch(x, y, clip_min, clip_max)
    if eps == 0:
        return x.detach().clone()
    with eval_mode(model):
        return ascend(
            lambda v: loss_gradient(model, v, y, loss),
            x,
            eps,
            steps=steps,
            step_size=1.25 * eps / steps if step_size is None else step_size,
            norm=norm,
            random_start=False,
            clip_min=clip_min,
            clip_max=clip_max,
        )
