"""The model side of an attack: the per-example losses an attack ascends, and their gradient
with respect to the input only (never accumulated into parameters' ``.grad``).

Every loss takes logits ``z`` (N, K) and labels ``y`` (N,) int64 and returns (N,), larger
meaning "more adversarial":

- ``"ce"``: the cross-entropy ``-log softmax(z)_y``. Its input gradient is scaled by
  ``1 - softmax(z)_y``, which is exactly 0 in float32 once the logit gap exceeds about 100:
  attacks on it stall on models with huge logits (see the package's robustness checks).
- ``"margin"``: the Carlini-Wagner logit margin ``max_{i != y} z_i - z_y``; positive exactly
  when the example is misclassified, and its gradient never vanishes with the logits' scale.
- ``"dlr"``: AutoAttack's untargeted difference-of-logits ratio
  ``-(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3 + 1e-12)`` with ``z_pi1 >= z_pi2 >= z_pi3`` the
  three largest logits; invariant to shifting and scaling the logits; needs K >= 3.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def _best_other(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The largest logit among the classes other than y, per example (N,)."""
    return z.masked_fill(F.one_hot(y, z.shape[1]).bool(), -torch.inf).amax(dim=1)


def _cross_entropy(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(z, y, reduction="none")


def _margin(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return _best_other(z, y) - z.gather(1, y[:, None]).squeeze(1)


def _dlr(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if z.shape[1] < 3:
        raise ValueError(
            f"loss='dlr' needs logits for at least 3 classes (it divides by z_pi1 - z_pi3), got "
            f"{z.shape[1]}; use loss='margin'"
        )
    top = z.topk(3, dim=1).values
    return _margin(z, y) / (top[:, 0] - top[:, 2] + 1e-12)


#: Per-example attack losses by name: ``(logits (N, K), labels (N,)) -> (N,)``.
LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "ce": _cross_entropy,
    "margin": _margin,
    "dlr": _dlr,
}


def loss_gradient(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str = "ce"
) -> torch.Tensor:
    """Gradient of the summed loss ``sum_i L(model(x)_i, y_i)`` w.r.t. ``x``; ``loss`` is a key
    of ``LOSSES``.

    ``x`` (N, ...) and ``y`` (N,) int64; ``model(x)`` returns logits (N, K). The result has
    the shape of ``x``; row i is the gradient of example i's own loss. Works under an outer
    ``torch.no_grad()``; parameters' ``.grad`` are left untouched.
    """
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        total = LOSSES[loss](model(x), y).sum()
        (grad,) = torch.autograd.grad(total, x)
    return grad


@torch.no_grad()
def loss_and_error(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str = "ce"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example ``loss`` (N,) and misclassification flags (N,) bool of ``model`` on x."""
    logits = model(x)
    return LOSSES[loss](logits, y), logits.argmax(dim=1) != y
