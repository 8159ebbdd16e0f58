"""AutoAttack, standard version (Croce & Hein, 2020), through the authors' reference code
(the ``pyautoattack`` package).

An optional extra: ``pip install largemargin[robust]`` installs pyautoattack, which this
module imports only when ``autoattack`` is called.
"""

from __future__ import annotations

import math
import sys

import torch
from torch import nn

from largemargin.torch_utils import eval_mode

from ._validate import check_batch, check_eps, check_norm

_REFERENCE_NORM = {math.inf: "Linf", 2.0: "L2"}

#: Target classes of the standard version's targeted attacks (APGD-T, FAB-T), as published;
#: fewer when the model has fewer than 10 classes (all other classes then).
_TARGET_CLASSES = 9


def autoattack(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    norm: str | float = "inf",
    n_classes: int = 10,
    seed: int = 0,
    batch_size: int = 250,
) -> torch.Tensor:
    """Standard AutoAttack (APGD-CE, APGD-T, FAB-T, Square; the published parameters) on a
    batch of images.

    ``x``: images (N, C, H, W) with values in [0, 1] (the reference code's fixed input range)
    and H >= 5 for l2; ``y``: true labels (N,) as integer class indices; ``model(x)``: logits
    (N, n_classes), n_classes >= 4 (the targeted DLR loss compares the top four); the
    targeted attacks try min(9, n_classes - 1) target classes. ``eps`` is the radius of the
    l-inf (``norm="inf"``) or l2 (``norm=2``) ball, in input units. Each example keeps the
    first attack's result that misclassifies it, else stays ``x``. ``batch_size``: examples
    per forward pass inside the attack.

    The model runs in eval mode (every submodule's previous mode restored afterwards), its
    parameters' ``requires_grad`` are switched off meanwhile (FAB calls ``backward``) so their
    ``.grad`` stay untouched, torch's global RNG state (CPU and, when CUDA is initialised,
    the current CUDA device's and x's) is restored, since the reference code reseeds it with
    ``seed``, and so is the Python trace function that its dynamic-defence check resets.
    Nothing is printed (verbose off); the reference code's own warnings about the model go to
    its ``auto-attack`` logger. Returns a new detached tensor shaped like ``x``, on ``x``'s
    device; ``eps=0`` returns a copy of ``x``.

    Raises ImportError naming the install command when pyautoattack is missing.
    """
    norm = check_norm(norm)
    eps = check_eps(eps)
    y = check_batch(x, y, 0.0, 1.0)
    if x.dim() != 4 or (norm == 2 and x.shape[2] < 5):
        raise ValueError(
            "x must be images of shape (N, C, H, W), with H >= 5 for norm=2 (Square's l2 "
            f"initialisation tiles the image in fifths), got shape {tuple(x.shape)}"
        )
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 4:
        raise ValueError(f"n_classes must be an int >= 4, got {n_classes!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if eps == 0:
        return x.detach().clone()
    try:
        from pyautoattack import AutoAttack
    except ImportError as err:
        raise ImportError(
            "autoattack needs the reference AutoAttack (pyautoattack): "
            "pip install largemargin[robust]"
        ) from err

    params = [p for p in model.parameters() if p.requires_grad]
    rng_devices = {x.device} if x.device.type == "cuda" else set()
    if torch.cuda.is_initialized():
        rng_devices.add(torch.device("cuda", torch.cuda.current_device()))
    tracer = sys.gettrace()
    try:
        for p in params:
            p.requires_grad_(False)
        with eval_mode(model), torch.random.fork_rng(devices=sorted(rng_devices, key=str)):
            attack = AutoAttack(
                model,
                norm=_REFERENCE_NORM[norm],
                eps=eps,
                version="standard",
                device=x.device,
                seed=seed,
            )
            attack.verbose = False
            targets = min(_TARGET_CLASSES, n_classes - 1)
            attack.apgd_targeted.n_target_classes = targets
            attack.fab.n_target_classes = targets
            x_adv, _ = attack.run_standard_evaluation(x.detach(), y, batch_size=batch_size)
    finally:
        sys.settrace(tracer)
        for p in params:
            p.requires_grad_(True)
    return x_adv.detach().to(x.device)
