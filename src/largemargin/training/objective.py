"""The training objective of a batch: the chosen loss, its optional cross-entropy mix, and L2
weight decay, returned as named terms so each can be logged."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

import largemargin as lm
from largemargin.training.config import LossConfig


def multiclass_hinge(logits: torch.Tensor, target: torch.Tensor, margin: float) -> torch.Tensor:
    """Crammer-Singer multi-class hinge: mean over the batch of
    max(0, margin - (z_y - max_{i != y} z_i)), in logit units."""
    true = logits.gather(1, target[:, None]).squeeze(1)
    others = logits.scatter(1, target[:, None], float("-inf")).amax(dim=1)
    return torch.clamp(margin - (true - others), min=0).mean()


@dataclass
class Terms:
    """One batch's objective: ``total`` to backpropagate, the named terms that sum to it,
    the logits, and the mean first-order margin per layer (empty when not computed)."""

    total: torch.Tensor
    parts: dict[str, torch.Tensor]
    logits: torch.Tensor
    margins: dict[str, torch.Tensor]


class Objective:
    """Computes ``Terms`` for a model and batch. ``layers`` are the margin layers' names."""

    def __init__(self, cfg: LossConfig, layers: list[str], weight_decay: float) -> None:
        self.cfg = cfg
        self.layers = layers
        self.weight_decay = weight_decay
        self.margin = (
            lm.LargeMarginLoss(**cfg.margin_options()) if cfg.kind == "large_margin" else None
        )

    def __call__(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, measure_margin: bool = False
    ) -> Terms:
        parts: dict[str, torch.Tensor] = {}
        margins: dict[str, torch.Tensor] = {}
        if self.margin is not None:
            logits, layers = lm.forward_with_layers(model, x, self.layers)
            parts["margin"] = self.margin(logits, y, layers) / self.cfg.margin_scale
            margins = self._mean_margins(self.margin.last_distances)
            if self.cfg.cross_entropy_weight > 0:
                parts["cross_entropy"] = self.cfg.cross_entropy_weight * F.cross_entropy(logits, y)
        elif measure_margin:
            logits, layers = lm.forward_with_layers(model, x, self.layers)
            margins = self.measure(logits, y, layers)
        else:
            logits = model(x)
        if self.cfg.kind == "cross_entropy":
            parts["cross_entropy"] = F.cross_entropy(logits, y)
        elif self.cfg.kind == "hinge":
            parts["hinge"] = multiclass_hinge(logits, y, self.cfg.hinge_margin)
        if self.weight_decay > 0:
            squares = sum(p.pow(2).sum() for p in model.parameters() if p.requires_grad)
            parts["weight_decay"] = 0.5 * self.weight_decay * squares
        total = sum(parts.values())
        return Terms(total=total, parts=parts, logits=logits, margins=margins)

    def measure(
        self, logits: torch.Tensor, y: torch.Tensor, layers: list[torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Mean first-order margin per layer, with this objective's norm and scale options."""
        c = self.cfg
        dist = lm.margin_distances(
            logits,
            y,
            layers,
            norm=c.norm,
            epsilon=c.epsilon,
            norm_scale=c.norm_scale,
            score=c.score,
        )
        return self._mean_margins(dist)

    def _mean_margins(self, dist: torch.Tensor) -> dict[str, torch.Tensor]:
        closest = dist.amin(dim=2).mean(dim=0)  # (L,): mean over the batch of the closest
        return dict(zip(self.layers, closest.unbind(), strict=True))
