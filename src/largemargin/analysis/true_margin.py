"""The true input-space margin: the smallest perturbation found that flips the prediction.

Found in two stages. DeepFool (Moosavi-Dezfooli, Fawzi and Frossard, CVPR 2016), batched and
for any lp norm with p > 1, iterates steps to the nearest linearised boundary until the
prediction flips; then a bisection along the perturbation it found shrinks it to the smallest
scale that still flips the prediction. Flipping inputs found by other means (a gradient-free
or transfer attack, passed as ``adversarial``) are shrunk the same way, and the smallest flip
over all of them is kept. The result is an upper bound on the true margin (a real flipping
perturbation), tight along the direction found, and exact for a linear model.

How the estimate fails. It is only ever an upper bound: a closer flip in another direction
goes unseen. DeepFool follows the input gradient of the logit gaps, so where that gradient is
zero or masked (saturated or quantised layers, step functions, obfuscated gradients) it takes
no step; where the linearisation misleads it, it may not flip within ``steps`` steps; and when
the boundary lies only outside the input box [clip_min, clip_max] no allowed perturbation
flips the prediction. All these give "not found" (NaN), never a large margin: a failed search
says nothing about the distance to the boundary. Pass candidates from an attack that needs no
gradient (e.g. Square) to bound such examples anyway, and report the share not found beside
any statistic of the found ones (which leaves out the examples the search could not handle).

Our own DeepFool rather than a library's: the common PyTorch ones are l2 only, loop over
examples and classes one backward at a time, or clamp to [0, 1]; this one is batched, covers
l-inf, l2 and any p > 1 with any input range, and adds no dependency.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from largemargin.core.norms import dual_exponent, dual_norm, parse_norm
from largemargin.torch_utils import eval_mode, per_example


@torch.no_grad()
def _flipped(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(N,) bool: the model's prediction at x differs from y."""
    return model(x).argmax(dim=1) != y


def _step_to_hyperplane(gap: torch.Tensor, w: torch.Tensor, q: float) -> torch.Tensor:
    """Smallest lp step r (p dual to q) with w . r = gap, per row: gap (n,), w (n, D) -> (n, D).

    r = gap * sign(w) |w|^(q-1) / ||w||_q^q (Hoelder's equality case), computed on w / max|w|
    so that large q cannot overflow; q = 1 (p = inf) gives gap * sign(w) / ||w||_1. A zero w
    gives a zero step.
    """
    scale = w.abs().amax(dim=1, keepdim=True)
    u = w / scale.clamp_min(torch.finfo(w.dtype).tiny)
    power = u.abs() ** (q - 1) if q > 1 else torch.ones_like(u)
    direction = u.sign() * power
    denom = (scale * (u.abs() ** q).sum(dim=1, keepdim=True)).clamp_min(torch.finfo(w.dtype).tiny)
    return gap[:, None] * direction / denom


