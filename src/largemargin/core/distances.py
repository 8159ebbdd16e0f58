"""Signed first-order distances to the decision boundary, at any set of layers.

For an example x with label y, competitor class i and layer activation h_l (the input counts),

    d_l,i(x) = (s_y - s_i) / (eps + ||grad_{h_l}(s_y - s_i)||_q / scale_l)

with s the class scores (softmax probabilities or logits), q the dual exponent of the margin's
lp norm and scale_l the per-layer norm divisor. Units: the distance is in the units of h_l
measured in the lp norm (pixels for the input layer when the input is in pixels).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from largemargin.core.fast_kernels import FastConvInputGrad
from largemargin.core.inputs import check_inputs
from largemargin.core.norms import dual_norm
from largemargin.core.options import LOSS_ONLY, MarginOptions, resolve


def score_gaps(logits: torch.Tensor, target: torch.Tensor, top_k: int, score: str) -> torch.Tensor:
    """s_y - s_i for the ``top_k`` highest-scoring wrong classes i, shape (B, top_k), float32+.

    The scores are computed in at least float32 (also under autocast). The true class is never
    chosen as a competitor.
    """
    dtype = torch.promote_types(logits.dtype, torch.float32)
    with torch.autocast(device_type=logits.device.type, enabled=False):
        scores = logits.to(dtype)
        if score == "prob":
            scores = torch.softmax(scores, dim=1)
        true_score = scores.gather(1, target[:, None])
        masked = scores.detach().scatter(1, target[:, None], float("-inf"))
        competitors = masked.topk(top_k, dim=1).indices
        return true_score - scores.gather(1, competitors)


def _batched_gradients(
    gaps: torch.Tensor, layers: list[torch.Tensor], grad_outputs: torch.Tensor, create_graph: bool
) -> tuple[torch.Tensor | None, ...]:
    """One backward pass for all layers, batched over the first dimension of ``grad_outputs``
    (R, *gaps.shape): returns per layer (R, *layer.shape), None where the gaps do not depend on
    the layer."""
    return torch.autograd.grad(
        gaps,
        layers,
        grad_outputs,
        retain_graph=True,
        create_graph=create_graph,
        allow_unused=True,
        is_grads_batched=True,
    )


def _batch_sum_gradients(
    gaps: torch.Tensor, layers: list[torch.Tensor], create_graph: bool
) -> Iterator[tuple[torch.Tensor | None, ...]]:
    """Gradients of sum_b gaps[b, j] w.r.t. every layer, one backward per competitor j.

    Yields, for j = 0..k-1, one gradient per layer (shaped like the layer; None for a layer the
    gaps do not depend on). Exact per example when examples do not interact (no train-mode
    BatchNorm).

    The k competitors run as k plain backward passes over the retained graph rather than one
    ``is_grads_batched`` pass: that vmap has no batching rule for the convolution, pooling and
    BatchNorm backwards, so it loops over the k rows op by op anyway, and adds a ``cat`` per op
    and, with ``create_graph``, a select and a zero-filled copy per row and op to the double
    backward (2x slower at k = 9 first-order, 3x second-order: docs/benchmarks.md). Each pass
    computes what one row of the batched pass computes. Yielding row by row lets the caller
    reduce a row to its norms before the next is computed, so rows reuse the same memory.
    """
    for j in range(gaps.shape[1]):
        yield torch.autograd.grad(
            gaps[:, j].sum(),
            layers,
            retain_graph=True,
            create_graph=create_graph,
            allow_unused=True,
        )


def _per_example_gradients(
    gaps: torch.Tensor, layers: list[torch.Tensor], create_graph: bool, chunk: int = 32
) -> Iterator[tuple[torch.Tensor | None, ...]]:
    """Exact per-example gradients d gaps[b, j] / d layer[b]: yields, for j = 0..k-1, one
    gradient per layer (shaped like the layer; None for a layer the gaps do not depend on).

    Unlike the batch-sum trick this drops the cross-example terms that train-mode BatchNorm adds;
    it costs B*k batched backward rows instead of k (run ``chunk`` examples at a time).
    """
    batch, k = gaps.shape
    per_layer: list[list[torch.Tensor]] = [[] for _ in layers]
    used = [True] * len(layers)
    for start in range(0, batch, chunk):
        rows = torch.arange(start, min(batch, start + chunk), device=gaps.device)
        n = rows.numel()
        example = rows.repeat_interleave(k)
        competitor = torch.arange(k, device=gaps.device).repeat(n)
        grad_outputs = torch.zeros(n * k, batch, k, dtype=gaps.dtype, device=gaps.device)
        grad_outputs[torch.arange(n * k, device=gaps.device), example, competitor] = 1.0
        grads = _batched_gradients(gaps, layers, grad_outputs, create_graph)
        for i, g in enumerate(grads):
            if g is None:
                used[i] = False
                continue
            own = g[torch.arange(n * k, device=gaps.device), example]  # (n*k, *layer[0].shape)
            per_layer[i].append(own.reshape(n, k, *own.shape[1:]).transpose(0, 1))
    grads = [
        torch.cat(parts, dim=1) if ok else None for parts, ok in zip(per_layer, used, strict=True)
    ]
    for j in range(k):
        yield tuple(None if g is None else g[j] for g in grads)


def _row_norms(
    row: tuple[torch.Tensor | None, ...], options: MarginOptions, gaps: torch.Tensor
) -> list[torch.Tensor]:
    """The dual norm (B,) of one competitor's gradient at each layer, in the dtype of ``gaps``
    and outside autocast; detached unless second-order. Raises ValueError naming a layer the
    scores do not depend on."""
    norms = []
    with torch.autocast(device_type=gaps.device.type, enabled=False):
        for i, g in enumerate(row):
            if g is None:
                raise ValueError(
                    f"layers[{i}] is not used to compute logits: pass tensors that logits "
                    "depend on (the input, hidden activations or the logits)"
                )
            norm = dual_norm(g.flatten(start_dim=1).to(gaps.dtype), options.dual)
            norms.append(norm if options.second_order else norm.detach())
    return norms


def distances(
    logits: torch.Tensor,
    target: torch.Tensor,
    layers: Sequence[torch.Tensor],
    options: MarginOptions,
    *,
    create_graph: bool,
) -> torch.Tensor:
    """Signed first-order distances, shape (B, L, k), in at least float32.

    With ``options.second_order`` False the gradient norms are constants (detached); with
    ``create_graph`` True the result is differentiable through the score gaps (and through the
    norms when second-order). ``options.check_values``: see ``core.inputs`` (None: on CPU only).
    """
    layer_list = check_inputs(logits, target, layers, options.top_k, options.check_values)
    gaps = score_gaps(logits, target, options.top_k, options.score)
    per_example = options.exact_per_example
    gradient_fn = _per_example_gradients if per_example else _batch_sum_gradients
    cpu = gaps.device.type == "cpu"
    norms: list[list[torch.Tensor]] = [[] for _ in layer_list]  # per layer, k tensors (B,)
    with FastConvInputGrad() if cpu else contextlib.nullcontext():
        for row in gradient_fn(gaps, layer_list, create_graph and options.second_order):
            for per_layer, norm in zip(norms, _row_norms(row, options, gaps), strict=True):
                per_layer.append(norm)
            del row  # this row's gradients are freed before the next row is computed
    sizes = [layer[0].numel() for layer in layer_list]
    with torch.autocast(device_type=logits.device.type, enabled=False):
        columns = [
            gaps / (torch.stack(per_row, dim=1) / scale + options.epsilon)  # (B, k)
            for per_row, scale in zip(norms, options.scales(sizes), strict=True)
        ]
    dist = torch.stack(columns, dim=1)
    return dist if create_graph else dist.detach()


def margin_distances(
    logits: torch.Tensor,
    target: torch.Tensor,
    layers: Sequence[torch.Tensor],
    options: MarginOptions | None = None,
    **fields: Any,
) -> torch.Tensor:
    """Signed first-order distances to the boundary, shape (B, L, k), without building a graph.

    Args:
        logits: (B, C) class scores of a model.
        target: (B,) int64 true labels.
        layers: L tensors with batch size B that ``logits`` depend on (input with
            ``requires_grad``, hidden activations, or the logits themselves).
        options: a ``MarginOptions`` (its loss-only options ``LOSS_ONLY``: gamma, alpha,
            second_order, aggregation and reduction, do not change the distances and are
            ignored); or None, and the distance options as keywords: ``top_k``, ``norm``,
            ``epsilon``, ``norm_scale``, ``score``, ``exact_per_example``, ``check_values``
            (defaults and meaning: ``MarginOptions``). A loss-only keyword raises TypeError, as
            does passing both.

    Returns:
        Detached float tensor (B, L, k), in the units of each layer measured in the lp norm
        (divided by ``norm_scale``): positive where the example is on the correct side of the
        boundary with that competitor; competitors sorted by decreasing score. The graph of
        ``logits`` is kept, so a loss can still be backpropagated afterwards.
    """
    loss_only = sorted(set(fields) & set(LOSS_ONLY))
    if loss_only:
        raise TypeError(
            f"margin_distances() got the loss-only option(s) {loss_only}, which do not change "
            "the distances"
        )
    options = resolve(options, fields, caller="margin_distances")
    return distances(
        logits,
        target,
        layers,
        options,
        create_graph=False,
    )
