"""Crafted malicious files for the readers' tests: pickles whose unpickling would create a marker
file (it runs ``pathlib.Path.touch(marker)``), and checkpoints holding them."""

from __future__ import annotations

import pathlib
from pathlib import Path

import torch


class Touch:
    """Unpickling an instance calls ``pathlib.Path.touch(marker)``: code run by loading."""

    def __init__(self, marker: Path) -> None:
        self.marker = Path(marker)

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def checkpoint_like(marker: Path) -> dict:
    """A dict shaped like a ``largemargin train`` checkpoint, with the payload inside its config."""
    return {
        "state_dict": {"model.weight": torch.zeros(2)},
        "largemargin_config": {
            "model_shape": {"num_classes": 10, "in_channels": 1},
            "x": Touch(marker),
        },
    }


def write_evil_checkpoint(path: Path, marker: Path) -> Path:
    """A ``.ckpt`` in torch's zip format whose unpickling would create ``marker``."""
    torch.save(checkpoint_like(marker), path)
    return path
