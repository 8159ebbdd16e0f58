"""Per-example geometry of l-inf and l2 perturbations: steepest-ascent steps, projections
onto the eps-ball, uniform samples from it.

Every tensor here has shape (N, ...): the first dimension indexes examples, and norms are
taken per example over all the other dimensions. ``norm`` is ``math.inf`` or ``2.0`` (as
``_validate.check_norm`` returns it); radii are in input units.
"""

from __future__ import annotations

import math

import torch

from largemargin.torch_utils import per_example


def l2_norms(v: torch.Tensor) -> torch.Tensor:
    """Per-example l2 norms of ``v`` (N, ...), shape (N,)."""
    return torch.linalg.vector_norm(v.flatten(1), ord=2, dim=1)


def unit_l2(v: torch.Tensor) -> torch.Tensor:
    """Scale each example of ``v`` to l2 norm 1; an all-zero example stays zero (no NaN).

    Each example is first divided by its largest absolute entry (floored at the dtype's
    smallest normal number), so tiny gradients whose squares underflow, as at a saturated
    softmax, still give a unit direction; only an exactly zero example has a zero direction.
    """
    tiny = torch.finfo(v.dtype).tiny
    flat = v.flatten(1)
    flat = flat / flat.abs().amax(dim=1, keepdim=True).clamp_min(tiny)
    flat = flat / torch.linalg.vector_norm(flat, ord=2, dim=1, keepdim=True).clamp_min(tiny)
    return flat.view_as(v)


def ascent_direction(grad: torch.Tensor, norm: float) -> torch.Tensor:
    """The steepest-ascent direction of unit ``norm`` for a loss with gradient ``grad``.

    l-inf: ``sign(grad)`` (entries in {-1, 0, 1}); l2: ``grad / ||grad||_2`` per example.
    A zero gradient gives a zero direction.
    """
    return grad.sign() if math.isinf(norm) else unit_l2(grad)


def project(delta: torch.Tensor, eps: float, norm: float) -> torch.Tensor:
    """Euclidean-nearest point of the ``norm`` ball of radius ``eps`` to each example of ``delta``.

    l-inf: clamp every entry to [-eps, eps]; l2: rescale examples whose norm exceeds eps.
    """
    if math.isinf(norm):
        return delta.clamp(-eps, eps)
    tiny = torch.finfo(delta.dtype).tiny
    scale = (eps / l2_norms(delta).clamp_min(tiny)).clamp(max=1.0)
    return delta * per_example(scale, delta)


def random_in_ball(
    like: torch.Tensor, eps: float, norm: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A perturbation uniform in the ``norm`` ball of radius ``eps``, independently per example.

    Same shape, dtype and device as ``like``. l-inf: every entry uniform in [-eps, eps];
    l2: a Gaussian direction scaled to radius ``eps * U**(1/d)`` with U uniform in [0, 1] and
    d the number of entries per example. Draws on ``generator``'s device (default: ``like``'s).
    """
    device = like.device if generator is None else generator.device
    if math.isinf(norm):
        u = torch.rand(like.shape, generator=generator, device=device, dtype=like.dtype)
        return ((2 * u - 1) * eps).to(like.device)
    direction = unit_l2(
        torch.randn(like.shape, generator=generator, device=device, dtype=like.dtype)
    )
    u = torch.rand(like.shape[0], generator=generator, device=device, dtype=like.dtype)
    radius = eps * u.pow(1.0 / like.shape[1:].numel())
    return (direction * per_example(radius, direction)).to(like.device)
