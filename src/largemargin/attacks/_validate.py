"""Argument checks shared by the attacks; each raises ValueError naming the argument."""

from __future__ import annotations

import math
import numbers

import torch

from largemargin.core.norms import parse_norm

from ._model import LOSSES

#: The two perturbation norms the attacks support, as ``parse_norm`` holds them: l-inf and l2.
NORMS = (math.inf, 2.0)


def check_norm(norm: str | float) -> float:
    """Return ``math.inf`` or ``2.0``; accepts what ``core.norms.parse_norm`` does ("inf",
    ``float("inf")``, 2) as long as it names the l-inf or the l2 ball."""
    try:
        p = parse_norm(norm)
    except (TypeError, ValueError):
        p = None
    if p not in NORMS:
        raise ValueError(f"norm must be 'inf' or 2 (the l-inf or l2 ball), got {norm!r}")
    return p


def check_attack_loss(loss: str) -> str:
    """Return ``loss``; it must name an attack loss: "ce", "margin" or "dlr" (see ``_model``)."""
    if not isinstance(loss, str) or loss not in LOSSES:
        raise ValueError(
            f"loss must be one of {list(LOSSES)} (cross-entropy, Carlini-Wagner logit margin, "
            f"AutoAttack's DLR), got {loss!r}"
        )
    return loss


def check_eps(eps: float) -> float:
    """Return ``eps`` as a float; it must be a finite number >= 0 (input units)."""
    if (
        isinstance(eps, bool)
        or not isinstance(eps, numbers.Real)
        or not math.isfinite(eps)
        or eps < 0
    ):
        raise ValueError(f"eps must be a finite number >= 0 (in input units), got {eps!r}")
    return float(eps)


def check_positive_int(name: str, value: int) -> int:
    """Return ``value``; it must be an int >= 1 (``steps``, ``restarts``, ``batch_size``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return int(value)


def check_step_size(step_size: float) -> float:
    """Return ``step_size`` as a float; it must be a finite number > 0 (input units)."""
    if (
        isinstance(step_size, bool)
        or not isinstance(step_size, numbers.Real)
        or not math.isfinite(step_size)
        or step_size <= 0
    ):
        raise ValueError(
            f"step_size must be a finite number > 0 (in input units), got {step_size!r}"
        )
    return float(step_size)


def check_batch(x: torch.Tensor, y: torch.Tensor, clip_min: float, clip_max: float) -> torch.Tensor:
    """Check a batch and its valid input range; return ``y`` as int64 class indices.

    ``x`` is a floating tensor of shape (N, ...) whose values lie in [clip_min, clip_max];
    ``y`` is an integer tensor of shape (N,). ``clip_min`` < ``clip_max``; either may be
    infinite (no bound on that side).
    """
    _check_range_bounds(clip_min, clip_max)
    _check_inputs(x)
    if (
        not isinstance(y, torch.Tensor)
        or y.is_floating_point()
        or y.is_complex()
        or y.dtype == torch.bool
        or y.shape != x.shape[:1]
    ):
        raise ValueError(
            f"y must be an integer tensor of shape ({x.shape[0]},) matching x of shape "
            f"{tuple(x.shape)}, got "
            + (f"{y.dtype} of shape {tuple(y.shape)}" if isinstance(y, torch.Tensor) else repr(y))
        )
    _check_in_range(x, clip_min, clip_max)
    return y.long()


def check_batch_range(x: torch.Tensor, clip_min: float, clip_max: float) -> None:
    """``check_batch`` without labels: ``x`` floating (N, ...) within [clip_min, clip_max]."""
    _check_range_bounds(clip_min, clip_max)
    _check_inputs(x)
    _check_in_range(x, clip_min, clip_max)


def _check_range_bounds(clip_min: float, clip_max: float) -> None:
    if math.isnan(clip_min) or math.isnan(clip_max) or clip_min >= clip_max:
        raise ValueError(
            f"clip_min must be < clip_max (the valid input range), got clip_min={clip_min!r}, "
            f"clip_max={clip_max!r}"
        )


def _check_inputs(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() < 1:
        raise ValueError(
            "x must be a floating tensor of shape (N, ...), got "
            + (f"{x.dtype} of shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else repr(x))
        )


def _check_in_range(x: torch.Tensor, clip_min: float, clip_max: float) -> None:
    if not ((x >= clip_min) & (x <= clip_max)).all():
        raise ValueError(
            f"x must lie in [clip_min, clip_max] = [{clip_min}, {clip_max}] (NaN nowhere), got "
            f"values in [{x.min().item()}, {x.max().item()}]; pass the range of your inputs as "
            "clip_min/clip_max"
        )
