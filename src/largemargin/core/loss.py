"""The large margin loss of Elsayed et al. (NeurIPS 2018), functional form and module."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from largemargin.core.distances import distances
from largemargin.core.options import OPTION_NAMES, MarginOptions, resolve


def hinge(dist: torch.Tensor, options: MarginOptions) -> torch.Tensor:
    """Per-example loss (B,) from distances (B, L, k): max(0, min(gamma_l - d, alpha*gamma_l)).

    "min" aggregation keeps the closest competitor, "sum" sums the k terms; layers are averaged.
    """
    # filled on the device from Python floats: a tensor copied from the host would be a sync
    gamma = torch.stack([dist.new_full((), g) for g in options.gammas(dist.shape[1])])
    gamma = gamma[None, :, None]
    if options.aggregation == "min":
        dist = dist.amin(dim=2, keepdim=True)
    terms = torch.minimum(torch.clamp(gamma - dist, min=0), options.alpha * gamma)
    return terms.sum(dim=2).mean(dim=1)


def reduce(per_example: torch.Tensor, reduction: str) -> torch.Tensor:
    """Apply PyTorch's ``reduction=`` semantics to a (B,) loss."""
    if reduction == "mean":
        return per_example.mean()
    if reduction == "sum":
        return per_example.sum()
    return per_example


def large_margin_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    layers: Sequence[torch.Tensor],
    options: MarginOptions | None = None,
    *,
    return_distances: bool = False,
    **fields: Any,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Large margin loss: push every example ``gamma`` away from the boundary at each layer.

    Args:
        logits: (B, C) class scores.
        target: (B,) int64 true labels in [0, C).
        layers: L tensors with batch size B that ``logits`` depend on: the input (with
            ``requires_grad``), hidden activations, or the logits. See ``forward_with_layers``
            to collect them from an unmodified model.
        options: a ``MarginOptions``; or None, and its fields as keywords (``gamma=100.0,
            norm="inf"``, ...: every option, its default and its meaning are those of
            ``MarginOptions``). Passing both raises TypeError.
        return_distances: also return the distances the loss was computed from.

    Returns:
        The non-negative hinge max(0, min(gamma - d, alpha * gamma)), summed over the kept
        competitors, averaged over layers, reduced over the batch; 0 when every example is
        beyond the margin. The reference code returns this minus gamma per term; gradients
        are identical. With ``return_distances``: ``(loss, distances)``, the signed
        distances d of shape (B, L, k) with their graph (as ``margin_distances`` computes
        them, competitors sorted by decreasing score; detach them to log).
    """
    options = resolve(options, fields, caller="large_margin_loss")
    dist = distances(logits, target, layers, options, create_graph=True)
    loss = reduce(hinge(dist, options), options.reduction)
    return (loss, dist) if return_distances else loss


class LargeMarginLoss(nn.Module):
    """Module form of :func:`large_margin_loss`: holds its ``MarginOptions``.

    ``LargeMarginLoss(options)`` or ``LargeMarginLoss(gamma=100.0, ...)`` (not both);
    ``criterion(logits, target, layers)`` returns the loss, and
    ``criterion(logits, target, layers, return_distances=True)`` returns ``(loss, distances)``.
    """

    def __init__(self, options: MarginOptions | None = None, **fields: Any) -> None:
        super().__init__()
        self.options = resolve(options, fields, caller="LargeMarginLoss")

    def forward(
        self,
        logits: torch.Tensor,
        target: torch.Tensor,
        layers: Sequence[torch.Tensor],
        return_distances: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        return large_margin_loss(
            logits, target, layers, self.options, return_distances=return_distances
        )

    def extra_repr(self) -> str:
        return ", ".join(f"{name}={getattr(self.options, name)!r}" for name in OPTION_NAMES)
