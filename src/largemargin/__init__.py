"""largemargin: Large Margin Deep Networks for Classification (Elsayed et al., NeurIPS 2018).

The core API (torch only)::

    import largemargin as lm
    logits, layers = lm.forward_with_layers(model, x, ["input", "block1", "block2"])
    loss = lm.large_margin_loss(logits, y, layers, gamma=10000.0, norm="inf")

A model trained with ``largemargin train``, back in Python::

    model, config = lm.load_checkpoint("runs/<run>/checkpoints/last.ckpt")
    predictions = model(images).argmax(1)

The names load on first use (PEP 562), so ``import largemargin`` and ``largemargin --version``
do not import torch; ``load_checkpoint`` is the one name from above the core
(``largemargin.training.checkpoint_eval``), and importing the package alone never loads it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_CORE = (
    "LargeMarginLoss",
    "MarginOptions",
    "check_layer_names",
    "forward_with_layers",
    "large_margin_loss",
    "layer_names",
    "margin_distances",
)

__all__ = [
    "LargeMarginLoss",
    "MarginOptions",
    "__version__",
    "check_layer_names",
    "forward_with_layers",
    "large_margin_loss",
    "layer_names",
    "load_checkpoint",
    "margin_distances",
]

if TYPE_CHECKING:
    from largemargin.core import (
        LargeMarginLoss,
        MarginOptions,
        check_layer_names,
        forward_with_layers,
        large_margin_loss,
        layer_names,
        margin_distances,
    )
    from largemargin.training.checkpoint_eval import load_checkpoint


def __getattr__(name: str) -> Any:
    if name in _CORE:
        value = getattr(importlib.import_module("largemargin.core"), name)
    elif name == "load_checkpoint":
        value = importlib.import_module("largemargin.training.checkpoint_eval").load_checkpoint
    else:
        raise AttributeError(f"module 'largemargin' has no attribute {name!r}")
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
