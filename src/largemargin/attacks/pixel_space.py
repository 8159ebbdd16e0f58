"""Attacking in pixel space: a model trained on normalised inputs ``(x - mean) / std`` is
wrapped so that it takes pixels in [0, 1], and its inputs are mapped back to pixels, so that
eps is in pixel units (a share of the full intensity range) for every dataset.

``mean`` and ``std`` are per-channel sequences of length C (as ``DatasetBundle.mean`` /
``.std``); images are (N, C, H, W).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def _per_channel(name: str, values: Sequence[float], positive: bool) -> torch.Tensor:
    """``values`` as a float32 tensor (1, C, 1, 1), checked finite (and > 0 if ``positive``)."""
    t = torch.as_tensor(values, dtype=torch.float32).flatten()
    if t.numel() == 0 or not torch.isfinite(t).all() or (positive and not (t > 0).all()):
        raise ValueError(
            f"{name} must be a non-empty sequence of finite numbers"
            + (" > 0" if positive else "")
            + f" (one per channel), got {values!r}"
        )
    return t.view(1, -1, 1, 1)


class Normalize(nn.Module):
    """``(x - mean) / std`` channel by channel on images (N, C, H, W); mean and std are
    buffers, so they follow the module's ``.to(device)``."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        mean_t, std_t = _per_channel("mean", mean, False), _per_channel("std", std, True)
        if mean_t.shape != std_t.shape:
            raise ValueError(
                f"mean and std must have one value per channel each, got {len(mean_t.flatten())} "
                f"and {len(std_t.flatten())}"
            )
        self.register_buffer("mean", mean_t)
        self.register_buffer("std", std_t)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)


def pixel_space(model: nn.Module, mean: Sequence[float], std: Sequence[float]) -> nn.Sequential:
    """``nn.Sequential(Normalize(mean, std), model)``: ``model`` taking pixels in [0, 1]."""
    return nn.Sequential(Normalize(mean, std), model)


def to_pixels(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Undo the normalisation of images ``x`` (N, C, H, W): ``x * std + mean``, clamped to
    [0, 1] to remove float round-off (inputs normalised from [0, 1] images land there)."""
    mean_t, std_t = _per_channel("mean", mean, False), _per_channel("std", std, True)
    if x.dim() != 4 or x.shape[1] != mean_t.shape[1] or mean_t.shape != std_t.shape:
        raise ValueError(
            f"x must be images (N, C, H, W) with C = len(mean) = len(std), got x of shape "
            f"{tuple(x.shape)}, {mean_t.numel()} means and {std_t.numel()} stds"
        )
    return (x * std_t.to(x) + mean_t.to(x)).clamp(0.0, 1.0)
