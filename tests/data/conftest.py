"""Data fixtures: an isolated cache, and small fake MNIST files (the real datasets' fixtures are in
tests/conftest.py)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _isolated_locations(monkeypatch, tmp_path_factory):
    """No test sees the user's $LARGEMARGIN_DATA or writes into the real ~/.cache."""
    monkeypatch.delenv("LARGEMARGIN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file, gzip-compressed when ``path`` ends in .gz."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_fake_mnist(folder: Path, n_train: int = 20, n_test: int = 10, gz: bool = True) -> dict:
    """Four small MNIST-format IDX files in ``folder``; returns the arrays written."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test)[::-1] % 10).astype(np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for stem, array in arrays.items():
        write_idx(folder / (stem + (".gz" if gz else "")), array)
    return arrays
