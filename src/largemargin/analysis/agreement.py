"""How well a first-order margin estimate agrees with the true margin, without scipy."""

from __future__ import annotations

import math

import numpy as np
import torch

ArrayLike = np.ndarray | torch.Tensor


def as_numpy(values: ArrayLike) -> np.ndarray:
    """A 1-D float64 numpy copy of a tensor or array."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=np.float64).reshape(-1)


def rank(values: np.ndarray) -> np.ndarray:
    """1-based ranks of a 1-D array, ties given their average rank (as scipy's rankdata)."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    last = np.cumsum(counts)
    return (last - (counts - 1) / 2)[inverse]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two 1-D arrays; NaN when either is constant or n < 2."""
    if len(a) < 2:
        return math.nan
    ra, rb = rank(a), rank(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = np.sqrt((ra**2).sum() * (rb**2).sum())
    return float((ra * rb).sum() / denom) if denom > 0 else math.nan


def not_found(true: ArrayLike) -> tuple[int, float]:
    """Count and share of examples whose true margin was not found (NaN, or any non-finite
    value), out of all of them; the share is NaN with no example."""
    b = as_numpy(true)
    missing = int((~np.isfinite(b)).sum())
    return missing, missing / b.size if b.size else math.nan


def compare_margins(first_order: ArrayLike, true: ArrayLike) -> dict[str, float | int]:
    """Agreement of per-example first-order margins with true margins, both (N,), same units.

    Only examples whose two margins are both finite and > 0 are compared: this leaves out
    misclassified examples (true margin 0) and examples whose true margin was not found (NaN,
    see ``true_margins``), which are counted apart.

    Returns:
        ``spearman``: rank correlation of the two (average ranks for ties; NaN if fewer than
        two examples or one side is constant); ``median_ratio``: median of first-order / true
        (1 is perfect; NaN with no example); ``within_2x``: fraction of the compared examples
        whose ratio lies in [1/2, 2]; ``count``: the number of examples compared;
        ``not_found`` and ``not_found_share``: the number and share (of all N) of examples
        without a true margin (``not_found``).
    """
    a, b = as_numpy(first_order), as_numpy(true)
    if a.shape != b.shape:
        raise ValueError(f"first_order and true must have the same length, got {a.size}, {b.size}")
    missing, share = not_found(b)
    keep = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
    a, b = a[keep], b[keep]
    ratio = a / b
    return {
        "spearman": spearman(a, b),
        "median_ratio": float(np.median(ratio)) if ratio.size else math.nan,
        "within_2x": float(np.mean((ratio >= 0.5) & (ratio <= 2))) if ratio.size else math.nan,
        "count": int(ratio.size),
        "not_found": missing,
        "not_found_share": share,
    }
