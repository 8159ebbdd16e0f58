"""Write accuracy-under-attack rows to disk: a CSV table (``largemargin.files.write_csv``,
re-exported) and an accuracy-vs-eps plot.

Both writers are atomic (``largemargin.files``): the target is either left as it was or fully
written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from largemargin.files import save_figure, write_csv

__all__ = ["plot_accuracy_vs_eps", "write_csv"]

Row = Mapping[str, Any]


def plot_accuracy_vs_eps(
    rows_by_model: Mapping[str, Sequence[Row]],
    path: str | os.PathLike,
    *,
    title: str | None = None,
) -> Path:
    """Plot accuracy (0 to 1) against eps (input units), one line per model, as a PNG file.

    ``rows_by_model`` maps a model's label to its rows (dicts with "eps" and "accuracy", as
    returned by ``accuracy_under_attack``). Uses matplotlib's Agg canvas directly, without
    pyplot, so no global backend is changed. Returns the path.
    """
    if not rows_by_model or any(not rows for rows in rows_by_model.values()):
        raise ValueError(
            "rows_by_model must map at least one model to a non-empty list of rows, got "
            f"{ {name: len(rows) for name, rows in rows_by_model.items()} }"
        )
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, rows in rows_by_model.items():
        ax.plot([r["eps"] for r in rows], [r["accuracy"] for r in rows], marker="o", label=name)
    ax.set_xlabel("eps (input units)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0.0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend()
    if title is not None:
        ax.set_title(title)
    return save_figure(fig, path)
