"""Opening image files by their relative path, in a directory or inside a zip archive.

Both readers are picklable and safe in DataLoader worker processes: the zip reader opens the
archive lazily, once per process (a forked worker never reuses its parent's file handle, and a
spawned worker receives the path only). Zip members are read into memory, never extracted to
disk. A file that cannot be decoded (truncated, corrupt, not an image), an image over Pillow's
pixel limit (``PIL.Image.MAX_IMAGE_PIXELS``: its decompression-bomb warning is an error here),
or a zip member that is unreadable or larger than ``MAX_MEMBER_BYTES`` raises ValueError naming
the file.
"""

from __future__ import annotations

import io
import os
import warnings
import zipfile
from pathlib import Path
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

MAX_MEMBER_BYTES = 1 << 28
"""The largest zip member read (256 MiB uncompressed): a bigger one is refused unread."""


def _why(error: Exception) -> str:
    if isinstance(error, UnidentifiedImageError):
        return "not an image format Pillow can read"
    if isinstance(error, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return f"a possible decompression bomb: {error}"
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def decode_rgb(source: str | Path | BinaryIO, where: str) -> Image.Image:
    """Decode the image file ``source`` (a path or a binary file) to an RGB PIL image.

    Raises ValueError naming ``where`` when it cannot be decoded in full, or when its pixel count
    exceeds ``PIL.Image.MAX_IMAGE_PIXELS``.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                return image.convert("RGB")
    except Exception as error:  # any failure to decode a file means it is not a usable image
        raise ValueError(f"{where}: cannot decode the image ({_why(error)})") from error


class DirectoryReader:
    """Reads ``<root>/<relative path>`` as an RGB PIL image."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def __call__(self, relative: str) -> Image.Image:
        path = self.root / relative
        return decode_rgb(path, str(path))


class ZipReader:
    """Reads the member ``relative`` of the zip archive at ``path`` as an RGB PIL image."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._zip: zipfile.ZipFile | None = None
        self._pid: int | None = None

    def _archive(self) -> zipfile.ZipFile:
        if self._zip is None or self._pid != os.getpid():
            self._zip = open_zip(self.path)
            self._pid = os.getpid()
        return self._zip

    def __call__(self, relative: str) -> Image.Image:
        where = f"{self.path}:{relative}"
        archive = self._archive()
        try:
            info = archive.getinfo(relative)
        except KeyError:
            raise ValueError(f"{where}: no such member in the archive") from None
        if info.file_size > MAX_MEMBER_BYTES:
            raise ValueError(
                f"{where}: {info.file_size} bytes uncompressed; expected an image of at most "
                f"{MAX_MEMBER_BYTES} bytes"
            )
        try:
            data = archive.read(info)
        except Exception as error:  # corrupt, encrypted or unsupported member
            raise ValueError(f"{where}: cannot read the member ({_why(error)})") from error
        return decode_rgb(io.BytesIO(data), where)

    def __getstate__(self) -> dict:
        return {"path": self.path, "_zip": None, "_pid": None}


def open_zip(path: Path) -> zipfile.ZipFile:
    """The zip archive at ``path``, open for reading; ValueError naming it if it is not one."""
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        raise ValueError(f"{path}: not a readable zip archive ({_why(error)})") from error
