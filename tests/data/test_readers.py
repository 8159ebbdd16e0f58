"""Image readers on untrusted files: corrupt or truncated images, decompression bombs and odd
zip members get a ValueError naming the file; nothing is ever extracted to disk."""

from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image

from largemargin.data import readers
from largemargin.data.readers import DirectoryReader, ZipReader


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
