"""The large margin loss of Elsayed et al. (NeurIPS 2018), functional form and module."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from largemargin.core.distances import distances
from largemargin.core.options import MarginOptions


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
    *,
    gamma: float | Sequence[float] = 10000.0,
    alpha: float = 2.0,
    top_k: int = 1,
    norm: float | str = 2,
    epsilon: float = 1e-8,
    second_order: bool = False,
    aggregation: str = "min",
    norm_scale: str | Sequence[float] | None = None,
    score: str = "prob",
    reduction: str = "mean",
    exact_per_example: bool = False,
    check_values: bool | None = None,
) -> torch.Tensor:
    """Large margin loss: push every example ``gamma`` away from the boundary at each layer.

    Args:
        logits: (B, C) class scores.
        target: (B,) int64 true labels in [0, C).
        layers: L tensors with batch size B that ``logits`` depend on: the input (with
            ``requires_grad``), hidden activations, or the logits. See ``forward_with_layers``
            to collect them from an unmodified model.
        gamma: the target distance, one float or one per layer (in the units of each layer
            measured in the lp norm, divided by ``norm_scale``).
        alpha: > 0; examples further than ``alpha * gamma`` on the wrong side of the margin
            (d < gamma * (1 - alpha)) are ignored.
        top_k: number of competitor classes, in [1, C-1].
        norm: p of the lp norm the margin is measured in, any p >= 1 or ``"inf"``.
        epsilon: added to the dual gradient norm before dividing (keeps d finite).
        second_order: False treats the gradient norm as a constant (the reference default);
            True backpropagates through it (double backpropagation).
        aggregation: ``"min"`` keeps the closest of the top-k competitors, ``"sum"`` sums them.
        norm_scale: None, one positive divisor per layer, or ``"dim"`` (the layer's
            per-example element count: the mean absolute gradient for p = inf).
        score: ``"prob"`` (softmax probabilities, as the reference code) or ``"logit"``.
        reduction: ``"mean"`` (batch mean of the layer mean), ``"sum"`` or ``"none"`` (B,).
        exact_per_example: use each example's own gradient instead of the batch-sum gradient;
            differs only when examples interact (train-mode BatchNorm), at B times the cost.
        check_values: check that ``logits`` are finite and labels in [0, C): None (default)
            for CPU tensors only, where it costs no device sync, so a GPU step never waits for
            the device; True on every device (one sync per call: for debugging); False never.
            Shapes, dtypes and devices are always checked.

    Returns:
        The non-negative hinge max(0, min(gamma - d, alpha * gamma)), summed over the kept
        competitors, averaged over layers, reduced over the batch; 0 when every example is
        beyond the margin. The reference code returns this minus gamma per term; gradients
        are identical.
    """
    options = MarginOptions.create(
        gamma=gamma,
        alpha=alpha,
        top_k=top_k,
        norm=norm,
        epsilon=epsilon,
        second_order=second_order,
        aggregation=aggregation,
        norm_scale=norm_scale,
        score=score,
        reduction=reduction,
    )
    return _loss(logits, target, layers, options, exact_per_example, check_values)[0]


def _loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    layers: Sequence[torch.Tensor],
    options: MarginOptions,
    exact_per_example: bool,
    check_values: bool | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(reduced loss, distances (B, L, k) with graph)."""
    dist = distances(
        logits,
        target,
        layers,
        options,
        create_graph=True,
        exact_per_example=exact_per_example,
        check_values=check_values,
    )
    return reduce(hinge(dist, options), options.reduction), dist


class LargeMarginLoss(nn.Module):
    """Module form of :func:`large_margin_loss`; takes the same keyword arguments.

    ``criterion(logits, target, layers)`` returns the loss. After each call,
    ``last_distances`` holds the detached distances (B, L, k) of that batch, for logging the
    margin during training at no extra cost.
    """

    def __init__(
        self,
        *,
        gamma: float | Sequence[float] = 10000.0,
        alpha: float = 2.0,
        top_k: int = 1,
        norm: float | str = 2,
        epsilon: float = 1e-8,
        second_order: bool = False,
        aggregation: str = "min",
        norm_scale: str | Sequence[float] | None = None,
        score: str = "prob",
        reduction: str = "mean",
        exact_per_example: bool = False,
        check_values: bool | None = None,
    ) -> None:
        super().__init__()
        self.options = MarginOptions.create(
            gamma=gamma,
            alpha=alpha,
            top_k=top_k,
            norm=norm,
            epsilon=epsilon,
            second_order=second_order,
            aggregation=aggregation,
            norm_scale=norm_scale,
            score=score,
            reduction=reduction,
        )
        self.exact_per_example = bool(exact_per_example)
        self.check_values = check_values
        self.last_distances: torch.Tensor | None = None

    def forward(
        self, logits: torch.Tensor, target: torch.Tensor, layers: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        loss, dist = _loss(
            logits, target, layers, self.options, self.exact_per_example, self.check_values
        )
        self.last_distances = dist.detach()
        return loss

    def extra_repr(self) -> str:
        o = self.options
        return (
            f"gamma={o.gamma}, alpha={o.alpha}, top_k={o.top_k}, norm={o.norm}, "
            f"second_order={o.second_order}, aggregation={o.aggregation!r}, "
            f"norm_scale={o.norm_scale!r}, score={o.score!r}, reduction={o.reduction!r}"
        )
