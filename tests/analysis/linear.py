"""Linear models (logits = W x + b) whose margins are known in closed form, and a quantised
one whose input gradient is zero."""

from __future__ import annotations

import torch
from torch import nn

from tests.attacks.toy import linear_model

__all__ = ["Staircase", "closed_form", "linear_model", "nearest_boundary_point"]


class Staircase(nn.Module):
    """Two classes on 2-D inputs: z1 - z0 = q(x1) + q(x2) - 1.4 with q(x) = floor(4 x) / 4, so
    class 1 once both coordinates reach 0.75. Piecewise constant: the input gradient is
    exactly zero everywhere (``detach``: the input has no gradient path at all)."""

    def __init__(self, detach: bool = False) -> None:
        super().__init__()
        self.linear = linear_model(torch.tensor([[0.0, 0.0], [1.0, 1.0]]), torch.tensor([0, -1.4]))
        self.detach = detach

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps = torch.floor(x * 4) / 4
        return self.linear(steps.detach() if self.detach else steps)


def closed_form(
    weight: torch.Tensor, bias: torch.Tensor, x: torch.Tensor, y: torch.Tensor, q: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Signed distance to the nearest boundary and the nearest class, for each example.

    Class y meets class j on the hyperplane (w_y - w_j) . x + b_y - b_j = 0, at signed lp
    distance (z_y - z_j) / ||w_y - w_j||_q (q dual to p); the region of y is the intersection
    of these half-spaces, so its margin is the minimum over j != y.
    """
    logits = x @ weight.T + bias
    gaps = logits.gather(1, y[:, None]) - logits  # (N, C)
    diffs = weight[y][:, None, :] - weight[None, :, :]  # (N, C, D)
    dist = gaps / torch.linalg.vector_norm(diffs, ord=q, dim=2)
    dist[torch.arange(len(y)), y] = torch.inf
    return dist.min(dim=1)


def nearest_boundary_point(
    weight: torch.Tensor, bias: torch.Tensor, x: torch.Tensor, y: torch.Tensor, p: float
) -> torch.Tensor:
    """The closest point of the nearest boundary in l2 (p = 2) or l-inf (p = inf), (N, D)."""
    q = 2.0 if p == 2 else 1.0
    dist, nearest = closed_form(weight, bias, x, y, q)
    w = weight[y] - weight[nearest]  # gap grows along w
    direction = w / torch.linalg.vector_norm(w, dim=1, keepdim=True) if p == 2 else w.sign()
    return x - dist[:, None] * direction
