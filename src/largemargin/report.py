"""Reporting results: markdown tables, mean ± sd spreads, file-name-safe labels and the standard
accuracy plots, shared by the attacks, the experiments and the command line.

Accuracies are fractions in [0, 1]; the plots show them in percent. A spread is the mean and
the sample standard deviation (n - 1) over repeated values (usually seeds); the one rule for
a standard deviation that is NaN (a single value, or a NaN among the values): tables show the
mean alone and plots draw no error bar. Plots are drawn on matplotlib ``Figure`` objects
without pyplot (no display, no global backend touched) and written atomically as PNG
(``largemargin.files.save_figure``).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from largemargin.files import save_figure

Row = Mapping[str, Any]


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A markdown table: the header line, the ``| --- |`` line, then one line per row, each
    cell written with ``str`` (format numbers before). No trailing newline. Raises ValueError
    when a row does not have one cell per header."""
    if not headers:
        raise ValueError("headers must name at least one column, got none")
    lines = [_line(headers), "| --- " * len(headers) + "|"]
    for i, row in enumerate(rows):
        if len(row) != len(headers):
            raise ValueError(
                f"rows[{i}] has {len(row)} cells, expected one per header ({len(headers)}): "
                f"{list(row)!r}"
            )
        lines.append(_line(row))
    return "\n".join(lines)


def _line(cells: Sequence[object]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1) of ``values``; the sd is NaN for a single
    value, and both are NaN when a value is. Raises ValueError for no values."""
    if not values:
        raise ValueError("values must hold at least one number, got none")
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, math.nan
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def format_spread(
    values: Sequence[float], scale: float = 1.0, digits: int = 2, missing: str = ""
) -> str:
    """``"mean ± sd"`` of ``values`` times ``scale`` (e.g. 100 for percent), ``digits``
    decimals; the mean alone when the sd is NaN (one value); ``missing`` for no values."""
    if not values:
        return missing
    mean, sd = mean_sd(values)
    if math.isnan(sd):
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} ± {sd * scale:.{digits}f}"


def slug(label: str) -> str:
    """``label`` as part of a run or file name: every run of characters other than letters,
    digits, ``_`` and ``.`` becomes one ``-`` ("margin l-inf, input+hidden" ->
    "margin-l-inf-input-hidden")."""
    return re.sub(r"[^\w.]+", "-", label)


def plot_accuracy_vs_setting(
    accuracies: Mapping[str, Mapping[float, Sequence[float]]],
    path: str | os.PathLike,
    *,
    xlabel: str,
    ylabel: str = "accuracy (%)",
    title: str | None = None,
    log_x: bool = False,
) -> Path:
    """Accuracy (%) against a varied setting, one line per label: ``accuracies[label]`` maps
    each setting (the x value) to its accuracies in [0, 1] (one per seed), drawn as their mean
    with ± sd error bars. ``log_x``: a logarithmic x axis. Returns the written path."""
    if not accuracies or any(
        not by_x or any(not values for values in by_x.values()) for by_x in accuracies.values()
    ):
        raise ValueError(
            "accuracies must map at least one label to settings with at least one accuracy "
            f"each, got {_sizes(accuracies)}"
        )
    return _plot(accuracies, path, (xlabel, ylabel), title=title, log_x=log_x, full_range=False)


def plot_accuracy_vs_eps(
    rows_by_model: Mapping[str, Sequence[Row]],
    path: str | os.PathLike,
    *,
    title: str | None = None,
    xlabel: str = "eps (input units)",
    ylabel: str = "accuracy (%)",
) -> Path:
    """Accuracy (%, axis from 0 to 100) against the attack radius eps, one line per model.

    ``rows_by_model`` maps a model's (or an attack's) label to its rows: dicts with "eps"
    and "accuracy" in [0, 1], as ``accuracy_under_attack`` returns; rows sharing an eps (one
    per seed) are drawn as their mean with ± sd error bars. Returns the written path.
    """
    if not rows_by_model or any(not rows for rows in rows_by_model.values()):
        raise ValueError(
            "rows_by_model must map at least one model to a non-empty list of rows, got "
            f"{ {name: len(rows) for name, rows in rows_by_model.items()} }"
        )
    accuracies: dict[str, dict[float, list[float]]] = {}
    for name, rows in rows_by_model.items():
        for row in rows:
            accuracies.setdefault(name, {}).setdefault(row["eps"], []).append(row["accuracy"])
    return _plot(accuracies, path, (xlabel, ylabel), title=title, log_x=False, full_range=True)


def _sizes(accuracies: Mapping[str, Mapping[float, Sequence[float]]]) -> dict:
    return {label: {x: len(v) for x, v in by_x.items()} for label, by_x in accuracies.items()}


def _plot(
    accuracies: Mapping[str, Mapping[float, Sequence[float]]],
    path: str | os.PathLike,
    labels: tuple[str, str],
    *,
    title: str | None,
    log_x: bool,
    full_range: bool,
) -> Path:
    """One error-bar line per label, x sorted; ``labels``: the x and y axis labels;
    ``full_range``: the y axis from 0 to 100."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    for label, by_x in accuracies.items():
        xs = sorted(by_x)
        stats = [mean_sd(by_x[x]) for x in xs]
        means = [100 * mean for mean, _ in stats]
        sds = [0.0 if math.isnan(sd) else 100 * sd for _, sd in stats]
        ax.errorbar(xs, means, yerr=sds, marker="o", capsize=3, label=label)
    if log_x:
        ax.set_xscale("log")
    if full_range:
        ax.set_ylim(0, 101)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    if title is not None:
        ax.set_title(title, fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return save_figure(fig, path)
