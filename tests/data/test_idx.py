"""IDX reading: the real MNIST files byte for byte, and malformed files rejected by name."""

from __future__ import annotations

import gzip
import hashlib
import struct

import numpy as np
import pytest

from largemargin.data.idx import read_idx

from .conftest import write_idx

README_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}


@pytest.mark.parametrize("stem", sorted(README_MD5))
def test_real_mnist_round_trips_to_the_published_md5(mnist_dir, stem):
    array = read_idx(mnist_dir / f"{stem}.gz")
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    assert hashlib.md5(header + array.tobytes()).hexdigest() == README_MD5[stem]
    assert array.dtype == np.uint8
    assert array.shape[0] == (60000 if stem.startswith("train") else 10000)


def test_first_labels(mnist_dir):
    assert read_idx(mnist_dir / "train-labels-idx1-ubyte.gz")[0] == 5
    assert read_idx(mnist_dir / "t10k-labels-idx1-ubyte.gz")[0] == 7


@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_round_trip_plain_and_gz(tmp_path, name):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / name, array)
    out = read_idx(tmp_path / name)
    assert out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, array)
    out[0, 0, 0] = 99  # writable copy, not a view of the read-only file buffer


def test_truncated_file_is_rejected(tmp_path):
    path = tmp_path / "t.idx"
    path.write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 10) + bytes(9))
    with pytest.raises(ValueError, match=r"t\.idx: 17 bytes, expected 18"):
        read_idx(path)


def test_bad_magic_and_type_are_rejected(tmp_path):
    (tmp_path / "m.idx").write_bytes(b"\x01\x00\x08\x01" + struct.pack(">I", 0))
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "m.idx")
    (tmp_path / "f.idx").write_bytes(b"\x00\x00\x0d\x01" + struct.pack(">I", 0))
    with pytest.raises(ValueError, match="expected 0x08"):
        read_idx(tmp_path / "f.idx")


def test_corrupt_gzip_is_rejected(tmp_path):
    path = tmp_path / "c.idx.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match=r"c\.idx\.gz: not a valid gzip file"):
        read_idx(path)
    good = gzip.compress(bytes([0, 0, 8, 1]) + struct.pack(">I", 3) + bytes(3))
    path.write_bytes(good[:-6])
    with pytest.raises(ValueError, match="not a valid gzip file"):
        read_idx(path)
