"""The dataset classes check what they are given: dtypes and shapes named in the error."""

from __future__ import annotations

import pytest
import torch

from largemargin.data import ImageFileDataset, TensorImageDataset


def test_tensor_dataset_rejects_bad_tensors():
    images = torch.zeros(3, 1, 4, 4)
    with pytest.raises(TypeError, match=r"images must be float32, got torch\.uint8"):
        TensorImageDataset(images.to(torch.uint8), torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"images must have shape \(N, C, H, W\), got \(3, 4, 4\)"):
        TensorImageDataset(images[:, 0], torch.zeros(3, dtype=torch.int64))
    with pytest.raises(TypeError, match=r"labels must be int64, got torch\.int32"):
        TensorImageDataset(images, torch.zeros(3, dtype=torch.int32))
    with pytest.raises(ValueError, match=r"labels must have shape \(3,\), got \(2,\)"):
        TensorImageDataset(images, torch.zeros(2, dtype=torch.int64))


def test_image_file_dataset_rejects_bad_labels():
    def unused(_):
        raise AssertionError("nothing is read while the dataset is made")

    with pytest.raises(TypeError, match=r"labels must be int64, got torch\.int32"):
        ImageFileDataset(unused, ["a.png", "b.png"], torch.zeros(2, dtype=torch.int32), unused)
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\), got \(3,\)"):
        ImageFileDataset(unused, ["a.png", "b.png"], torch.zeros(3, dtype=torch.int64), unused)
