"""Where each in-memory dataset's files are found, and its splits as stored (``RawSplits``).

The data root: the ``data_dir`` argument, else the ``LARGEMARGIN_DATA`` environment variable (an
empty value counts as unset), else the per-user cache ``$XDG_CACHE_HOME/largemargin/data`` (by
default ``~/.cache/largemargin/data``). The same folder is the download target when files are
absent. Files are read where they are (parsed by ``readers``) and nothing is written beside them;
torchvision's dataset classes are used only to download, when nothing is found.

- ``mnist-subset``: the packaged asset ``assets/mnist_subset.npz``, uint8 arrays ``x_train``
  (5000, 28, 28), ``y_train`` (5000,), ``x_test`` (3000, 28, 28), ``y_test`` (3000,) and the
  positions ``train_index`` / ``test_index`` of those images in the original MNIST files: the
  first 500 images of each digit of the training file and the first 300 of each digit of the
  test file, in file order. It is built by ``scripts/build_mnist_subset.py``; see
  ``assets/MNIST_SUBSET_LICENSE.md`` (CC BY-SA 3.0).
- ``mnist`` / ``fashion-mnist``: the four IDX files, looked for under the root in torchvision's
  layout ``<root>/MNIST/raw/`` (``<root>/FashionMNIST/raw/``), then ``<root>/mnist/``
  (``<root>/fashion-mnist/``), then ``<root>`` itself; each file may be ``.gz`` or uncompressed.
  They are read directly rather than through ``torchvision.datasets.MNIST``, which needs the
  uncompressed files and extracts the archives into the data dir (failing on a read-only dir).
  A download goes into ``<root>/MNIST/raw/``.
- ``cifar10``: the python batches in torchvision's layout ``<root>/cifar-10-batches-py/``, then
  in ``<root>`` itself, then inside the unextracted archive ``<root>/cifar-10-python.tar.gz``
  (read in place), so that the same code reads the folder and the archive without writing
  anything; a download goes into ``<root>``, extracted to ``<root>/cifar-10-batches-py/``.

Absent files raise ``DataNotFoundError`` naming every place looked in and what to put where.
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torchvision

from largemargin.data.readers import read_cifar_batch, read_idx

ENV_VAR = "LARGEMARGIN_DATA"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/largemargin/data``, or ``~/.cache/largemargin/data`` when it is unset."""
    cache = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(cache).expanduser() / "largemargin" / "data"


def resolve_data_root(data_dir: str | None) -> tuple[Path, str]:
    """The data root and a phrase saying where it came from (for error messages and records)."""
    if data_dir is not None:
        return Path(data_dir).expanduser(), "data_dir"
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser(), f"${ENV_VAR}"
    return default_cache_dir(), "the default cache (no data_dir, no $LARGEMARGIN_DATA)"


class DataNotFoundError(FileNotFoundError):
    """A dataset's files are not where they were looked for and could not be downloaded.

    The message names every place looked in, the exact files expected there, and how to point
    the loader at them (``DataConfig.data_dir`` or the ``LARGEMARGIN_DATA`` environment variable).
    """


@dataclass(frozen=True)
class RawSplits:
    """A small image dataset as stored on disk.

    Images are uint8 tensors of shape (N, C, H, W) with pixel values 0..255; labels are int64
    tensors of shape (N,) with values in [0, len(classes)). ``source`` says where it was read from.
    """

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: tuple[str, ...]
    source: str


# MNIST and Fashion-MNIST

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


def _mnist_not_found(name: str, root: Path, origin: str, report: list[str], why: str) -> str:
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
            why = "Download is off."
            raise DataNotFoundError(_mnist_not_found(name, root, origin, report, why))
        try:
            _FAMILIES[name].downloader(str(root), train=True, download=True)
        except (OSError, RuntimeError) as err:
            why = f"Downloading into {root} failed: {err}"
            raise DataNotFoundError(_mnist_not_found(name, root, origin, report, why)) from err
        files, report = find_idx_files(root, name)
        if files is None:
            why = "A download ran but did not produce these files."
            raise DataNotFoundError(_mnist_not_found(name, root, origin, report, why))
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


# The packaged MNIST subset

SUBSET_ASSET = "assets/mnist_subset.npz"


