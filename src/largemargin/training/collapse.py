"""Detecting a run whose predictions collapsed: a constant or uniform output that ignores the
input, which some losses prefer to learning when most training labels are wrong.

Why the large margin loss collapses under heavy label noise: with gamma large (the reference's
10000) almost every example sits on the linear part of the hinge, so the loss is a constant minus
the mean signed distance d. Keeping only the closest competitor, a confident prediction of the
true class earns +d on a correctly labelled example and about -d on one whose label was flipped
to another class, an expected (1 - 2n) d at noise fraction n: above n = 0.5 every confident
prediction costs more than the uniform output (d = 0). Summing the terms of all C - 1 competitors
earns about (C - 1)(1 - n) d - n d instead, positive up to n = (C - 1) / C. The multi-class hinge
on logits has the same closest-competitor balance.

One epoch's training predictions are *collapsed* when their accuracy on the (possibly noisy)
training labels is within ``CHANCE_TOLERANCE`` of chance (1/C) and either one class takes at least
``LARGEST_SHARE_LIMIT`` of the predictions (a constant output) or the mean largest softmax
probability is within ``UNIFORM_TOLERANCE`` of 1/C (a uniform output). Requiring both keeps a
model that learned the true classes at very high noise (its accuracy on the noisy labels is near
chance, but its predictions vary and are confident) from being flagged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from largemargin.training.config import LossConfig

CHANCE_TOLERANCE = 0.05
"""Training-label accuracy at most 1/C + this (absolute fraction) counts as chance."""
LARGEST_SHARE_LIMIT = 0.9
"""One predicted class taking at least this fraction of the examples counts as constant."""
UNIFORM_TOLERANCE = 0.05
"""A mean largest softmax probability at most 1/C + this counts as a uniform output."""


class CollapseWarning(UserWarning):
    """A training epoch's predictions collapsed to a constant or uniform output."""


@dataclass(frozen=True)
class Collapse:
    """A collapsed epoch. ``epoch``: 1-based epoch number; ``first_epoch``: where the run's
    current stretch of collapsed epochs began; ``train_accuracy``: accuracy on the training
    labels as trained (noisy ones included), in [0, 1]; ``largest_class_share``: fraction of
    the epoch's examples predicted as its most predicted class; ``mean_max_probability``: mean
    over the examples of the largest softmax probability; ``message``: cause and remedy."""

    epoch: int
    first_epoch: int
    train_accuracy: float
    largest_class_share: float
    mean_max_probability: float
    message: str

    def as_dict(self) -> dict:
        """Plain types, for metrics.json."""
        return asdict(self)


class PredictionTally:
    """Accumulates, on the logits' device and without a host sync, what an epoch's training
    batches predicted: the count per predicted class, the correct count and the sum of the
    largest softmax probability, as one (C + 2,) float32 tensor (counts exact up to 2**24
    examples per epoch)."""

    def __init__(self) -> None:
        self.stats: torch.Tensor | None = None

    def update(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch: ``logits`` (B, C) of any float dtype, ``target`` (B,) class indices."""
        logits = logits.detach().float()
        predicted = logits.argmax(dim=1)
        counts = torch.bincount(predicted, minlength=logits.shape[1]).float()
        correct = (predicted == target).sum().float()
        top = logits.softmax(dim=1).amax(dim=1).sum()
        batch = torch.cat([counts, correct[None], top[None]])
        self.stats = batch if self.stats is None else self.stats + batch

    def take(self) -> torch.Tensor | None:
        """The epoch's (C + 2,) float32 tensor (None when no batch was seen); resets the tally."""
        stats, self.stats = self.stats, None
        return stats


def find_collapse(
    counts: Sequence[float],
    correct: float,
    max_probability_sum: float,
    *,
    epoch: int,
    first_epoch: int | None = None,
    remedy: str = "",
) -> Collapse | None:
    """The ``Collapse`` of one epoch, or None when its predictions are not collapsed (see the
    module docstring for the rule). ``counts``: examples predicted as each class (length C);
    ``correct``: how many matched their training label; ``max_probability_sum``: the sum over
    examples of the largest softmax probability; ``epoch``: 1-based; ``first_epoch``: the first
    epoch of the collapsed stretch this one continues (None: this one); ``remedy``: appended
    to the message."""
    classes = len(counts)
    total = float(sum(counts))
    if classes < 2:
        raise ValueError(f"counts: expected one count per class (at least 2), got {classes}")
    if total <= 0:
        return None
    chance = 1.0 / classes
    accuracy = correct / total
    share = max(counts) / total
    confidence = max_probability_sum / total
    constant = share >= LARGEST_SHARE_LIMIT
    uniform = confidence <= chance + UNIFORM_TOLERANCE
    if accuracy > chance + CHANCE_TOLERANCE or not (constant or uniform):
        return None
    shape = (
        f"one class predicted for {share:.0%} of examples"
        if constant
        else f"near-uniform output, mean top probability {confidence:.2f}"
    )
    message = (
        f"predictions collapsed to chance at epoch {epoch} (train accuracy {accuracy:.1%}, "
        f"chance {chance:.1%}; {shape})"
    )
    if remedy:
        message += f"; {remedy}"
    return Collapse(
        epoch=epoch,
        first_epoch=epoch if first_epoch is None else first_epoch,
        train_accuracy=accuracy,
        largest_class_share=share,
        mean_max_probability=confidence,
        message=message,
    )


def remedy(loss: LossConfig, num_classes: int) -> str:
    """What to try instead, for a run of ``loss`` on ``num_classes`` classes that collapsed."""
    others = num_classes - 1
    margin = loss.margin
    if loss.kind == "large_margin" and (margin.top_k < others or margin.aggregation == "min"):
        return (
            "with label noise above 50% the closest-competitor margin loss rewards a constant "
            f"output: use `--loss.margin.top_k {others} --loss.margin.aggregation sum` "
            "(configs/mnist-noisy-labels.yaml) or cross-entropy"
        )
    if loss.kind == "hinge":
        return (
            "with label noise above 50% the multi-class hinge (closest competitor) rewards a "
            "constant output: use cross-entropy, or the large margin loss with "
            f"`--loss.margin.top_k {others} --loss.margin.aggregation sum`"
        )
    return (
        f"above {others}/{num_classes} label noise no loss can learn; otherwise lower the "
        "learning rate or check the labels"
    )
