"""Build the packaged MNIST subset ``src/largemargin/data/assets/mnist_subset.npz``.

Usage::

    .venv/bin/python scripts/build_mnist_subset.py --mnist-dir ../shared/data/mnist \\
        --out src/largemargin/data/assets/mnist_subset.npz

Selection (deterministic, no random numbers): the first ``--train-per-class`` images (500) of
each digit in the standard training file and the first ``--test-per-class`` images (300) of each
digit in the test file, kept in file order. The source files are checked against the published
MD5 sums of the uncompressed MNIST files first. The output is an npz (zip, deflate) of uint8
arrays ``x_train`` (N, 28, 28), ``y_train`` (N,), ``x_test``, ``y_test`` and int32 source
positions ``train_index``, ``test_index``; zip entries carry a fixed timestamp, so a rebuild with
the same zlib yields identical bytes.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np

from largemargin.data.readers import read_idx
from largemargin.data.sources import find_idx_files

MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}


def _md5_uncompressed(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def first_per_class(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Sorted positions of the first ``per_class`` occurrences of each label 0..9."""
    chosen = []
    for digit in range(10):
        where = np.flatnonzero(labels == digit)
        if len(where) < per_class:
            raise ValueError(f"only {len(where)} images of digit {digit}, {per_class} requested")
        chosen.append(where[:per_class])
    return np.sort(np.concatenate(chosen)).astype(np.int32)


def _write_npz(out: Path, arrays: dict[str, np.ndarray]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for key, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buffer.getvalue(), compresslevel=9)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--mnist-dir",
        required=True,
        type=Path,
        help="folder holding the four MNIST IDX files (.gz or not)",
    )
    parser.add_argument("--out", required=True, type=Path, help="the .npz to write")
    parser.add_argument("--train-per-class", type=int, default=500)
    parser.add_argument("--test-per-class", type=int, default=300)
    args = parser.parse_args(argv)

    files, report = find_idx_files(args.mnist_dir, "mnist")
    if files is None:
        parser.error("MNIST IDX files not found:\n" + "\n".join(report))
    for stem, path in files.items():
        digest = _md5_uncompressed(path)
        if digest != MD5[stem]:
            parser.error(f"{path}: uncompressed md5 {digest}, expected {MD5[stem]} (not MNIST?)")

    arrays = {}
    for split, prefix, per_class in (
        ("train", "train", args.train_per_class),
        ("test", "t10k", args.test_per_class),
    ):
        images = read_idx(files[f"{prefix}-images-idx3-ubyte"])
        labels = read_idx(files[f"{prefix}-labels-idx1-ubyte"])
        index = first_per_class(labels, per_class)
        arrays[f"x_{split}"], arrays[f"y_{split}"] = images[index], labels[index]
        arrays[f"{split}_index"] = index
    _write_npz(args.out, arrays)
    sizes = ", ".join(f"{k} {v.shape}" for k, v in arrays.items())
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes): {sizes}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
