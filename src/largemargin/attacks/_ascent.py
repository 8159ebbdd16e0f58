"""The projected steepest-ascent loop that FGSM, iterative FGSM and PGD share."""

from __future__ import annotations

import torch
from torch import nn

from ._geometry import ascent_direction, project
from ._model import loss_gradient


def projected_ascent(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    start: torch.Tensor,
    eps: float,
    *,
    steps: int,
    step_size: float,
    norm: float,
    clip_min: float,
    clip_max: float,
    loss: str = "ce",
) -> torch.Tensor:
    """Ascend ``loss`` (a key of ``_model.LOSSES``) from ``start`` by ``steps`` steps of length
    ``step_size``.

    Each step moves every example by ``step_size`` (input units, measured in ``norm``) along
    its steepest-ascent direction, then projects back onto the ``norm`` ball of radius ``eps``
    around the clean ``x`` and onto [clip_min, clip_max]. Since ``x`` lies in that range, the
    result lies in both sets. ``x``, ``start``: (N, ...); ``y``: (N,) int64. The model is
    used as it is: the caller sets its mode. Returns a detached tensor shaped like ``x``.
    """
    x, x_adv = x.detach(), start.detach()
    for _ in range(steps):
        x_adv = x_adv + step_size * ascent_direction(loss_gradient(model, x_adv, y, loss), norm)
        x_adv = (x + project(x_adv - x, eps, norm)).clamp(clip_min, clip_max)
    return x_adv.detach()
