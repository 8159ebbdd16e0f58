"""largemargin: Large Margin Deep Networks for Classification (Elsayed et al., NeurIPS 2018).

The core API (torch only)::

    import largemargin as lm
    logits, layers = lm.forward_with_layers(model, x, ["input", "block1", "block2"])
    loss = lm.large_margin_loss(logits, y, layers, gamma=10000.0, norm="inf")
"""

from largemargin.core import (
    LargeMarginLoss,
    MarginOptions,
    check_layer_names,
    forward_with_layers,
    large_margin_loss,
    layer_names,
    margin_distances,
)

__version__ = "0.1.0"

__all__ = [
    "LargeMarginLoss",
    "MarginOptions",
    "__version__",
    "check_layer_names",
    "forward_with_layers",
    "large_margin_loss",
    "layer_names",
    "margin_distances",
]
