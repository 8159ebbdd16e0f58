"""CIFAR-10 from its python pickle batches, as uint8 tensors (N, 3, 32, 32).

Looked for under the data root (see ``locations``): torchvision's layout
``<root>/cifar-10-batches-py/``, then ``<root>`` itself holding the batch files, then the
unextracted archive ``<root>/cifar-10-python.tar.gz`` (read in place). The batches are parsed
here rather than by ``torchvision.datasets.CIFAR10``, so that the same code reads the folder and
the archive without writing anything into the data dir; torchvision's class is used only to
download (into ``<root>``, extracted to ``<root>/cifar-10-batches-py/``) when both are absent.
The batches are Python pickles, as distributed; they are read by a restricted unpickler that
builds only what the format holds (dicts, lists, strings, bytes, numbers and numpy arrays) and
refuses any other class or function a file names, so a crafted batch cannot run code.
"""

from __future__ import annotations

import codecs
import pickle
import tarfile
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
import torchvision

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # numpy 1
    from numpy.core import multiarray as _multiarray
    from numpy.core import numeric as _numeric

from largemargin.data.errors import DataNotFoundError
from largemargin.data.locations import ENV_VAR, resolve_data_root
from largemargin.data.raw import RawSplits

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
_ALL = TRAIN_BATCHES + TEST_BATCHES


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


def _parse_batch(f: BinaryIO, where: str) -> tuple[np.ndarray, np.ndarray]:
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


def _read_folder(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    batches = {}
    for name in _ALL:
        with open(folder / name, "rb") as f:
            batches[name] = _parse_batch(f, str(folder / name))
    return batches


def _read_archive(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    batches = {}
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            name = Path(member.name).name
            if member.isfile() and name in _ALL and name not in batches:
                f = tar.extractfile(member)
                if f is not None:
                    batches[name] = _parse_batch(f, f"{path}:{member.name}")
    missing = [name for name in _ALL if name not in batches]
    if missing:
        raise DataNotFoundError(f"{path} lacks the CIFAR-10 batches {', '.join(missing)}")
    return batches


def _locate(root: Path) -> tuple[Path | None, list[str]]:
    """The batch folder or archive under ``root`` (None if absent) and a line per place looked."""
    report = []
    for folder in (root / BATCH_FOLDER, root):
        missing = [name for name in _ALL if not (folder / name).is_file()]
        if not missing:
            return folder, report
        what = "all six batch files" if len(missing) == len(_ALL) else ", ".join(missing)
        report.append(f"  {folder}: missing {what}")
    if (root / ARCHIVE).is_file():
        return root / ARCHIVE, report
    report.append(f"  {root / ARCHIVE}: absent")
    return None, report


def _not_found(root: Path, origin: str, report: list[str], why: str) -> str:
    return "\n".join(
        [
            f"CIFAR-10 not found under {root} (from {origin}). Looked in:",
            *report,
            f"Put {ARCHIVE} (the python version from https://www.cs.toronto.edu/~kriz/cifar.html)"
            f" into {root}, or its extracted folder {BATCH_FOLDER}/ (batches.meta, "
            f"{', '.join(_ALL)}), or pass data_dir=<folder holding them> (or set {ENV_VAR}).",
            'An ImageFolder tree or zip of JPEGs loads with name="folder" instead. ' + why,
        ]
    )


def _stack(batches, names) -> tuple[torch.Tensor, torch.Tensor]:
    data = np.concatenate([batches[n][0] for n in names]).reshape(-1, 3, 32, 32)
    labels = np.concatenate([batches[n][1] for n in names])
    return torch.from_numpy(data), torch.from_numpy(labels)


def load_cifar10(data_dir: str | None, download: bool) -> RawSplits:
    """CIFAR-10 as uint8 (50000, 3, 32, 32) train and (10000, 3, 32, 32) test images.

    Downloads with torchvision into the data root only when nothing is found there and
    ``download`` is true; raises DataNotFoundError saying which files to put where otherwise.
    """
    root, origin = resolve_data_root(data_dir)
    found, report = _locate(root)
    if found is None:
        if not download:
            raise DataNotFoundError(_not_found(root, origin, report, "Download is off."))
        try:
            torchvision.datasets.CIFAR10(str(root), train=True, download=True)
        except (OSError, RuntimeError) as err:
            why = f"Downloading into {root} failed: {err}"
            raise DataNotFoundError(_not_found(root, origin, report, why)) from err
        found, report = _locate(root)
        if found is None:
            why = "A download ran but did not produce these files."
            raise DataNotFoundError(_not_found(root, origin, report, why))
    batches = _read_archive(found) if found.is_file() else _read_folder(found)
    return RawSplits(
        *_stack(batches, TRAIN_BATCHES),
        *_stack(batches, TEST_BATCHES),
        classes=CIFAR10_CLASSES,
        source=str(found.absolute()),
    )
