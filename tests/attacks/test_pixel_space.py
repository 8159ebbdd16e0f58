"""Pixel space: a model wrapped with Normalize on un-normalised inputs gives the model's own
logits on the normalised dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from largemargin.attacks import Normalize, pixel_space, to_pixels
from largemargin.data import IMAGENET_MEAN, IMAGENET_STD, DataConfig, build_datasets


def write_folder(root, n_per_class: int = 3, size: int = 8) -> None:
    """train/ and test/ folders of random RGB PNG images, two classes."""
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for label in ("a", "b"):
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(n_per_class):
                pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")


def test_wrapped_model_on_pixels_gives_the_models_logits_on_normalised_inputs(tmp_path):
    write_folder(tmp_path)
    bundle = build_datasets(DataConfig("folder", data_dir=str(tmp_path), image_size=8))
    assert bundle.mean == IMAGENET_MEAN and bundle.std == IMAGENET_STD  # normalised by default
    x = torch.stack([bundle.test[i][0] for i in range(len(bundle.test))])
    assert x.min() < -0.5 and x.max() > 1.5  # not pixels
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 2))

    pixels = to_pixels(x, bundle.mean, bundle.std)
    wrapped = pixel_space(model, bundle.mean, bundle.std)

    assert pixels.min() >= 0 and pixels.max() <= 1
    assert pixels.min() < 0.05 and pixels.max() > 0.95  # the full pixel range is used
    # the images were 8-bit: pixels are multiples of 1/255 up to float round-off
    assert (pixels * 255 - (pixels * 255).round()).abs().max() < 1e-3
    torch.testing.assert_close(wrapped(pixels), model(x), rtol=1e-5, atol=1e-5)
    assert wrapped[1] is model


def test_normalize_moves_with_the_model_and_keeps_the_input_dtype():
    norm = Normalize([0.5, 0.25], [0.5, 2.0]).double()
    x = torch.ones(1, 2, 1, 1, dtype=torch.float64)
    out = norm(x)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out.flatten(), torch.tensor([1.0, 0.375], dtype=torch.float64))
    assert {name for name, _ in norm.named_buffers()} == {"mean", "std"}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: Normalize([0.5], [0.0]), r"std must be .*> 0.*\[0\.0\]"),
        (lambda: Normalize([0.5, 0.5], [1.0]), r"mean and std must have one value per channel"),
        (lambda: Normalize([], []), r"mean must be a non-empty sequence"),
        (lambda: to_pixels(torch.zeros(2, 3, 4, 4), [0.5], [0.5]), r"C = len\(mean\)"),
        (lambda: to_pixels(torch.zeros(2, 3), [0.5] * 3, [0.5] * 3), r"x must be images"),
    ],
)
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()
