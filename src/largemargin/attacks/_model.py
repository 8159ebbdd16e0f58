"""The model side of an attack: the cross-entropy loss and its gradient with respect to the
input only (never accumulated into parameters' ``.grad``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def loss_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Gradient of the summed cross-entropy ``sum_i CE(model(x)_i, y_i)`` w.r.t. ``x``.

    ``x`` (N, ...) and ``y`` (N,) int64; ``model(x)`` returns logits (N, K). The result has
    the shape of ``x``; row i is the gradient of example i's own loss. Works under an outer
    ``torch.no_grad()``; parameters' ``.grad`` are left untouched.
    """
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        loss = F.cross_entropy(model(x), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return grad


@torch.no_grad()
def loss_and_error(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example cross-entropy (N,) and misclassification flags (N,) bool of ``model`` on x."""
    logits = model(x)
    return F.cross_entropy(logits, y, reduction="none"), logits.argmax(dim=1) != y
