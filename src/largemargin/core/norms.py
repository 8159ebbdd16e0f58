"""The lp norm of the margin and its dual norm, applied to per-example gradients."""

from __future__ import annotations

import math
import numbers

import torch


def parse_norm(norm: float | str) -> float:
    """Return the margin's lp exponent p as a float in [1, inf].

    Accepts any real p >= 1, ``float("inf")``, or a string of either ("inf", "2", "1.5": what
    a command-line flag gives). Every part of the package (loss, analysis, attacks) holds a
    norm as this float; ``norm_name`` labels it.
    """
    if isinstance(norm, str):
        try:
            p = float(norm)  # also "inf", "Infinity", " 2 "
        except ValueError:
            raise ValueError(f"norm must be a number >= 1 or 'inf', got {norm!r}") from None
    elif isinstance(norm, bool) or not isinstance(norm, numbers.Real):
        raise TypeError(f"norm must be a number >= 1 or 'inf', got {type(norm).__name__}")
    else:
        p = float(norm)
    if math.isnan(p) or p < 1:
        raise ValueError(f"norm must be >= 1 (the lp norm of the margin), got {norm!r}")
    return p


def norm_name(p: float) -> str:
    """The label of an lp exponent held as a float (``parse_norm``): "inf", "2", "1.5"."""
    return "inf" if math.isinf(p) else f"{p:g}"


def dual_exponent(p: float) -> float:
    """The dual exponent q with 1/p + 1/q = 1 (p=1 -> inf, p=2 -> 2, p=inf -> 1)."""
    if p == 1:
        return math.inf
    if math.isinf(p):
        return 1.0
    return p / (p - 1)


def dual_norm(grads: torch.Tensor, q: float) -> torch.Tensor:
    """Per-row lq norm of ``grads`` over its last dimension.

    ``grads`` has shape (..., D); the result has shape (...). The norm is differentiable with a
    zero (sub)gradient at a zero row, so second-order training never yields NaN; for q = inf the
    gradient is shared evenly between tied maxima, as in the reference code.
    """
    if q == 1:
        return grads.abs().sum(dim=-1)
    if math.isinf(q):
        return grads.abs().amax(dim=-1)
    return torch.linalg.vector_norm(grads, ord=q, dim=-1)
