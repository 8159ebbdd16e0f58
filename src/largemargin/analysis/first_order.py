"""First-order (linearised) margins of a model on a dataset, at any named layers.

For each example, the signed distance to the closest of the ``top_k`` competitor classes, as
computed by ``largemargin.core.margin_distances``: (s_y - s_i) / ||grad_{h_l}(s_y - s_i)||_q,
minimised over the competitors i. Units: input units for ``"input"`` (pixels when the input is
in pixels), the layer's activation units for any other layer, measured in the lp norm ``norm``.
Positive means correctly classified.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from largemargin.core import check_layer_names, forward_with_layers, margin_distances
from largemargin.torch_utils import batches, eval_mode

Batch = Sequence[torch.Tensor]


def first_order_margins(
    model: nn.Module,
    data: Iterable[Batch] | tuple[torch.Tensor, torch.Tensor],
    layers: Sequence[str],
    *,
    norm: float | str = 2,
    score: str = "logit",
    top_k: int = 1,
    epsilon: float = 1e-8,
    device: str | torch.device = "cpu",
    max_examples: int | None = None,
    batch_size: int = 256,
) -> dict[str, torch.Tensor]:
    """Per-example signed first-order distance to the boundary at each named layer.

    Args:
        model: maps x (B, ...) to logits (B, C); must already be on ``device``. It runs in
            eval mode during the measurement; every submodule's mode is restored afterwards,
            also on exception. Parameters' ``.grad`` are left untouched.
        data: a loader yielding (x, y, ...) batches, or one pair (x (N, ...), y (N,) int64),
            which is cut into batches of ``batch_size``.
        layers: names from ``model.named_modules()``, or ``"input"`` for the input.
        norm: the lp norm p the distance is measured in (any p >= 1, or ``"inf"``).
        score: ``"logit"`` (default: the linearisation DeepFool uses, exact for a linear
            model) or ``"prob"`` (softmax probabilities, as the training loss's reference).
        top_k: competitors considered (the highest-scoring wrong classes); the distance kept
            is the minimum over them. ``top_k = C - 1`` considers every class.
        epsilon: added to the gradient's dual norm before dividing.
        device: where batches are sent.
        max_examples: stop after this many examples (None: the whole dataset).
        batch_size: batch size used when ``data`` is an (x, y) pair.

    Returns:
        {layer name: float tensor (N,) on the CPU}, in ``layers`` order, N the number of
        examples measured. Units: see the module docstring.
    """
    names = check_layer_names(model, layers)
    if max_examples is not None and max_examples < 1:
        raise ValueError(f"max_examples must be >= 1 or None, got {max_examples}")
    parts: list[torch.Tensor] = []
    seen = 0
    with eval_mode(model), torch.enable_grad():
        for x, y in batches(data, batch_size):
            if max_examples is not None and seen >= max_examples:
                break
            x, y = x.to(device), y.to(device)
            if max_examples is not None:
                x, y = x[: max_examples - seen], y[: max_examples - seen]
            logits, activations = forward_with_layers(model, x, names)
            dist = margin_distances(
                logits, y, activations, top_k=top_k, norm=norm, epsilon=epsilon, score=score
            )
            parts.append(dist.amin(dim=2).cpu())  # (B, L): closest competitor
            seen += len(x)
    if not parts:
        raise ValueError("data yielded no examples")
    per_layer = torch.cat(parts).T
    return {name: per_layer[i].contiguous() for i, name in enumerate(names)}
