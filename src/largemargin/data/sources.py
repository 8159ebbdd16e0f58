"""MNIST and Fashion-MNIST from their four IDX files, as uint8 tensors.

Looked for, in this order, under the data root (see ``locations``): torchvision's layout
``<root>/MNIST/raw/`` (``<root>/FashionMNIST/raw/``), then ``<root>/mnist/``
(``<root>/fashion-mnist/``), then ``<root>`` itself; each file may be ``.gz`` or uncompressed.
The gz files are read directly rather than through ``torchvision.datasets.MNIST``, because that
class needs the uncompressed files and extracts the archives into the data dir, which fails on
a read-only dir; nothing is ever written here unless a download is needed. torchvision's dataset
classes are used for that download (into ``<root>/MNIST/raw/``), only when the files are absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision

from largemargin.data.errors import DataNotFoundError
from largemargin.data.idx import read_idx
from largemargin.data.locations import ENV_VAR, resolve_data_root
from largemargin.data.raw import RawSplits

IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


@dataclass(frozen=True)
class _Family:
    title: str
    folders: tuple[str, ...]
    downloader: type[torchvision.datasets.MNIST]


_FAMILIES = {
    "mnist": _Family("MNIST", ("MNIST/raw", "mnist", ""), torchvision.datasets.MNIST),
    "fashion-mnist": _Family(
        "Fashion-MNIST",
        ("FashionMNIST/raw", "fashion-mnist", ""),
        torchvision.datasets.FashionMNIST,
    ),
}

MNIST_CLASSES = tuple(torchvision.datasets.MNIST.classes)
FASHION_MNIST_CLASSES = tuple(torchvision.datasets.FashionMNIST.classes)


def _find_file(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def find_idx_files(root: Path, name: str) -> tuple[dict[str, Path] | None, list[str]]:
    """The four IDX files of ``name`` ("mnist" or "fashion-mnist") under ``root``.

    Returns ``(files, report)``: ``files`` maps each stem of ``IDX_FILES`` to its path (from the
    first candidate folder holding all four), or is None; ``report`` has one line per candidate
    folder saying what was missing there.
    """
    report = []
    for sub in _FAMILIES[name].folders:
        folder = root / sub if sub else root
        found = {stem: _find_file(folder, stem) for stem in IDX_FILES}
        missing = [stem + ".gz" for stem, path in found.items() if path is None]
        if not missing:
            return {stem: path for stem, path in found.items() if path is not None}, report
        what = "all four files" if len(missing) == len(IDX_FILES) else ", ".join(missing)
        report.append(f"  {folder}: missing {what}")
    return None, report


def _not_found(name: str, root: Path, origin: str, report: list[str], why: str) -> str:
    family = _FAMILIES[name]
    return "\n".join(
        [
            f"{family.title} not found under {root} (from {origin}). Looked in:",
            *report,
            f"Put these four files (.gz as distributed, or uncompressed) into "
            f"{root / family.folders[0]} or directly into {root}:",
            "  " + ", ".join(stem + ".gz" for stem in IDX_FILES),
            f"or pass data_dir=<folder holding them> (or set {ENV_VAR}). {why}",
        ]
    )


def _as_tensors(images, labels, path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"{path.parent}: images of shape {images.shape} and labels of shape {labels.shape}; "
            "expected (N, H, W) and (N,)"
        )
    if labels.size and labels.max() >= 10:
        raise ValueError(f"{path.parent}: label {labels.max()} found, expected labels 0..9")
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels).long()


def load_mnist_family(name: str, data_dir: str | None, download: bool) -> RawSplits:
    """MNIST (``name="mnist"``) or Fashion-MNIST (``"fashion-mnist"``) as uint8 (N, 1, 28, 28).

    Downloads with torchvision into the data root only when the files are absent there and
    ``download`` is true; raises DataNotFoundError saying which files to put where otherwise.
    """
    root, origin = resolve_data_root(data_dir)
    files, report = find_idx_files(root, name)
    if files is None:
        if not download:
            raise DataNotFoundError(_not_found(name, root, origin, report, "Download is off."))
        try:
            _FAMILIES[name].downloader(str(root), train=True, download=True)
        except (OSError, RuntimeError) as err:
            why = f"Downloading into {root} failed: {err}"
            raise DataNotFoundError(_not_found(name, root, origin, report, why)) from err
        files, report = find_idx_files(root, name)
        if files is None:
            why = "A download ran but did not produce these files."
            raise DataNotFoundError(_not_found(name, root, origin, report, why))
    splits = [
        _as_tensors(
            read_idx(files[f"{p}-images-idx3-ubyte"]),
            read_idx(files[f"{p}-labels-idx1-ubyte"]),
            files[f"{p}-images-idx3-ubyte"],
        )
        for p in ("train", "t10k")
    ]
    classes = MNIST_CLASSES if name == "mnist" else FASHION_MNIST_CLASSES
    source = files["train-images-idx3-ubyte"].parent.absolute()
    return RawSplits(*splits[0], *splits[1], classes=classes, source=str(source))
