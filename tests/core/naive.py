"""A plain port of the reference algorithm (google-research large_margin), for parity tests.

One gradient pass per layer and per competitor, as the published TensorFlow code does; returns
the reference's value (minus the clamped distance per term), not our hinge form.
"""

from __future__ import annotations

import math

import torch


def dual_norm_rows(g: torch.Tensor, p: float) -> torch.Tensor:
    """Dual norm of each row of g (B, D) for the lp margin."""
    if math.isinf(p):
        return g.abs().sum(dim=1)
    if p == 1:
        return g.abs().amax(dim=1)
    q = p / (p - 1)
    return g.abs().pow(q).sum(dim=1).pow(1 / q)


def reference_loss(
    logits,
    target,
    layers,
    *,
    gamma,
    alpha,
    top_k,
    p,
    epsilon,
    second_order,
    worst_case,
    layer_weights,
    score,
):
    batch, classes = logits.shape
    gammas = gamma if isinstance(gamma, (list, tuple)) else [gamma] * len(layers)
    onehot = torch.nn.functional.one_hot(target, classes).to(logits.dtype)
    scores = torch.softmax(logits, dim=1) if score == "prob" else logits
    correct = (scores * onehot).sum(dim=1, keepdim=True)
    if score == "prob":
        other = scores * (1 - onehot)  # as the reference: the true class scores 0
    else:
        other = scores.masked_fill(onehot.bool(), float("-inf"))
    top = other.topk(top_k, dim=1).values
    diff = correct - top  # (B, k)
    total = 0.0
    for layer, weight, g_l in zip(layers, layer_weights, gammas, strict=True):
        norms = []
        for i in range(top_k):
            (grad,) = torch.autograd.grad(
                diff[:, i].sum(), layer, retain_graph=True, create_graph=second_order
            )
            norms.append(dual_norm_rows(grad.reshape(batch, -1), p))
        norm = torch.stack(norms, dim=1) / weight
        if not second_order:
            norm = norm.detach()
        dist = diff / (norm + epsilon)
        if worst_case:
            dist = dist.amin(dim=1, keepdim=True)
        clamped = dist.clamp(min=g_l * (1 - alpha), max=g_l)
        total = total + (-clamped).sum(dim=1).mean()
    return total / len(layers)
