"""Forward-hook probes shared by the model tests."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def call_counts(model: nn.Module, x: torch.Tensor) -> dict[str, int]:
    """How many times each named submodule of ``model`` runs in ``model(x)``."""
    counts = {name: 0 for name, _ in model.named_modules() if name}
    modules = dict(model.named_modules())
    handles = []
    for name in counts:

        def hook(module: nn.Module, args: object, output: object, name: str = name) -> None:
            counts[name] += 1

        handles.append(modules[name].register_forward_hook(hook))
    try:
        model(x)
    finally:
        for handle in handles:
            handle.remove()
    return counts


def layer_outputs(
    model: nn.Module, x: torch.Tensor, names: Iterable[str]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``model(x)`` and the output of each named submodule."""
    modules = dict(model.named_modules())
    outputs: dict[str, torch.Tensor] = {}
    handles = []
    for name in names:

        def hook(module: nn.Module, args: object, output: torch.Tensor, name: str = name) -> None:
            outputs[name] = output

        handles.append(modules[name].register_forward_hook(hook))
    try:
        logits = model(x)
    finally:
        for handle in handles:
            handle.remove()
    return logits, outputs
