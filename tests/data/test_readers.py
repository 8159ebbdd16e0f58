"""The file readers on real and untrusted files: IDX byte for byte, malformed files named;
CIFAR-10 batches of every pickle protocol, a pickle payload refused unrun; corrupt or truncated
images, decompression bombs and odd zip members get a ValueError naming the file; nothing is
ever extracted to disk."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
import zipfile

import numpy as np
import pytest
from PIL import Image

from largemargin.data import readers
from largemargin.data.readers import DirectoryReader, ZipReader, read_idx
from largemargin.data.sources import BATCH_FOLDER, load_cifar10
from tests.payloads import Touch

from .conftest import cifar_batch, cifar_batches, write_cifar_archive, write_cifar_folder, write_idx


def _encoded(size: tuple[int, int], fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


def _zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _readers(tmp_path, name: str, data: bytes):
    """The same file in a directory and in a zip: (reader, the name its errors give)."""
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / name).write_bytes(data)
    archive = _zip(tmp_path / "tree.zip", {name: data})
    return [
        (DirectoryReader(tmp_path / "tree"), str(tmp_path / "tree" / name)),
        (ZipReader(archive), f"{archive}:{name}"),
    ]


def test_good_images_decode_to_rgb(tmp_path):
    for reader, _ in _readers(tmp_path, "a.jpg", _encoded((12, 7), "JPEG")):
        image = reader("a.jpg")
        assert image.mode == "RGB" and image.size == (12, 7)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (_encoded((64, 64), "JPEG")[:300], "truncated"),
        (_encoded((8, 8), "PNG")[:40], "cannot decode the image"),
        (b"not an image at all", "not an image format Pillow can read"),
    ],
)
def test_a_truncated_or_corrupt_image_is_named(tmp_path, data, fragment):
    for reader, where in _readers(tmp_path, "bad.jpg", data):
        with pytest.raises(ValueError) as info:
            reader("bad.jpg")
        message = str(info.value)
        assert message.startswith(f"{where}: cannot decode the image (")
        assert fragment.lower() in message.lower()


@pytest.mark.parametrize("side", [12, 30])  # over the limit (Pillow warns), over twice (it raises)
def test_a_decompression_bomb_is_an_error(tmp_path, monkeypatch, side):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    for reader, where in _readers(tmp_path, "bomb.png", _encoded((side, side), "PNG")):
        with pytest.raises(ValueError, match="possible decompression bomb") as info:
            reader("bomb.png")
        assert str(info.value).startswith(f"{where}: ")


def test_a_member_too_large_is_refused_unread(tmp_path, monkeypatch):
    archive = _zip(tmp_path / "big.zip", {"big.png": _encoded((8, 8), "PNG")})
    monkeypatch.setattr(readers, "MAX_MEMBER_BYTES", 10)
    with pytest.raises(ValueError, match=r"big.zip:big.png: \d+ bytes uncompressed; expected"):
        ZipReader(archive)("big.png")


def test_a_file_that_is_not_a_zip_is_named(tmp_path):
    path = tmp_path / "images.zip"
    path.write_bytes(b"PK\x03\x04 but no archive follows")
    with pytest.raises(ValueError, match=r"images.zip: not a readable zip archive"):
        ZipReader(path)("a.png")


def test_reading_a_zip_never_extracts(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a zip member was extracted to disk")

    monkeypatch.setattr(zipfile.ZipFile, "extract", refuse)
    monkeypatch.setattr(zipfile.ZipFile, "extractall", refuse)
    archive = _zip(tmp_path / "a.zip", {"x/a.png": _encoded((4, 4), "PNG")})
    before = sorted(tmp_path.rglob("*"))
    assert ZipReader(archive)("x/a.png").size == (4, 4)
    assert sorted(tmp_path.rglob("*")) == before


# IDX

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


def test_a_file_longer_than_its_header_says_is_rejected(tmp_path):
    path = tmp_path / "long.idx"
    path.write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 2) + bytes(5))
    with pytest.raises(ValueError, match=r"long\.idx: more than 10 bytes, expected 10"):
        read_idx(path)


def test_a_gzip_bomb_is_refused_before_it_inflates(tmp_path, monkeypatch):
    """A few KiB of gzip that would inflate past the limit: refused from its header, having
    decompressed only the header."""
    monkeypatch.setattr(readers, "MAX_IDX_BYTES", 10**6)
    body = bytes([0, 0, 8, 2]) + struct.pack(">2I", 4000, 1000)  # 4 MB of zeros
    path = tmp_path / "bomb.idx.gz"
    path.write_bytes(gzip.compress(body + bytes(4_000_000)))
    assert path.stat().st_size < 10_000
    reads = []
    real_open = gzip.open

    def spying_open(*args, **kwargs):
        f = real_open(*args, **kwargs)
        read = f.read
        f.read = lambda n=-1: reads.append(n) or read(n)
        return f

    monkeypatch.setattr(readers.gzip, "open", spying_open)
    with pytest.raises(
        ValueError, match=r"bomb\.idx\.gz: the header declares shape \(4000, 1000\)"
    ):
        read_idx(path)
    assert reads == [4, 8]


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


# CIFAR-10 batches


def test_malformed_batch_is_rejected(tmp_path):
    write_cifar_folder(tmp_path)
    bad = {"data": np.zeros((2, 100), dtype=np.uint8), "labels": [0, 1]}
    (tmp_path / BATCH_FOLDER / "test_batch").write_bytes(pickle.dumps(bad))
    with pytest.raises(ValueError, match=r"test_batch: data of dtype uint8, shape \(2, 100\)"):
        load_cifar10(str(tmp_path), download=False)


def _numpy1_protocol2(blob: bytes) -> bytes:
    """A protocol-2 pickle as numpy 1 wrote it (the distributed batches name numpy.core)."""
    return blob.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


@pytest.mark.parametrize("protocol", [2, 3, 4, 5, "numpy 1"])
def test_every_pickle_protocol_of_numpy_batches_loads(tmp_path, protocol):
    if protocol == "numpy 1":
        batches = {name: _numpy1_protocol2(blob) for name, blob in cifar_batches(2).items()}
        assert all(b"cnumpy.core.multiarray\n_reconstruct" in blob for blob in batches.values())
    else:
        batches = cifar_batches(protocol)
    write_cifar_folder(tmp_path, batches)
    splits = load_cifar10(str(tmp_path), download=False)
    assert splits.train_images[:, 0, 5, 7].tolist() == list(range(20))
    assert splits.test_labels.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("writer", [write_cifar_folder, write_cifar_archive])
def test_a_batch_with_a_pickle_payload_runs_nothing(tmp_path, writer):
    marker = tmp_path / "marker"
    batches = cifar_batches()
    evil = cifar_batch(4, 20)
    evil["labels"] = [0, 1, 2, Touch(marker)]
    batches["test_batch"] = pickle.dumps(evil)
    writer(tmp_path / "data", batches)
    with pytest.raises(ValueError) as info:
        load_cifar10(str(tmp_path / "data"), download=False)
    message = str(info.value)
    assert "test_batch: it names pathlib.Path.touch, which a CIFAR-10 batch never holds" in message
    assert "nothing in the file was run" in message and "\n" not in message
    assert not marker.exists()


@pytest.mark.parametrize(
    ("blob", "fragment"),
    [
        (bytes(range(256)) * 4, "not a readable pickle"),
        (pickle.dumps([1, 2, 3]), "expected a CIFAR-10 python batch"),
        (pickle.dumps({"data": np.zeros((1, 3072), np.uint8)}), "expected a CIFAR-10 python batch"),
        (pickle.dumps(np.zeros(3, dtype=object)), "expected a CIFAR-10 python batch"),
    ],
)
def test_a_batch_that_is_not_one_is_named(tmp_path, blob, fragment):
    batches = cifar_batches()
    batches["data_batch_2"] = blob
    write_cifar_folder(tmp_path, batches)
    with pytest.raises(ValueError, match=f"data_batch_2: .*{fragment}"):
        load_cifar10(str(tmp_path), download=False)
