"""The Square attack (Andriushchenko, Croce, Flammarion and Hein, ECCV 2020): a gradient-free
random search on the logit margin, l-inf and l2, batched, with per-example early stopping.

Ours, not the reference code: a gradient-free attack must run in every install and on any
input range [clip_min, clip_max], whereas the reference Square ships only in the optional
``robust`` extra (pyautoattack) and assumes inputs in [0, 1].

The search, written from the paper's description: keep the best perturbation found so far
(the one with the highest margin ``max_{i != y} z_i - z_y``); at each iteration change it in
one random square window of side ``s`` (``s**2`` about ``p`` times the image's area), query
the model once, and keep the change if the margin went up. ``p`` starts at ``p_init`` and
halves after iterations 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000, rescaled from the
paper's 10,000 queries to ``n_queries``. An example stops as soon as it is misclassified.

- l-inf: starts from vertical stripes (every column of every channel gets +eps or -eps); a
  window is set to +eps or -eps, one sign per channel, redrawn when that changes nothing.
- l2: starts from a grid of centre-peaked patterns with random signs (tiles of a fifth of
  the image's side), scaled to norm eps. A step picks two windows W1 and W2, moves all the
  perturbation's mass of W1 and W2 (plus any unused budget) into W1, along the old content of
  W1 plus a random-signed centre-peaked pattern (split into halves of opposite sign), channel
  by channel, so that the perturbation keeps norm eps.

Inputs of shape (N, C, H, W) are images; any other shape (N, ...) is treated as one row of
pixels (N, 1, 1, D), whose windows are segments covering the share ``p`` of it.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import nn

from largemargin.torch_utils import eval_mode, per_example

from ._geometry import l2_norms, project
from ._model import loss_and_error
from ._validate import check_batch, check_eps, check_norm, check_positive_int

#: Iterations (out of the paper's 10,000 queries) after which the window's share p halves.
P_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)

#: How often an l-inf proposal that would change nothing is redrawn before being queried as is.
_REDRAWS = 10


def square_p(iteration: int, n_queries: int, p_init: float) -> float:
    """The share of the image a window covers at ``iteration`` (1-based) of ``n_queries``:
    ``p_init`` halved once for each of ``P_HALVINGS`` passed, on the schedule rescaled to
    ``n_queries / 10000``."""
    rescaled = int(iteration * 10000 / n_queries)
    return p_init / 2 ** sum(rescaled > t for t in P_HALVINGS)


def _window(p: float, height: int, width: int) -> tuple[int, int]:
    """Window shape (rows, columns) for share ``p``: a square of side round(sqrt(p H W)) in
    [1, min(H, W)] on images, a segment of round(p D) entries on a row of D pixels."""
    if height == 1:
        return 1, min(max(round(p * width), 1), width)
    side = min(max(round(math.sqrt(p * height * width)), 1), min(height, width))
    return side, side


def _bump(rows: int, cols: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The paper's centre-peaked pattern (rows, cols): entry (r, c) is
    ``sum_{k=0}^{M} 1 / (n + 1 - k)**2`` with ``n = max(rows, cols) // 2`` and ``M = n``
    minus the Chebyshev distance of (r, c) from the centre (0 where M < 0)."""
    n = max(rows, cols) // 2
    terms = 1.0 / (n + 1 - torch.arange(n + 1, device=device, dtype=dtype)) ** 2
    levels = terms.cumsum(0)
    dr = (torch.arange(rows, device=device) - rows // 2).abs()
    dc = (torch.arange(cols, device=device) - cols // 2).abs()
    m = n - torch.maximum(dr[:, None], dc[None, :])
    return torch.where(m >= 0, levels[m.clamp(min=0)], torch.zeros((), dtype=dtype, device=device))


def _split_bump(rows: int, cols: int, axis: int, device, dtype) -> torch.Tensor:
    """A (rows, cols) pattern: two bumps of opposite sign side by side along ``axis`` (0:
    stacked, 1: side by side), scaled to unit l2 norm."""
    size = (rows, cols)[axis]
    half = size // 2
    parts = []
    if half > 0:
        shape = (half, cols) if axis == 0 else (rows, half)
        parts.append(_bump(*shape, device, dtype))
    shape = (rows - half, cols) if axis == 0 else (rows, cols - half)
    parts.append(-_bump(*shape, device, dtype))
    pattern = torch.cat(parts, dim=axis)
    return pattern / pattern.norm()


class _Sampler:
    """Random draws on one generator (or torch's global RNG), returned on ``device``."""

    def __init__(self, generator: torch.Generator | None, device: torch.device):
        self.generator, self.device = generator, device
        self.draw_on = device if generator is None else generator.device

    def integers(self, high: int, n: int) -> torch.Tensor:
        """n integers uniform in [0, high)."""
        return torch.randint(high, (n,), generator=self.generator, device=self.draw_on).to(
            self.device
        )

    def signs(self, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """Independent +1 / -1 with probability 1/2 each."""
        bits = torch.randint(2, shape, generator=self.generator, device=self.draw_on)
        return (2 * bits - 1).to(device=self.device, dtype=dtype)


def _window_masks(
    rows: torch.Tensor, cols: torch.Tensor, size: tuple[int, int], height: int, width: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For windows of ``size`` at top-left corners (rows, cols), each (n,): the mask
    (n, 1, H, W) and each pixel's row and column index inside its window, (n, H) and (n, W)
    (clamped into the window outside it)."""
    a, b = size
    r = torch.arange(height, device=rows.device)[None, :] - rows[:, None]
    c = torch.arange(width, device=cols.device)[None, :] - cols[:, None]
    inside = ((r >= 0) & (r < a))[:, :, None] & ((c >= 0) & (c < b))[:, None, :]
    return inside[:, None], r.clamp(0, a - 1), c.clamp(0, b - 1)


def _linf_step(
    img: torch.Tensor,
    best: torch.Tensor,
    eps: float,
    size: tuple[int, int],
    rand: _Sampler,
    clip: tuple[float, float],
) -> torch.Tensor:
    """Proposals: ``best`` with one window per example set to x +- eps (a sign per channel)."""
    n, channels, height, width = img.shape
    rows = rand.integers(height - size[0] + 1, n)
    cols = rand.integers(width - size[1] + 1, n)
    mask, _, _ = _window_masks(rows, cols, size, height, width)
    todo = torch.ones(n, dtype=torch.bool, device=img.device)
    proposal = best
    for _ in range(_REDRAWS):
        idx = todo.nonzero().squeeze(1)
        values = eps * rand.signs((len(idx), channels, 1, 1), img.dtype)
        fresh = torch.where(mask[idx], (img[idx] + values).clamp(*clip), best[idx])
        proposal = proposal.index_copy(0, idx, fresh)
        todo = (proposal == best).flatten(1).all(dim=1)
        if not todo.any():
            break
    return proposal


def _l2_step(
    img: torch.Tensor,
    best: torch.Tensor,
    eps: float,
    size: tuple[int, int],
    rand: _Sampler,
    clip: tuple[float, float],
) -> torch.Tensor:
    """Proposals: ``best`` with the mass of two windows moved into the first one (Alg. 3)."""
    n, channels, height, width = img.shape
    dtype, tiny = img.dtype, torch.finfo(img.dtype).tiny
    corners = []
    for _ in range(2):
        rows = rand.integers(height - size[0] + 1, n)
        cols = rand.integers(width - size[1] + 1, n)
        corners.append(_window_masks(rows, cols, size, height, width))
    (m1, r1, c1), (m2, _, _) = corners
    # the pattern split along a random axis on square windows (the paper's 90-degree turn),
    # along the segment on a row of pixels
    axes = (0, 1) if size[0] == size[1] else (1, 1)
    patterns = torch.stack([_split_bump(*size, a, img.device, dtype) for a in axes])
    choice = rand.integers(2, n)
    eta = patterns[choice[:, None, None], r1[:, :, None], c1[:, None, :]][:, None] * m1

    nu = best - img
    unused = (eps**2 - l2_norms(nu) ** 2).clamp(min=0)  # (n,)
    nu_w1 = nu * m1
    old = nu_w1 / nu_w1.flatten(2).norm(dim=2).clamp(min=tiny)[:, :, None, None]
    direction = rand.signs((n, channels, 1, 1), dtype) * eta + old
    direction = direction / direction.flatten(2).norm(dim=2).clamp(min=tiny)[:, :, None, None]
    both = m1 | m2
    available = ((nu * both).flatten(2).pow(2).sum(dim=2) + unused[:, None] / channels).sqrt()
    nu = torch.where(both, torch.zeros((), dtype=dtype, device=img.device), nu)
    nu = nu + direction * available[:, :, None, None]
    return (img + project(nu, eps, 2.0)).clamp(*clip)


def _l2_start(img: torch.Tensor, eps: float, rand: _Sampler) -> torch.Tensor:
    """A grid of bumps (tiles of a fifth of each side) with random signs, norm eps."""
    n, channels, height, width = img.shape
    th = 1 if height == 1 else max(min(height, width) // 5, 1)
    tw = max(width // 5, 1) if height == 1 else th
    nh, nw = height // th, width // tw
    tile = _bump(th, tw, img.device, img.dtype)
    signs = rand.signs((n, channels, nh, nw), img.dtype)
    grid = signs.repeat_interleave(th, dim=2).repeat_interleave(tw, dim=3) * tile.repeat(nh, nw)
    delta = torch.zeros_like(img)
    delta[:, :, : nh * th, : nw * tw] = grid
    return delta * per_example(eps / l2_norms(delta), delta)


def square(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    norm: float | str = "inf",
    n_queries: int = 1000,
    p_init: float = 0.8,
    generator: torch.Generator | None = None,
    clip_min: float = 0.0,
    clip_max: float = 1.0,
) -> torch.Tensor:
    """Square attack on a batch: adversarial inputs in the ``norm`` ball of radius ``eps``.

    ``x``: a floating batch (N, ...) in [clip_min, clip_max]; ``y``: true labels (N,) as
    integer class indices; ``model(x)``: logits (N, K). ``eps`` is in input units, in the
    l-inf (``norm="inf"``) or whole-example l2 (``norm=2``) norm. Each example gets at most
    ``n_queries`` model evaluations (the starting point counts as one; the clean input's
    prediction, which decides which examples need attacking at all, does not). An example
    misclassified clean is returned unchanged. ``p_init`` in (0, 1] is the share of the image
    the first windows cover (the paper's 0.8 by default). Random draws come from
    ``generator`` (default: torch's global RNG), so a seeded generator makes the result
    reproducible. The model runs in eval mode (every submodule's mode restored afterwards)
    under ``torch.no_grad``: no gradient is ever taken.

    Returns a new detached tensor shaped like ``x``, in the ball and in [clip_min, clip_max];
    ``eps=0`` returns a copy of ``x`` and draws nothing.
    """
    norm = check_norm(norm)
    eps = check_eps(eps)
    n_queries = check_positive_int("n_queries", n_queries)
    if isinstance(p_init, bool) or not isinstance(p_init, numbers.Real) or not 0 < p_init <= 1:
        raise ValueError(f"p_init must be a number in (0, 1], got {p_init!r}")
    y = check_batch(x, y, clip_min, clip_max)
    if eps == 0:
        return x.detach().clone()
    img = x.detach() if x.dim() == 4 else x.detach().reshape(x.shape[0], 1, 1, -1)
    with eval_mode(model), torch.no_grad():
        best = _search(
            lambda v: model(v.reshape(v.shape[0], *x.shape[1:])),
            img,
            y,
            eps,
            norm,
            n_queries,
            float(p_init),
            _Sampler(generator, x.device),
            (clip_min, clip_max),
        )
    return best.reshape(x.shape)


def _search(forward, img, y, eps, norm, n_queries, p_init, rand, clip) -> torch.Tensor:
    """The random search of ``square`` on images ``img`` (N, C, H, W)."""
    _, wrong = loss_and_error(forward, img, y, "margin")
    best = img.clone()
    todo = (~wrong).nonzero().squeeze(1)
    if len(todo) == 0:
        return best
    start = img[todo]
    if math.isinf(norm):
        stripes = eps * rand.signs((len(todo), img.shape[1], 1, img.shape[3]), img.dtype)
        start = (start + stripes).clamp(*clip)
    else:
        start = (start + _l2_start(start, eps, rand)).clamp(*clip)
    best[todo] = start
    value = torch.full((img.shape[0],), -torch.inf, dtype=img.dtype, device=img.device)
    value[todo], wrong[todo] = loss_and_error(forward, start, y[todo], "margin")
    step = _linf_step if math.isinf(norm) else _l2_step
    for iteration in range(1, n_queries):
        todo = (~wrong).nonzero().squeeze(1)
        if len(todo) == 0:
            break
        size = _window(square_p(iteration, n_queries, p_init), *img.shape[2:])
        proposal = step(img[todo], best[todo], eps, size, rand, clip)
        new_value, new_wrong = loss_and_error(forward, proposal, y[todo], "margin")
        better = new_value > value[todo]
        keep = todo[better]
        best[keep] = proposal[better]
        value[keep] = new_value[better]
        wrong[keep] = new_wrong[better]
    return best
