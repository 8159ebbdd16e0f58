"""Collect named activations of an unmodified model in one forward pass.

Layers are named as in ``model.named_modules()``, plus ``"input"`` for the input tensor. Forward
hooks are used (rather than torchvision's FX feature extraction) because they work on any
model, traceable or not, and leave its ``forward`` untouched; they are removed before returning,
also when the forward raises.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

INPUT = "input"


def layer_names(model: nn.Module) -> list[str]:
    """Every name ``forward_with_layers`` accepts for ``model``: "input" and its submodules."""
    return [INPUT] + [name for name, _ in model.named_modules() if name]


def check_layer_names(model: nn.Module, names: Sequence[str]) -> list[str]:
    """Return ``names`` as a list; raise ValueError listing the valid names if one is unknown."""
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise TypeError(f"layer names must be a list of strings, got {type(names).__name__}")
    if len(names) == 0:
        raise ValueError("layer names must name at least one layer")
    valid = layer_names(model)
    known = set(valid)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"unknown layer name(s) {unknown} for {type(model).__name__}; valid names are: "
            + ", ".join(valid)
        )
    if len(set(names)) != len(names):
        raise ValueError(f"layer names must be distinct, got {list(names)}")
    return list(names)


def forward_with_layers(
    model: nn.Module, x: torch.Tensor, names: Sequence[str]
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Run ``model(x)`` and return (logits, [activation of each named layer, in order]).

    ``"input"`` yields ``x`` itself, made to require grad if it did not (as a detached alias).
    The rest of the forward receives a copy of each named module's output, so that a later
    in-place operation (such as torchvision ResNet's ``ReLU(inplace=True)``) cannot alter the
    captured tensor; gradients taken with respect to it are gradients with respect to that
    module's output. A named module must return a
    tensor and run exactly once per forward.
    """
    names = check_layer_names(model, names)
    modules = dict(model.named_modules())
    captured: dict[str, torch.Tensor] = {}
    calls: dict[str, int] = dict.fromkeys(names, 0)

    def make_hook(name: str):
        def hook(module: nn.Module, args: object, output: object) -> torch.Tensor:
            if not isinstance(output, torch.Tensor):
                raise TypeError(
                    f"layer {name!r} returned {type(output).__name__}, not a tensor; name a "
                    "module whose output is a single tensor"
                )
            calls[name] += 1
            captured[name] = output
            return output.clone()  # later in-place ops alter the copy, not the capture

        return hook

    handles = []
    try:
        for name in names:
            if name != INPUT:
                handles.append(modules[name].register_forward_hook(make_hook(name)))
        if INPUT in names:
            if not x.requires_grad:
                x = x.detach().requires_grad_(True)
            captured[INPUT] = x
            calls[INPUT] = 1
        logits = model(x)
    finally:
        for handle in handles:
            handle.remove()
    for name, count in calls.items():
        if count != 1:
            raise ValueError(
                f"layer {name!r} ran {count} times in one forward pass; name a module that "
                "runs exactly once (a shared module such as a reused ReLU is ambiguous)"
            )
    return logits, [captured[name] for name in names]