def load_mnist_subset() -> RawSplits:
    """The packaged MNIST subset: uint8 images (5000, 1, 28, 28) train, (3000, 1, 28, 28) test."""
    ref = resources.files("largemargin.data").joinpath(SUBSET_ASSET)
    if not ref.is_file():
        raise DataNotFoundError(
            f"the packaged MNIST subset {ref} is missing: reinstall largemargin, or rebuild it "
            "with scripts/build_mnist_subset.py --mnist-dir <MNIST folder> --out " + str(ref)
        )
    with ref.open("rb") as f, np.load(f) as npz:
        arrays = {key: npz[key] for key in ("x_train", "y_train", "x_test", "y_test")}
    return RawSplits(
        train_images=torch.from_numpy(arrays["x_train"]).unsqueeze(1),
        train_labels=torch.from_numpy(arrays["y_train"]).long(),
        test_images=torch.from_numpy(arrays["x_test"]).unsqueeze(1),
        test_labels=torch.from_numpy(arrays["y_test"]).long(),
        classes=MNIST_CLASSES,
        source=f"package asset largemargin/data/{SUBSET_ASSET}",
    )


# CIFAR-10

BATCH_FOLDER = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
_CIFAR_BATCHES = TRAIN_BATCHES + TEST_BATCHES


def _read_cifar_folder(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    batches = {}
    for name in _CIFAR_BATCHES:
        with open(folder / name, "rb") as f:
            batches[name] = read_cifar_batch(f, str(folder / name))
    return batches


def _read_cifar_archive(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    batches = {}
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            name = Path(member.name).name
            if member.isfile() and name in _CIFAR_BATCHES and name not in batches:
                f = tar.extractfile(member)
                if f is not None:
                    batches[name] = read_cifar_batch(f, f"{path}:{member.name}")
    missing = [name for name in _CIFAR_BATCHES if name not in batches]
    if missing:
        raise DataNotFoundError(f"{path} lacks the CIFAR-10 batches {', '.join(missing)}")
    return batches


def _locate_cifar10(root: Path) -> tuple[Path | None, list[str]]:
    """The batch folder or archive under ``root`` (None if absent) and a line per place looked."""
    report = []
    for folder in (root / BATCH_FOLDER, root):
        missing = [name for name in _CIFAR_BATCHES if not (folder / name).is_file()]
        if not missing:
            return folder, report
        every = len(missing) == len(_CIFAR_BATCHES)
        what = "all six batch files" if every else ", ".join(missing)
        report.append(f"  {folder}: missing {what}")
    if (root / ARCHIVE).is_file():
        return root / ARCHIVE, report
    report.append(f"  {root / ARCHIVE}: absent")
    return None, report


def _cifar_not_found(root: Path, origin: str, report: list[str], why: str) -> str:
    return "\n".join(
        [
            f"CIFAR-10 not found under {root} (from {origin}). Looked in:",
            *report,
            f"Put {ARCHIVE} (the python version from https://www.cs.toronto.edu/~kriz/cifar.html)"
            f" into {root}, or its extracted folder {BATCH_FOLDER}/ (batches.meta, "
            f"{', '.join(_CIFAR_BATCHES)}), or pass data_dir=<folder holding them> (or set "
            f"{ENV_VAR}).",
            'An ImageFolder tree or zip of JPEGs loads with name="folder" instead. ' + why,
        ]
    )


def _stack_batches(batches, names) -> tuple[torch.Tensor, torch.Tensor]:
    data = np.concatenate([batches[n][0] for n in names]).reshape(-1, 3, 32, 32)
    labels = np.concatenate([batches[n][1] for n in names])
    return torch.from_numpy(data), torch.from_numpy(labels)


def load_cifar10(data_dir: str | None, download: bool) -> RawSplits:
    """CIFAR-10 as uint8 (50000, 3, 32, 32) train and (10000, 3, 32, 32) test images.

    Downloads with torchvision into the data root only when nothing is found there and
    ``download`` is true; raises DataNotFoundError saying which files to put where otherwise.
    """
    root, origin = resolve_data_root(data_dir)
    found, report = _locate_cifar10(root)
    if found is None:
        if not download:
            raise DataNotFoundError(_cifar_not_found(root, origin, report, "Download is off."))
        try:
            torchvision.datasets.CIFAR10(str(root), train=True, download=True)
        except (OSError, RuntimeError) as err:
            why = f"Downloading into {root} failed: {err}"
            raise DataNotFoundError(_cifar_not_found(root, origin, report, why)) from err
        found, report = _locate_cifar10(root)
        if found is None:
            why = "A download ran but did not produce these files."
            raise DataNotFoundError(_cifar_not_found(root, origin, report, why))
    batches = _read_cifar_archive(found) if found.is_file() else _read_cifar_folder(found)
    return RawSplits(
        *_stack_batches(batches, TRAIN_BATCHES),
        *_stack_batches(batches, TEST_BATCHES),
        classes=CIFAR10_CLASSES,
        source=str(found.absolute()),
    )
