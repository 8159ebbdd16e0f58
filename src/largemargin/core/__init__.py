"""The exact core: the large margin loss and the first-order margin. Depends on torch only."""

from largemargin.core.capture import check_layer_names, forward_with_layers, layer_names
from largemargin.core.distances import margin_distances
from largemargin.core.loss import LargeMarginLoss, large_margin_loss
from largemargin.core.options import MarginOptions

__all__ = [
    "LargeMarginLoss",
    "MarginOptions",
    "check_layer_names",
    "forward_with_layers",
    "large_margin_loss",
    "layer_names",
    "margin_distances",
]
