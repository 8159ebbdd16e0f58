"""The first-order and the true input margin of the same examples, and how well they agree."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from largemargin.analysis.agreement import compare_margins
from largemargin.analysis.first_order import first_order_margins
from largemargin.analysis.true_margin import true_margins
from largemargin.torch_utils import eval_mode


def _positive_median(values: torch.Tensor) -> float:
    kept = values[torch.isfinite(values) & (values > 0)]
    return float(kept.median()) if kept.numel() else math.nan


def input_margin_agreement(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: float | str,
    clip_min: float = 0.0,
    clip_max: float = 1.0,
    adversarial: torch.Tensor | Sequence[torch.Tensor] | None = None,
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, float | int]]:
    """Both input margins of every example, in the lp norm ``norm`` and input units.

    The first-order margin uses logit scores against the closest of all competitor classes (the
    linearisation DeepFool follows); the true margin is ``true_margins`` inside
    [clip_min, clip_max], over DeepFool and the caller's ``adversarial`` candidates (see
    ``true_margins``). ``x`` (N, ...) and ``y`` (N,) are on the model's device. ``progress``:
    a tqdm bar over the true-margin search.

    Returns:
        ``first_order`` (N,) (negative: misclassified), ``true`` (N,) (0: misclassified, NaN:
        not found, the search failed), both on the CPU, and ``compare_margins``' statistics
        (with ``not_found``, ``not_found_share``) plus ``median_first_order`` and
        ``median_true``: the medians of each over its finite, positive values (NaN when there
        is none; the true median leaves the examples not found out).
    """
    with eval_mode(model), torch.no_grad():
        classes = model(x[:1]).shape[1]
    first = first_order_margins(
        model, (x, y), ["input"], norm=norm, score="logit", top_k=classes - 1, device=x.device
    )["input"]
    true = true_margins(
        model,
        x,
        y,
        norm=norm,
        clip_min=clip_min,
        clip_max=clip_max,
        adversarial=adversarial,
        progress=progress,
    ).cpu()
    stats = {
        **compare_margins(first, true),
        "median_first_order": _positive_median(first),
        "median_true": _positive_median(true),
    }
    return first, true, stats
