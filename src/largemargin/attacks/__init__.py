"""Adversarial attacks (FGSM, iterative FGSM, PGD on three losses, Square, AutoAttack),
accuracy under attack, and a robustness evaluation with gradient-masking checks.

All attacks take a batch ``x`` (N, ...) in [clip_min, clip_max], labels ``y`` (N,) and a
radius ``eps`` in input units, in the l-inf (``norm="inf"``) or l2 (``norm=2``) norm, and
return adversarial inputs shaped like ``x``. Gradient attacks ascend ``loss="ce"`` (the
cross-entropy), ``"margin"`` (Carlini-Wagner) or ``"dlr"`` (AutoAttack's). ``pixel_space``
wraps a model trained on normalised inputs so that eps is in pixel units. Rows of accuracy
under attack are written by ``largemargin.files.write_csv`` and plotted by
``largemargin.report.plot_accuracy_vs_eps``. ``ascend`` is the projected ascent they share,
on any objective whose input gradient is given (adversarial training uses it).
"""

from __future__ import annotations

from ._ascent import Gradient, ascend
from .accuracy import ATTACKS, accuracy_under_attack
from .autoattack import autoattack
from .gradient_sign import fgsm, iterative_fgsm
from .pgd import pgd
from .pixel_space import Normalize, pixel_space, to_pixels
from .robustness import RobustnessReport, evaluate_robustness
from .square import square

__all__ = [
    "ATTACKS",
    "Gradient",
    "Normalize",
    "RobustnessReport",
    "accuracy_under_attack",
    "ascend",
    "autoattack",
    "evaluate_robustness",
    "fgsm",
    "iterative_fgsm",
    "pgd",
    "pixel_space",
    "square",
    "to_pixels",
]
