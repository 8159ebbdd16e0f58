"""Checks on the tensors given to the loss, with errors that name the offending argument.

Two kinds of check, so that the loss never forces a device-to-host synchronisation on an
accelerator:

- structure (types, shapes, dtypes, devices, ``requires_grad``): always; they read tensor
  metadata only and cost nothing.
- values (finite logits, labels in [0, C)): they read the data, which for a tensor on a GPU
  means waiting for the device (``bool()`` of a CUDA tensor is a sync). ``check_values=None``
  (the default) runs them where the data is already on the host, i.e. for CPU tensors, and
  skips them elsewhere; True runs them on every device (for debugging a GPU run), False never.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def check_inputs(
    logits: torch.Tensor,
    target: torch.Tensor,
    layers: Sequence[torch.Tensor],
    top_k: int,
    check_values: bool | None = None,
) -> list[torch.Tensor]:
    """Validate ``logits`` (B, C), ``target`` (B,) and ``layers``; return the layers as a list.

    ``check_values``: None checks the values of CPU tensors only (no sync on accelerators), True
    always, False never (see the module docstring)."""
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a torch.Tensor, got {type(logits).__name__}")
    if logits.dim() != 2:
        raise ValueError(f"logits must be 2-D (batch, classes), got shape {tuple(logits.shape)}")
    if not logits.is_floating_point():
        raise TypeError(f"logits must be a floating-point tensor, got dtype {logits.dtype}")
    batch, classes = logits.shape
    if batch == 0:
        raise ValueError("logits must hold at least one example, got batch size 0")
    if classes < 2:
        raise ValueError(f"logits must have at least 2 classes, got {classes}")
    if top_k > classes - 1:
        raise ValueError(f"top_k must be in [1, C-1] = [1, {classes - 1}], got {top_k}")
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"target must be a torch.Tensor, got {type(target).__name__}")
    if target.dtype != torch.int64:
        raise TypeError(f"target must hold int64 class indices, got dtype {target.dtype}")
    if target.shape != (batch,):
        raise ValueError(f"target must have shape (batch,) = ({batch},), got {tuple(target.shape)}")
    if target.device != logits.device:
        raise ValueError(f"target is on {target.device} but logits are on {logits.device}")
    values = logits.device.type == "cpu" if check_values is None else check_values
    if values and bool(((target < 0) | (target >= classes)).any()):
        bad = target[(target < 0) | (target >= classes)][0].item()
        raise ValueError(f"target labels must be in [0, {classes}), found {bad}")
    if isinstance(layers, torch.Tensor) or not isinstance(layers, Sequence):
        raise TypeError("layers must be a list or tuple of tensors")
    if len(layers) == 0:
        raise ValueError("layers must name at least one tensor that logits depend on")
    for i, layer in enumerate(layers):
        if not isinstance(layer, torch.Tensor):
            raise TypeError(f"layers[{i}] must be a torch.Tensor, got {type(layer).__name__}")
        if layer.dim() == 0 or layer.shape[0] != batch:
            raise ValueError(
                f"layers[{i}] must have the batch size {batch} as its first dimension, got "
                f"shape {tuple(layer.shape)}"
            )
        if not layer.requires_grad:
            raise ValueError(
                f"layers[{i}] does not require grad: pass an input with requires_grad=True or "
                "an activation computed with grad enabled"
            )
    if values and not bool(torch.isfinite(logits).all()):
        raise ValueError("logits contain NaN or inf")
    return list(layers)
