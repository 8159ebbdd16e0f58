"""Accuracy of a classifier under an attack, for a list of perturbation radii."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn

from largemargin.torch_utils import batches, eval_mode

from ._validate import check_eps, check_positive_int
from .autoattack import autoattack
from .gradient_sign import fgsm, iterative_fgsm
from .pgd import pgd
from .square import square

#: Attack names accepted by ``accuracy_under_attack``, and the functions they call.
ATTACKS: dict[str, Callable[..., torch.Tensor]] = {
    "fgsm": fgsm,
    "iterative_fgsm": iterative_fgsm,
    "pgd": pgd,
    "square": square,
    "autoattack": autoattack,
}

Batches = Iterable[Sequence[torch.Tensor]]


def _default_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer, else the CPU."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def accuracy_under_attack(
    model: nn.Module,
    loader_or_tensors: Batches | tuple[torch.Tensor, torch.Tensor],
    attack: str,
    epsilons: Sequence[float],
    *,
    norm: str | float = "inf",
    device: torch.device | str | None = None,
    batch_size: int = 256,
    **attack_kwargs: Any,
) -> list[dict[str, float | int]]:
    """Accuracy of ``model`` on adversarial examples of radius eps, for each eps in ``epsilons``.

    ``loader_or_tensors`` is either an iterable of batches whose first two items are inputs
    (B, ...) and integer labels (B,) (a ``DataLoader``, say), read once, or a pair of tensors
    ``(x, y)`` split into batches of ``batch_size``. ``attack`` is a key of ``ATTACKS``;
    ``norm`` and ``attack_kwargs`` (``steps``, ``clip_min``, ``generator``, ...) go to it with
    each eps, in input units. Batches are moved to ``device`` (default: where the model's
    first parameter lives); the model itself is not moved. Predictions are made in eval mode;
    the model's previous modes are restored afterwards.

    Returns one row per eps, in the given order: ``{"eps": eps, "accuracy": a, "n": n}`` with
    ``a`` the fraction in [0, 1] of the n examples still classified correctly (at eps = 0,
    the clean accuracy).
    """
    if attack not in ATTACKS:
        raise ValueError(f"attack must be one of {sorted(ATTACKS)}, got {attack!r}")
    if isinstance(epsilons, (str, bytes)) or not isinstance(epsilons, Sequence) or not epsilons:
        raise ValueError(f"epsilons must be a non-empty sequence of numbers, got {epsilons!r}")
    epsilons = [check_eps(eps) for eps in epsilons]
    batch_size = check_positive_int("batch_size", batch_size)
    run = ATTACKS[attack]
    device = _default_device(model) if device is None else torch.device(device)

    correct = [0] * len(epsilons)
    n = 0
    with eval_mode(model):
        for x, y in batches(loader_or_tensors, batch_size):
            x, y = x.to(device), y.to(device)
            n += y.shape[0]
            for i, eps in enumerate(epsilons):
                x_adv = run(model, x, y, eps, norm=norm, **attack_kwargs)
                with torch.no_grad():
                    correct[i] += int((model(x_adv).argmax(dim=1) == y).sum())
    if n == 0:
        raise ValueError("loader_or_tensors must hold at least one example, got none")
    return [
        {"eps": eps, "accuracy": c / n, "n": n} for eps, c in zip(epsilons, correct, strict=True)
    ]
