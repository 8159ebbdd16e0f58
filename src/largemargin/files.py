"""Writing result files so that a crash never leaves a half-written one.

Each writer writes a temporary file in the target's folder, flushes it to disk, then renames it
onto the target (``os.replace``): the target is either as it was or fully written, and a
failure removes the temporary file.
"""

from __future__ import annotations

import csv
import io
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def write_atomic(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` (text is UTF-8 encoded) to ``path`` atomically, creating its folder;
    the file gets the usual permissions (0o666 less the umask). Returns the path."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
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


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    """Render a matplotlib ``Figure`` as PNG (120 dpi, tight box) and write it atomically.

    Works on figures made without pyplot (``matplotlib.figure.Figure``): no display needed and
    no global backend touched. Returns the path.
    """
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=120, bbox_inches="tight")
    return write_atomic(path, png.getvalue())


def write_csv(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike) -> Path:
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
    return write_atomic(path, text.getvalue())
