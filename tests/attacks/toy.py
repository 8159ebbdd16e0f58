"""Small models and data with known geometry for the attack tests."""

from __future__ import annotations

import torch
from torch import nn


def linear_model(weight: torch.Tensor, bias: torch.Tensor) -> nn.Linear:
    """logits = x @ weight.T + bias, in weight's dtype; weight (K, D), bias (K,)."""
    model = nn.Linear(weight.shape[1], weight.shape[0], dtype=weight.dtype)
    with torch.no_grad():
        model.weight.copy_(weight)
        model.bias.copy_(bias)
    return model


def exact_distances(weight: torch.Tensor, bias: torch.Tensor, x: torch.Tensor, dual: float):
    """Labels (argmax of the linear logits) and each example's exact distance to the decision
    boundary, in the norm whose dual is the l``dual`` norm (l-inf: dual 1; l2: dual 2).

    Class y loses to class j on the half-space (w_j - w_y).x + b_j - b_y >= 0, at distance
    (f_y - f_j) / ||w_y - w_j||_dual; the boundary's distance is the minimum over j != y.
    """
    flat = x.flatten(1)
    logits = flat @ weight.T + bias
    y = logits.argmax(dim=1)
    gaps = logits.gather(1, y[:, None]) - logits  # (N, K): f_y - f_j >= 0
    diffs = weight[y][:, None, :] - weight[None, :, :]  # (N, K, D): w_y - w_j
    dist = gaps / torch.linalg.vector_norm(diffs, ord=dual, dim=2)
    dist[torch.arange(len(y)), y] = torch.inf
    return y, dist.amin(dim=1)


def mlp(d_in: int, n_classes: int, *, hidden: int = 32, seed: int = 0) -> nn.Sequential:
    """An untrained two-layer ReLU network on flattened inputs."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, n_classes)
    )
