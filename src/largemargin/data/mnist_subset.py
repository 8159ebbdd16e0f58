"""The offline default: a class-balanced real MNIST subset shipped inside the package.

``assets/mnist_subset.npz`` holds uint8 arrays ``x_train`` (5000, 28, 28), ``y_train`` (5000,),
``x_test`` (3000, 28, 28), ``y_test`` (3000,) and the positions ``train_index`` / ``test_index``
of those images in the original MNIST files: the first 500 images of each digit of the training
file and the first 300 of each digit of the test file, in file order. It is built by
``scripts/build_mnist_subset.py``; see ``assets/MNIST_SUBSET_LICENSE.md`` (CC BY-SA 3.0).
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import torch

from largemargin.data.errors import DataNotFoundError
from largemargin.data.raw import RawSplits
from largemargin.data.sources import MNIST_CLASSES

ASSET = "assets/mnist_subset.npz"


def load_mnist_subset() -> RawSplits:
    """The packaged MNIST subset: uint8 images (5000, 1, 28, 28) train, (3000, 1, 28, 28) test."""
    ref = resources.files("largemargin.data").joinpath(ASSET)
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
        source=f"package asset largemargin/data/{ASSET}",
    )
