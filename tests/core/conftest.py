"""A small batch through a two-layer MLP, shared by the core's tests."""

from __future__ import annotations

import torch
from torch import nn

import largemargin as lm


def mlp_batch(classes: int, seed: int):
    """(model, logits (6, classes), labels (6,), layers [input (6, 4), hidden (6, 8)]) of a
    Linear-Tanh-Linear network on 6 Gaussian inputs, seeded."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, classes))
    x = torch.randn(6, 4)
    y = torch.randint(0, classes, (6,))
    logits, layers = lm.forward_with_layers(model, x, ["input", "1"])
    return model, logits, y, layers
