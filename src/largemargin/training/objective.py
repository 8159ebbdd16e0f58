"""The training objective of a batch: the chosen loss, its optional cross-entropy mix, TRADES's
robustness term, and L2 weight decay, returned as named terms so each can be logged; and the
logit margin that evaluation reports.

Two first-order margins appear in the logs, in different units:

- the training score's distances (``Terms.margins``, logged as ``train/margin/<layer>``): what
  the large margin loss with the run's options sees (softmax or logit score, ``norm_scale``,
  ``top_k``, ``epsilon``). With probability scores and ``norm_scale: dim`` these are neither
  in the layer's units nor geometric: saturated softmax shrinks the gradient faster than the
  gap, so they grow without bound as the model gets confident.
- the logit margin (``logit_margins``, logged as ``val/logit_margin/<layer>`` and
  ``test/logit_margin/<layer>``): the geometrically meaningful one, independent of the loss
  options except ``norm``: (z_y - z_i) / ||grad_{h_l}(z_y - z_i)||_q with logits z, minimised
  over the competitors, in the layer's own units measured in the run's lp norm. It is the
  distance to the linearised decision boundary (exact for a linear model), the same quantity
  ``largemargin margins`` reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

import largemargin as lm
from largemargin.training.adversarial import trades_divergence
from largemargin.training.config import LossConfig

LOGIT_MARGIN_COMPETITORS = 9
"""The logit margin's competitors: the highest-logit wrong classes, at most this many (every
other class when there are at most 10 classes). Each costs one backward pass, so all C - 1 of
ImageNet's classes would cost a thousand backward passes per batch."""

LOGIT_MARGIN_EPSILON = 1e-8
"""Added to the gradient's dual norm (the analysis default, ``first_order_margins``)."""


def logit_margins(
    logits: torch.Tensor, target: torch.Tensor, layers: list[torch.Tensor], *, norm: float | str
) -> torch.Tensor:
    """Per-example first-order logit margin at each layer, shape (B, L), float32 or wider.

    (z_y - z_i) / (||grad_{h_l}(z_y - z_i)||_q + 1e-8) with logits z, q dual to ``norm``, no
    norm scale, minimised over the ``LOGIT_MARGIN_COMPETITORS`` highest-logit wrong classes
    i (all of them up to 10 classes): the signed distance to the linearised boundary, in
    layer l's own units measured in the lp norm ``norm`` (negative: misclassified). ``layers``
    are tensors ``logits`` depend on (``lm.forward_with_layers``), with a graph; detached
    result, the graph of ``logits`` kept.
    """
    top_k = min(logits.shape[1] - 1, LOGIT_MARGIN_COMPETITORS)
    dist = lm.margin_distances(
        logits,
        target,
        layers,
        top_k=top_k,
        norm=norm,
        epsilon=LOGIT_MARGIN_EPSILON,
        norm_scale=None,
        score="logit",
    )
    return dist.amin(dim=2)


def multiclass_hinge(logits: torch.Tensor, target: torch.Tensor, margin: float) -> torch.Tensor:
    """Crammer-Singer multi-class hinge: mean over the batch of
    max(0, margin - (z_y - max_{i != y} z_i)), in logit units."""
    true = logits.gather(1, target[:, None]).squeeze(1)
    others = logits.scatter(1, target[:, None], float("-inf")).amax(dim=1)
    return torch.clamp(margin - (true - others), min=0).mean()


@dataclass
class Terms:
    """One batch's objective: ``total`` to backpropagate, the named terms that sum to it,
    the logits, and ``margins``: per layer, the batch mean of the closest first-order distance
    in the training score's units (the run's loss options; see the module docstring), empty
    when not computed."""

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
        self.margin = lm.LargeMarginLoss(cfg.margin) if cfg.kind == "large_margin" else None

    def __call__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        measure_margin: bool = False,
        trades_input: torch.Tensor | None = None,
    ) -> Terms:
        """The terms at inputs ``x`` (N, ...) with labels ``y`` (N,); ``trades_input``: the
        adversarial batch of TRADES (shaped like ``x``), whose term ``trades_beta`` times the
        batch-mean KL between the predictions at ``x`` and at it is added as ``trades``."""
        parts: dict[str, torch.Tensor] = {}
        margins: dict[str, torch.Tensor] = {}
        if self.margin is not None:
            logits, layers = lm.forward_with_layers(model, x, self.layers)
            loss, dist = self.margin(logits, y, layers, return_distances=True)
            parts["margin"] = loss / self.cfg.margin_scale
            margins = self._mean_margins(dist.detach())
            if self.cfg.cross_entropy_weight > 0:
                parts["cross_entropy"] = self.cfg.cross_entropy_weight * F.cross_entropy(logits, y)
        elif measure_margin:
            logits, layers = lm.forward_with_layers(model, x, self.layers)
            margins = self._mean_margins(lm.margin_distances(logits, y, layers, self.cfg.margin))
        else:
            logits = model(x)
        if self.cfg.kind == "cross_entropy":
            parts["cross_entropy"] = F.cross_entropy(logits, y)
        elif self.cfg.kind == "hinge":
            parts["hinge"] = multiclass_hinge(logits, y, self.cfg.hinge_margin)
        if trades_input is not None:
            divergence = trades_divergence(logits, model(trades_input)).mean()
            parts["trades"] = self.cfg.trades_beta * divergence
        if self.weight_decay > 0:
            squares = sum(p.pow(2).sum() for p in model.parameters() if p.requires_grad)
            parts["weight_decay"] = 0.5 * self.weight_decay * squares
        total = sum(parts.values())
        return Terms(total=total, parts=parts, logits=logits, margins=margins)

    def mean_logit_margins(
        self, logits: torch.Tensor, y: torch.Tensor, layers: list[torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Batch mean of ``logit_margins`` per layer name (the run's lp norm, layer units)."""
        means = logit_margins(logits, y, layers, norm=self.cfg.margin.norm).mean(dim=0)
        return dict(zip(self.layers, means.unbind(), strict=True))

    def _mean_margins(self, dist: torch.Tensor) -> dict[str, torch.Tensor]:
        closest = dist.amin(dim=2).mean(dim=0)  # (L,): mean over the batch of the closest
        return dict(zip(self.layers, closest.unbind(), strict=True))
