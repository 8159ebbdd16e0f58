"""Listing an ImageFolder-layout dataset in a directory or a zip of one (no image is decoded).

Layout: ``train/<class>/<files>`` plus ``test/<class>/<files>`` or ``val/<class>/<files>``
(files may sit in sub-folders of a class folder). With only ``val/``, it is the test split (the
ImageNet convention); with both, ``test/`` is the test split and ``val/`` the validation split.
A zip may wrap the tree in one top-level folder. Image files are those with torchvision's
extensions (case-insensitive); names starting with "." and ``__MACOSX`` are skipped. Classes are
the sorted names of the ``train/`` class folders holding at least one image, for every split,
so a label means the same class in all splits.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

import torch
from torchvision.datasets.folder import IMG_EXTENSIONS

from largemargin.data.readers import DirectoryReader, ZipReader, open_zip
from largemargin.data.sources import DataNotFoundError

SPLIT_DIRS = ("train", "val", "test")


@dataclass(frozen=True)
class FileList:
    """Paths relative to the reader's root (or zip member names) and their int64 labels (N,)."""

    paths: list[str]
    labels: torch.Tensor


@dataclass(frozen=True)
class FolderListing:
    """What the ImageFolder directory or zip at ``root`` holds (``layout``: "directory" or "zip").
    ``val`` is None unless ``val/`` and ``test/`` are both present; ``split_dirs`` maps "train",
    "test" (and "val") to the folder used."""

    root: Path
    reader: DirectoryReader | ZipReader
    layout: str
    classes: tuple[str, ...]
    train: FileList
    test: FileList
    val: FileList | None
    split_dirs: dict[str, str]


def _is_image(parts: list[str]) -> bool:
    skipped = any(p.startswith(".") or p == "__MACOSX" for p in parts)
    return not skipped and parts[-1].lower().endswith(IMG_EXTENSIONS)


def _directory_files(root: Path) -> list[str]:
    found = []
    for split in SPLIT_DIRS:
        for folder, _, names in os.walk(root / split, followlinks=True):
            relative = Path(folder).relative_to(root).as_posix()
            found.extend(f"{relative}/{name}" for name in names)
    return found


def _leaves_root(name: str) -> bool:
    """Whether the zip member ``name`` is absolute or climbs out of the archive's root with
    ``..``, read as a POSIX or a Windows path."""
    return any(p.anchor or ".." in p.parts for p in (PurePosixPath(name), PureWindowsPath(name)))


def _zip_files(path: Path) -> tuple[list[str], str]:
    """Member names relative to the tree's root, and the wrapping folder prefix ("" if none).
    ValueError naming the archive if any member name leaves the archive's root."""
    with open_zip(path) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
    escaping = [n for n in names if _leaves_root(n)]
    if escaping:
        raise ValueError(
            f"{path}: member {escaping[0]!r} leaves the archive's root (an absolute name or "
            "'..'); expected member names relative to the archive's root"
        )
    tops = sorted({n.split("/")[0] for n in names if _is_image(n.split("/"))})
    wrapped = len(tops) == 1 and tops[0] not in SPLIT_DIRS
    prefix = f"{tops[0]}/" if wrapped else ""
    return [n[len(prefix) :] for n in names if n.startswith(prefix)], prefix


def list_image_folder(path: str | Path) -> FolderListing:
    """List an ImageFolder directory or ``.zip`` without decoding any image.

    Raises DataNotFoundError when the path, ``train/`` or both evaluation folders are absent,
    ValueError when the path is a file but not a readable zip, a zip member's name leaves the
    archive's root, or an evaluation split has a class that ``train/`` lacks.
    """
    path = Path(path).expanduser()
    expected = (
        "expected a directory or .zip holding train/<class>/<images> and "
        "test/<class>/<images> or val/<class>/<images>"
    )
    if path.is_dir():
        reader, layout, prefix = DirectoryReader(path), "directory", ""
        files = _directory_files(path)
    elif path.is_file():
        if not zipfile.is_zipfile(path):
            raise ValueError(f"{path}: not a zip archive; {expected}")
        reader, layout = ZipReader(path), "zip"
        files, prefix = _zip_files(path)
    else:
        raise DataNotFoundError(f"no ImageFolder dataset at {path}: {expected}")

    by_split: dict[str, list[tuple[str, str]]] = {}
    for relative in sorted(files):
        parts = relative.split("/")
        if len(parts) >= 3 and parts[0] in SPLIT_DIRS and _is_image(parts):
            by_split.setdefault(parts[0], []).append((parts[1], prefix + relative))
    present = sorted(by_split)
    if "train" not in by_split or not {"val", "test"} & set(by_split):
        found = f"images in {present}" if present else "no images in split folders"
        raise DataNotFoundError(f"{path} holds {found}; {expected}")

    classes = tuple(sorted({cls for cls, _ in by_split["train"]}))
    index = {cls: i for i, cls in enumerate(classes)}
    for split, items in by_split.items():
        unknown = sorted({cls for cls, _ in items} - index.keys())
        if unknown:
            raise ValueError(
                f"{path}: {split}/ has {len(unknown)} classes that train/ lacks (first: "
                f"{unknown[:5]}); every evaluation class must also be a train/ class"
            )

    def file_list(split: str) -> FileList:
        items = by_split[split]
        labels = torch.tensor([index[cls] for cls, _ in items], dtype=torch.int64)
        return FileList([member for _, member in items], labels)

    test_dir = "test" if "test" in by_split else "val"
    split_dirs = {"train": "train", "test": test_dir}
    if "val" in by_split and test_dir == "test":
        split_dirs["val"] = "val"
    return FolderListing(
        root=path,
        reader=reader,
        layout=layout,
        classes=classes,
        train=file_list("train"),
        test=file_list(test_dir),
        val=file_list("val") if "val" in split_dirs else None,
        split_dirs=split_dirs,
    )
