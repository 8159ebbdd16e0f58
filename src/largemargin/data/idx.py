"""Reading IDX files (the MNIST / Fashion-MNIST format), gzip-compressed or not."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

_UBYTE = 0x08


def read_idx(path: str | Path) -> np.ndarray:
    """The uint8 array stored in an IDX file; ``path`` ending in ``.gz`` is decompressed on the fly.

    Shape is the one in the file header, e.g. (60000, 28, 28) for MNIST training images and
    (60000,) for its labels. Only the unsigned-byte element type (code 0x08) is supported.
    Raises ValueError naming the file when it is not a well-formed IDX file.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (gzip.BadGzipFile, EOFError) as err:
        raise ValueError(f"{path}: not a valid gzip file ({err})") from err
    if len(data) < 4 or data[:2] != b"\x00\x00":
        raise ValueError(f"{path}: not an IDX file (the first two bytes must be zero)")
    if data[2] != _UBYTE:
        raise ValueError(f"{path}: IDX element type {data[2]:#04x}, expected {_UBYTE:#04x} (uint8)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        raise ValueError(f"{path}: {len(data)} bytes, expected {expected} for shape {shape}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()
