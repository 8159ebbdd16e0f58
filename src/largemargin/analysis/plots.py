"""Margin figures: CDFs per layer across models, and first-order vs true margin.

Figures are drawn on matplotlib ``Figure`` objects rendered by Agg, without pyplot (no display
needed, no global backend or figure state touched), and written as PNG atomically
(``largemargin.files.save_figure``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from largemargin.analysis.agreement import ArrayLike, as_numpy, compare_margins
from largemargin.files import save_figure


def plot_margin_cdfs(
    margins_by_model: Mapping[str, Mapping[str, ArrayLike]], path: str | os.PathLike[str]
) -> Path:
    """Empirical CDFs of per-example margins, one panel per layer, one curve per model.

    ``margins_by_model`` maps a model's name to {layer name: margins (N,)}, e.g. the output of
    ``first_order_margins`` or ``true_margins`` (units: those of each layer). A layer
    missing for a model is skipped in that panel. The fraction is of every example, so a
    curve ends below 1 by the share of non-finite margins (not plotted); NaN margins ("not
    found" true margins) are also counted in the curve's legend entry. Returns the written
    path.
    """
    layers = list(dict.fromkeys(layer for m in margins_by_model.values() for layer in m))
    if not layers:
        raise ValueError("margins_by_model holds no margins to plot")
    fig = Figure(figsize=(4 * len(layers), 3.2))
    axes = fig.subplots(1, len(layers), squeeze=False)
    for ax, layer in zip(axes[0], layers, strict=True):
        for model_name, margins in margins_by_model.items():
            if layer not in margins:
                continue
            values = as_numpy(margins[layer])
            finite = np.sort(values[np.isfinite(values)])
            fraction = np.arange(1, finite.size + 1) / max(values.size, 1)
            missing = int(np.isnan(values).sum())
            label = f"{model_name} ({missing} not found)" if missing else model_name
            ax.step(finite, fraction, where="post", label=label)
        ax.axvline(0.0, color="grey", linewidth=0.8, linestyle=":")
        ax.set_title(layer)
        ax.set_xlabel("margin (layer units)")
        ax.set_ylim(0, 1.02)
    axes[0][0].set_ylabel("fraction of examples")
    axes[0][-1].legend(fontsize="small")
    return save_figure(fig, path)


def plot_margin_agreement(
    first_order: ArrayLike, true: ArrayLike, path: str | os.PathLike[str]
) -> Path:
    """Scatter of first-order vs true input margins (N,) each, log-log, with y = x and the
    factor-2 band; the title gives ``compare_margins``' numbers, the count of examples whose
    true margin was not found (NaN) among them. Only examples with both margins finite and
    > 0 are drawn. Returns the written path."""
    a, b = as_numpy(first_order), as_numpy(true)
    stats = compare_margins(a, b)
    keep = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
    a, b = a[keep], b[keep]
    fig = Figure(figsize=(4.5, 4.5))
    ax = fig.subplots()
    ax.scatter(b, a, s=8, alpha=0.6)
    if a.size:
        low = min(a.min(), b.min()) / 2
        high = max(a.max(), b.max()) * 2
        line = np.array([low, high])
        ax.plot(line, line, color="black", linewidth=0.8, label="first-order = true")
        ax.fill_between(line, line / 2, line * 2, color="grey", alpha=0.15, label="within 2x")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.legend(fontsize="small", loc="upper left")
    ax.set_xlabel("true margin (input units)")
    ax.set_ylabel("first-order margin (input units)")
    ax.set_title(
        f"n={stats['count']}  spearman={stats['spearman']:.2f}\n"
        f"median ratio={stats['median_ratio']:.2f}  within 2x={stats['within_2x']:.2f}  "
        f"not found={stats['not_found']}",
        fontsize="small",
    )
    return save_figure(fig, path)