def _input_gradients(gaps: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-example gradients of each column of ``gaps`` (n, k) w.r.t. x (n, ...): (n, k, D).

    Valid per example because the model runs in eval mode (examples independent). Zero where
    the gaps do not depend on x at all (a step function, a detached input path).
    """
    k = gaps.shape[1]
    if not gaps.requires_grad:
        return x.new_zeros(len(x), k, x[0].numel())
    columns = [
        torch.autograd.grad(
            gaps[:, j].sum(), x, retain_graph=j < k - 1, allow_unused=True, materialize_grads=True
        )[0]
        for j in range(k)
    ]
    return torch.stack(columns, dim=1).flatten(2)


def deepfool(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: float | str = 2,
    clip_min: float = 0.0,
    clip_max: float = 1.0,
    steps: int = 50,
    overshoot: float = 0.02,
    candidates: int = 10,
    on_step: Callable[[], None] | None = None,
) -> torch.Tensor:
    """DeepFool adversarial inputs, shape and dtype of ``x``, in [clip_min, clip_max].

    Each step moves every still-correct example to the nearest boundary of the logit gap
    z_i - z_y linearised at the current point, over the ``candidates`` highest-scoring wrong
    classes at the clean input (as the original code); the accumulated perturbation, scaled
    by 1 + ``overshoot``, is added to the clean input and clipped. Unlike the original, a step
    leaves alone the coordinates that sit at a bound of the range and would be pushed out of
    it, so it spends its norm on those that can move (without this, inputs with many pixels
    at 0 or 1 need many more steps, in l-inf especially). Examples the model already
    misclassifies are returned unchanged; examples not flipped after ``steps`` steps are
    returned at their last iterate. The model is used as given (see ``true_margins``).
    ``on_step``, when given, is called once per step of the ``steps`` (also for those not
    needed once every example has flipped).
    """
    p = parse_norm(norm)
    if p == 1:
        raise ValueError("norm must be > 1 (l2, l-inf or any p in between), got 1")
    if candidates < 1:
        raise ValueError(f"candidates must be >= 1, got {candidates}")
    q = dual_exponent(p)
    x0 = x.detach()
    with torch.no_grad():
        logits = model(x0)
    k = min(candidates, logits.shape[1] - 1)
    others = logits.scatter(1, y[:, None], float("-inf")).topk(k, dim=1).indices  # (N, k)
    active = logits.argmax(dim=1) == y
    total = torch.zeros_like(x0)
    x_adv = x0.clone()
    for done in range(steps):
        idx = active.nonzero().squeeze(1)
        if idx.numel() == 0:
            skipped = steps - done if on_step is not None else 0
            for _ in range(skipped):
                on_step()
            break
        xi = x_adv[idx].requires_grad_(True)
        with torch.enable_grad():
            logits = model(xi)
            still = logits.argmax(dim=1) == y[idx]
            gaps = logits.gather(1, others[idx]) - logits.gather(1, y[idx, None])  # (n, k) < 0
            grads = _input_gradients(gaps, xi)  # (n, k, D)
        gaps = gaps.detach()
        # Freeze coordinates that sit at a bound of the input range and would be pushed out.
        point = xi.detach().flatten(1)[:, None, :]
        grads = grads * torch.where(grads > 0, point < clip_max, point > clip_min)
        dual = dual_norm(grads, q)  # (n, k)
        nearest = (gaps.abs() / dual.clamp_min(torch.finfo(dual.dtype).tiny)).argmin(dim=1)
        pick = torch.arange(len(idx), device=x.device)
        step = _step_to_hyperplane(-gaps[pick, nearest], grads[pick, nearest], q)
        step = step.view_as(xi) * per_example(still.to(step.dtype), xi)
        x_adv[idx] = (x0[idx] + (1 + overshoot) * (total[idx] + step)).clamp(clip_min, clip_max)
        total[idx] = (x_adv[idx] - x0[idx]) / (1 + overshoot)  # what clipping left of it
        active[idx] = still
        if on_step is not None:
            on_step()
    return x_adv


@torch.no_grad()
def shrink_to_boundary(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    x_adv: torch.Tensor,
    steps: int = 30,
    on_step: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Bisect the scale s in [0, 1] of each flipping perturbation x_adv - x to the smallest
    scale found that still flips the prediction; returns x + s (x_adv - x), shaped like x.

    Rows where x_adv does not flip the prediction are returned as x_adv. The segment from x
    to x_adv stays in any box containing both. After ``steps`` halvings s is within
    2**-steps of a flip point (the first one when the segment crosses the boundary once).
    ``on_step``, when given, is called after each halving.
    """
    delta = x_adv - x
    flipped = _flipped(model, x_adv, y)
    low = torch.zeros(len(x), dtype=x.dtype, device=x.device)
    high = torch.ones_like(low)
    for _ in range(steps):
        mid = (low + high) / 2
        flips = _flipped(model, x + per_example(mid, x) * delta, y)
        high = torch.where(flips, mid, high)
        low = torch.where(flips, low, mid)
        if on_step is not None:
            on_step()
    scale = torch.where(flipped, high, torch.ones_like(high))
    return x + per_example(scale, x) * delta


def _candidates(
    adversarial: torch.Tensor | Sequence[torch.Tensor] | None,
    x: torch.Tensor,
    clip_min: float,
    clip_max: float,
) -> list[torch.Tensor]:
    """The caller's adversarial candidates as a list of detached tensors like x, checked."""
    if adversarial is None:
        return []
    single = isinstance(adversarial, torch.Tensor)
    out = []
    for i, candidate in enumerate([adversarial] if single else adversarial):
        name = "adversarial" if single else f"adversarial[{i}]"
        if not isinstance(candidate, torch.Tensor) or candidate.shape != x.shape:
            got = getattr(candidate, "shape", type(candidate).__name__)
            raise ValueError(f"{name}: expected a tensor shaped like x {tuple(x.shape)}, got {got}")
        candidate = candidate.detach().to(device=x.device, dtype=x.dtype)
        if not torch.isfinite(candidate).all():
            raise ValueError(f"{name}: expected finite values")
        if candidate.min() < clip_min or candidate.max() > clip_max:
            raise ValueError(
                f"{name}: expected values in [clip_min, clip_max] = [{clip_min}, {clip_max}], "
                f"got [{float(candidate.min())}, {float(candidate.max())}]"
            )
        out.append(candidate)
    return out


def true_margins(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: float | str = "inf",
    clip_min: float = 0.0,
    clip_max: float = 1.0,
    steps: int = 50,
    overshoot: float = 0.02,
    candidates: int = 10,
    bisection_steps: int = 30,
    adversarial: torch.Tensor | Sequence[torch.Tensor] | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Per-example size of the smallest flipping perturbation found, shape (N,), float;
    NaN where none was found.

    Args:
        model: maps x (N, ...) to logits (N, C), on x's device. It runs in eval mode; every
            submodule's mode is restored afterwards, also on exception. Parameters' ``.grad``
            are left untouched.
        x: inputs (N, ...) in [clip_min, clip_max]; y: labels (N,) int64.
        norm: the lp norm of the margin: ``"inf"``, 2, or any p > 1.
        clip_min, clip_max: the valid input range; every perturbed input stays inside it
            (pass ``float("-inf")``, ``float("inf")`` for an unbounded input).
        steps: DeepFool iterations (0: none, only the ``adversarial`` candidates count);
            overshoot: its step scale 1 + overshoot.
        candidates: the competitor classes DeepFool considers (the highest-scoring wrong
            classes at the clean input).
        bisection_steps: halvings of the perturbation's scale (relative precision
            2**-bisection_steps).
        adversarial: extra candidate adversarial inputs, one tensor or a sequence of them,
            each shaped like x and inside [clip_min, clip_max] (e.g. from a gradient-free
            Square attack or a transfer attack, computed by the caller). Each row that flips
            the prediction is shrunk by the same bisection; rows that do not flip are ignored.
        progress: show a tqdm bar over the search's iterations (DeepFool's ``steps``, then
            ``bisection_steps`` per candidate), each over the whole batch.

    Returns:
        The lp norm of the smallest flipping perturbation over DeepFool's and every
        candidate's, in input units, on x's device; 0 for examples the model already
        misclassifies; NaN ("not found") where no perturbation tried flipped the prediction
        inside the input range: the search failed, which is NOT a large margin. An upper
        bound on the true margin, tight along the direction found (see the module docstring
        for how the search fails); exact for a linear model when the nearest boundary point
        lies inside the input range. Leave NaN out of statistics and report its count.
    """
    p = parse_norm(norm)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    x = x.detach()
    extra = _candidates(adversarial, x, clip_min, clip_max)
    best = torch.full((len(x),), math.nan, dtype=x.dtype, device=x.device)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        total = steps + (1 + len(extra)) * bisection_steps
        bar = tqdm(total=total, desc=f"true margin ({len(x)} examples)", unit="step")
    on_step = None if bar is None else bar.update
    try:
        with eval_mode(model):
            x_adv = deepfool(
                model,
                x,
                y,
                norm=p,
                clip_min=clip_min,
                clip_max=clip_max,
                steps=steps,
                overshoot=overshoot,
                candidates=candidates,
                on_step=on_step,
            )
            for found in (x_adv, *extra):
                shrunk = shrink_to_boundary(model, x, y, found, bisection_steps, on_step)
                size = torch.linalg.vector_norm((shrunk - x).flatten(1), ord=p, dim=1)
                flips = _flipped(model, shrunk, y) & torch.isfinite(size)
                best = torch.where(flips & ~(best <= size), size, best)  # NaN best: take size
    finally:
        if bar is not None:
            bar.close()
    return best
