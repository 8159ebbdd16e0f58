"""Write accuracy-under-attack rows to disk: a CSV table and an accuracy-vs-eps plot.

Both writers are atomic: they write a temporary file in the target's folder and move it onto
the target with ``os.replace``, so the target is either left as it was or fully written.
"""

from __future__ import annotations

import csv
import io
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

Row = Mapping[str, Any]


def _write_atomically(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path`` (creating the folder if needed),
    flush it to disk, then rename it onto ``path``; on any error remove the temporary file
    and re-raise. The file gets the usual permissions (0o666 less the umask). Returns path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with open(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_csv(rows: Sequence[Row], path: str | os.PathLike) -> Path:
    """Write ``rows`` (dicts sharing the same keys, e.g. eps, accuracy, n) as a CSV file with
    a header line, columns in the first row's key order; return the path."""
    if not rows:
        raise ValueError("rows must hold at least one row, got none")
    fields = list(rows[0])
    for row in rows:
        if set(row) != set(fields):
            raise ValueError(f"every row must have the keys {fields}, got {list(row)}")
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return _write_atomically(path, text.getvalue().encode("utf-8"))


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
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=120)
    return _write_atomically(path, png.getvalue())
