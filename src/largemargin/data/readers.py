"""The file formats datasets come in, each parsed so that a crafted file cannot run code.

- IDX (MNIST, Fashion-MNIST), gzip-compressed or not: the header and bytes are parsed, nothing
  is unpickled (``read_idx``).
- CIFAR-10 python batches: Python pickles, as distributed, read by a restricted unpickler that
  builds only what the format holds (dicts, lists, strings, bytes, numbers and numpy arrays) and
  refuses any other class or function a file names (``read_cifar_batch``).
- Image files by relative path, in a directory or inside a zip archive (``DirectoryReader``,
  ``ZipReader``). Both readers are picklable and safe in DataLoader worker processes: the zip
  reader opens the archive lazily, once per process (a forked worker never reuses its parent's
  file handle, and a spawned worker receives the path only). Zip members are read into memory,
  never extracted to disk. A file that cannot be decoded (truncated, corrupt, not an image), an
  image over Pillow's pixel limit (``PIL.Image.MAX_IMAGE_PIXELS``: its decompression-bomb
  warning is an error here), or a zip member that is unreadable or larger than
  ``MAX_MEMBER_BYTES`` is refused.

A file that is not what its reader expects raises ValueError naming the file.
"""

from __future__ import annotations

import codecs
import gzip
import io
import os
import pickle
import struct
import warnings
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # numpy 1
    from numpy.core import multiarray as _multiarray
    from numpy.core import numeric as _numeric

# IDX

_UBYTE = 0x08


MAX_IDX_BYTES = 2**31
"""The largest IDX body read (2 GiB; all of EMNIST's training images take 0.55 GiB). The header
declares the size, so a small gzip file that would inflate to more is refused before its body
is decompressed."""


def read_idx(path: str | Path) -> np.ndarray:
    """The uint8 array stored in an IDX file; ``path`` ending in ``.gz`` is decompressed on the fly.

    Shape is the one in the file header, e.g. (60000, 28, 28) for MNIST training images and
    (60000,) for its labels. Only the unsigned-byte element type (code 0x08) is supported.
    Raises ValueError naming the file when it is not a well-formed IDX file or declares more
    than ``MAX_IDX_BYTES``; never reads more than the header declares (plus one byte).
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            magic = f.read(4)
            if len(magic) < 4 or magic[:2] != b"\x00\x00":
                raise ValueError(f"{path}: not an IDX file (the first two bytes must be zero)")
            if magic[2] != _UBYTE:
                raise ValueError(
                    f"{path}: IDX element type {magic[2]:#04x}, expected {_UBYTE:#04x} (uint8)"
                )
            ndim = magic[3]
            dims = f.read(4 * ndim)
            if len(dims) < 4 * ndim:
                raise ValueError(f"{path}: truncated IDX header")
            shape = struct.unpack(f">{ndim}I", dims)
            size = int(np.prod(shape, dtype=np.int64))
            if size > MAX_IDX_BYTES:
                raise ValueError(
                    f"{path}: the header declares shape {shape} ({size} bytes), more than the "
                    f"{MAX_IDX_BYTES} this reader accepts"
                )
            body = f.read(size + 1)  # one byte more tells a file that is too long
    except (gzip.BadGzipFile, EOFError) as err:
        raise ValueError(f"{path}: not a valid gzip file ({err})") from err
    if len(body) != size:
        header = 4 + 4 * ndim
        found = f"more than {header + size}" if len(body) > size else f"{header + len(body)}"
        raise ValueError(f"{path}: {found} bytes, expected {header + size} for shape {shape}")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape).copy()


# CIFAR-10 python batches


class _Refused(pickle.UnpicklingError):
    """A batch's pickle asks for something outside what the format holds."""


def _latin1_bytes(text: str, encoding: str) -> bytes:
    """``_codecs.encode`` as Python 3 pickles bytes under protocols 0-2, for latin-1 only."""
    if encoding not in ("latin1", "latin-1"):
        raise _Refused(f"it encodes bytes as {encoding!r}, not latin1")
    return codecs.encode(text, encoding)


# The only globals a batch's pickle may name: numpy's array and dtype reconstruction (numpy 1
# wrote numpy.core, numpy 2 writes numpy._core; _frombuffer is pickle protocol 5's), and
# _codecs.encode, which Python 3 uses for bytes under protocols 0-2.
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _numeric._frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _numeric._frombuffer,
    ("_codecs", "encode"): _latin1_bytes,
}


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles plain values and numpy arrays only; any other global raises UnpicklingError."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise _Refused(
                f"it names {module}.{name}, which a CIFAR-10 batch never holds: refused, "
                "nothing in the file was run"
            ) from None


def read_cifar_batch(f: BinaryIO, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3072) uint8 and labels (N,) int64 of the batch pickle ``f`` (named ``where``
    in errors); ValueError when it is not a CIFAR-10 python batch."""
    expected = "expected a CIFAR-10 python batch (a dict with data and labels)"
    try:
        entry = _BatchUnpickler(f, encoding="latin1").load()
    except _Refused as error:
        raise ValueError(f"{where}: {error}; {expected}") from error
    except Exception as error:  # any other failure to parse the file: not a pickle at all
        raise ValueError(
            f"{where}: not a readable pickle ({type(error).__name__}: {error}); {expected}"
        ) from error
    if not isinstance(entry, dict) or not {"data", "labels"} <= entry.keys():
        raise ValueError(f"{where}: {expected}")
    data = np.asarray(entry["data"])
    labels = np.asarray(entry["labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(
            f"{where}: data of dtype {data.dtype}, shape {data.shape}; expected uint8 (N, 3072)"
        )
    if labels.shape != (len(data),) or (labels.size and not 0 <= labels.min() <= labels.max() < 10):
        raise ValueError(f"{where}: expected {len(data)} labels in 0..9")
    return data, labels


# Image files in a directory or a zip

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
