"""Data fixtures: an isolated cache, small fake MNIST files and CIFAR-10 batches (the real
datasets' fixtures are in tests/conftest.py)."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest

from largemargin.data.sources import ARCHIVE, BATCH_FOLDER, TEST_BATCHES, TRAIN_BATCHES


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


def cifar_batch(n: int, offset: int) -> dict:
    data = np.zeros((n, 3072), dtype=np.uint8)
    data[:, :1024] = np.arange(offset, offset + n)[:, None]  # red channel carries the index
    data[:, 1024:2048] = 200  # green constant
    return {"data": data, "labels": [(offset + i) % 10 for i in range(n)]}


def cifar_batches(protocol: int = pickle.DEFAULT_PROTOCOL) -> dict[str, bytes]:
    names = TRAIN_BATCHES + TEST_BATCHES
    return {name: pickle.dumps(cifar_batch(4, 4 * i), protocol) for i, name in enumerate(names)}


def write_cifar_folder(root, batches: dict[str, bytes] | None = None):
    folder = root / BATCH_FOLDER
    folder.mkdir(parents=True)
    for name, blob in (batches or cifar_batches()).items():
        (folder / name).write_bytes(blob)


def write_cifar_archive(root, batches: dict[str, bytes] | None = None):
    root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(root / ARCHIVE, "w:gz") as tar:
        for name, blob in (batches or cifar_batches()).items():
            info = tarfile.TarInfo(f"{BATCH_FOLDER}/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
