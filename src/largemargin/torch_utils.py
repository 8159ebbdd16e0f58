"""Small torch helpers shared by the attacks, the margin analysis and the commands."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
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


def batches(
    data: Iterable[Sequence[torch.Tensor]] | tuple[torch.Tensor, torch.Tensor], batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (x, y) batches from a loader of (x, y, ...) batches, or from one (x, y) pair of
    tensors cut into batches of ``batch_size`` (a tuple or list of exactly two tensors is the
    pair; anything else is iterated as a loader)."""
    pair = isinstance(data, (tuple, list)) and len(data) == 2
    if pair and all(isinstance(t, torch.Tensor) for t in data):
        x, y = data
        if len(x) != len(y):
            raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
        yield from zip(x.split(batch_size), y.split(batch_size), strict=True)
    else:
        for batch in data:
            yield batch[0], batch[1]


def per_example(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape per-example ``values`` of shape (N,) to (N, 1, ..., 1) to broadcast on ``like``."""
    return values.view(-1, *([1] * (like.dim() - 1)))


def pick_device(device: str | None) -> torch.device:
    """``device``, or for None "cuda" when a CUDA device is available, else "cpu". A device
    that is not a valid torch device string, or "cuda" on a machine without one, is a ValueError
    naming ``device``."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError) as error:
        expected = "expected a torch device such as 'cpu' or 'cuda'"
        raise ValueError(f"device={device!r}: {expected}") from error
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r}: no CUDA device is available here; use 'cpu'")
    return chosen
