"""Small torch helpers shared by the attacks and the margin analysis."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put every submodule of ``model`` in eval mode; restore each one's own previous mode
    on exit, even on exception (so a model with, say, frozen batch norm stays that way)."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training


def per_example(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape per-example ``values`` of shape (N,) to (N, 1, ..., 1) to broadcast on ``like``."""
    return values.view(-1, *([1] * (like.dim() - 1)))
