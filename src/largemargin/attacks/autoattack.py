"""AutoAttack, standard version (Croce & Hein, 2020), through the ``torchattacks`` library.

An optional extra: ``pip install largemargin[robust]`` installs torchattacks, which this
module imports only when ``autoattack`` is called.
"""

from __future__ import annotations

import torch
from torch import nn

from largemargin.torch_utils import eval_mode

from ._validate import check_batch, check_eps, check_norm

_TORCHATTACKS_NORM = {"inf": "Linf", "2": "L2"}


def autoattack(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    norm: str | float = "inf",
    n_classes: int = 10,
    seed: int = 0,
) -> torch.Tensor:
    """Standard AutoAttack (APGD-CE, APGD-T, FAB-T, Square) on a batch of images.

    ``x``: images (N, C, H, W) with values in [0, 1] (torchattacks' fixed input range) and
    H >= 5 for l2; ``y``: true labels (N,) as integer class indices; ``model(x)``: logits
    (N, n_classes), n_classes >= 4 (the targeted DLR loss compares the top four). ``eps`` is
    the radius of the l-inf (``norm="inf"``) or l2 (``norm=2``) ball, in input units.
    Each example keeps the first attack's result that misclassifies it, else stays ``x``.

    The model runs in eval mode (every submodule's previous mode restored afterwards),
    its parameters' ``requires_grad`` are switched off meanwhile (FAB calls ``backward``) so
    their ``.grad`` stay untouched, and torch's global RNG state (CPU and, for CUDA inputs,
    that device's) is restored, since torchattacks reseeds it with ``seed``. Returns a new
    detached tensor shaped like ``x``, on ``x``'s device; ``eps=0`` returns a copy of ``x``.

    Raises ImportError naming the install command when torchattacks is missing.
    """
    norm = check_norm(norm)
    eps = check_eps(eps)
    y = check_batch(x, y, 0.0, 1.0)
    if x.dim() != 4 or (norm == "2" and x.shape[2] < 5):
        raise ValueError(
            "x must be images of shape (N, C, H, W), with H >= 5 for norm=2 (Square's l2 "
            f"initialisation tiles the image in fifths), got shape {tuple(x.shape)}"
        )
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 4:
        raise ValueError(f"n_classes must be an int >= 4, got {n_classes!r}")
    if eps == 0:
        return x.detach().clone()
    try:
        import torchattacks
    except ImportError as err:
        raise ImportError(
            "autoattack needs the torchattacks library: pip install largemargin[robust]"
        ) from err

    params = [p for p in model.parameters() if p.requires_grad]
    rng_devices = [x.device] if x.device.type == "cuda" else []
    try:
        for p in params:
            p.requires_grad_(False)
        with eval_mode(model), torch.random.fork_rng(devices=rng_devices):
            attack = torchattacks.AutoAttack(
                model,
                norm=_TORCHATTACKS_NORM[norm],
                eps=eps,
                version="standard",
                n_classes=n_classes,
                seed=seed,
            )
            x_adv = attack(x.detach(), y)
    finally:
        for p in params:
            p.requires_grad_(True)
    return x_adv.detach().to(x.device)
