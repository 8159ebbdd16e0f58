"""An ImageFolder tree or zip of small images (CIFAR-10 as JPEGs), decoded once into memory.

Decoding 60000 JPEGs takes about a minute on one core, and per item in every epoch it would
cost more than training a small network on them. So the images are decoded once into uint8
tensors (N, 3, S, S) and cached on disk: beside the data (``<zip>.decoded<S>.pt``, or
``<dir>/.largemargin-decoded<S>.pt``) when that folder is writable and not marked read-only,
else in the per-user cache
(``<cache>/decoded/<fingerprint>-<S>.pt``). The cache records a fingerprint of its source (the
zip's SHA-256; for a directory, the SHA-256 of every image's path, size and modification time)
and the SHA-256 of its own pixels: a cache whose source changed, or whose contents do not match
their checksum, is decoded again and rewritten. Cache files are read weights-only (tensors and
plain types; nothing in them is run).
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from largemargin.data.image_folder import FileList, FolderListing
from largemargin.data.sources import RawSplits, default_cache_dir
from largemargin.files import write_atomic

CACHE_FORMAT = 1


def fingerprint(listing: FolderListing) -> str:
    """SHA-256 (hex) of the source: a zip's bytes; a directory's image paths, sizes and
    modification times (in listing order)."""
    digest = hashlib.sha256()
    if listing.layout == "zip":
        with open(listing.root, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    for files in (listing.train, listing.test):
        for relative in files.paths:
            stat = (listing.root / relative).stat()
            digest.update(f"{relative}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _pixels_checksum(*tensors: torch.Tensor) -> str:
    digest = hashlib.sha256()
    for t in tensors:
        digest.update(t.contiguous().numpy().tobytes())
    return digest.hexdigest()


def cache_paths(listing: FolderListing, size: int, source_hash: str) -> list[Path]:
    """Where the cache may be, in the order looked: beside the data, then the user cache."""
    root = listing.root
    beside = (
        root.with_name(f"{root.name}.decoded{size}.pt")
        if listing.layout == "zip"
        else root / f".largemargin-decoded{size}.pt"
    )
    return [beside, default_cache_dir() / "decoded" / f"{source_hash[:16]}-{size}.pt"]


def _decode(files: FileList, listing: FolderListing, size: int) -> torch.Tensor:
    """uint8 (N, 3, size, size) of ``files``; ValueError naming the first image of another
    size."""
    out = np.empty((len(files.paths), size, size, 3), dtype=np.uint8)
    for i, relative in enumerate(files.paths):
        image = listing.reader(relative)
        if image.size != (size, size):
            raise ValueError(
                f"{listing.root}: {relative} is {image.size[0]}x{image.size[1]} pixels; "
                f"expected every image {size}x{size} to decode it into memory"
            )
        out[i] = np.asarray(image)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def _read_cache(path: Path, source_hash: str, size: int) -> dict | None:
    """The cache at ``path`` if it is of this source and size and its pixels match their
    checksum; None otherwise (absent, stale or damaged)."""
    if not path.is_file():
        return None
    try:
        cache = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a damaged file of any kind is decoded again
        return None
    keys = {"format", "source_sha256", "size", "pixels_sha256", "train", "test", "classes"}
    if not isinstance(cache, dict) or set(cache) != keys or cache["format"] != CACHE_FORMAT:
        return None
    if cache["source_sha256"] != source_hash or cache["size"] != size:
        return None
    images = (cache["train"][0], cache["test"][0])
    if _pixels_checksum(*images) != cache["pixels_sha256"]:
        return None
    return cache


def _writable(folder: Path) -> bool:
    """Whether ``folder`` may be written: it exists or can be made, the process may write it,
    and its mode grants write to someone (a folder marked read-only stays untouched even for
    root, whom permission bits do not stop)."""
    while not folder.exists():
        folder = folder.parent
    return os.access(folder, os.W_OK) and bool(folder.stat().st_mode & 0o222)


def _write_cache(paths: list[Path], cache: dict) -> Path | None:
    """Write ``cache`` to the first of ``paths`` that can be written; None if none can."""
    buffer = io.BytesIO()
    torch.save(cache, buffer)
    for path in paths:
        if not _writable(path.parent):
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return write_atomic(path, buffer.getvalue())
        except OSError:
            continue
    return None


def load_decoded(listing: FolderListing, size: int) -> RawSplits:
    """The train and test images of ``listing`` as uint8 (N, 3, size, size) with their labels,
    from the cache when it is valid, else decoded (one line on stderr says so and where the cache
    went). ``listing.test`` is taken in its given order (pass it class-interleaved). Raises
    ValueError when an image is not ``size`` x ``size`` or the tree has a val/ folder (the
    in-memory splits are train and test)."""
    if listing.val is not None:
        raise ValueError(
            f"{listing.root}: has a val/ folder beside test/; decoding into memory takes train/ "
            "and test/ only (hold out a validation split with val_split instead)"
        )
    source_hash = fingerprint(listing)
    paths = cache_paths(listing, size, source_hash)
    cache = next((c for c in (_read_cache(p, source_hash, size) for p in paths) if c), None)
    if cache is None:
        start = time.perf_counter()
        n = len(listing.train.paths) + len(listing.test.paths)
        print(f"decoding {n} images of {listing.root} once ...", file=sys.stderr, flush=True)
        train = (_decode(listing.train, listing, size), listing.train.labels)
        test = (_decode(listing.test, listing, size), listing.test.labels)
        cache = {
            "format": CACHE_FORMAT,
            "source_sha256": source_hash,
            "size": size,
            "pixels_sha256": _pixels_checksum(train[0], test[0]),
            "train": train,
            "test": test,
            "classes": list(listing.classes),
        }
        written = _write_cache(paths, cache)
        where = f"cached at {written}" if written else "not cached: no writable place"
        took = time.perf_counter() - start
        print(f"decoded in {took:.0f} s, {where}", file=sys.stderr, flush=True)
    return RawSplits(
        cache["train"][0],
        cache["train"][1],
        cache["test"][0],
        cache["test"][1],
        classes=tuple(cache["classes"]),
        source=os.fspath(listing.root.absolute()),
    )
