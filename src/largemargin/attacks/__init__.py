"""Adversarial attacks (FGSM, iterative FGSM, PGD, AutoAttack) and accuracy under attack.

All attacks take a batch ``x`` (N, ...) in [clip_min, clip_max], labels ``y`` (N,) and a
radius ``eps`` in input units, in the l-inf (``norm="inf"``) or l2 (``norm=2``) norm, and
return adversarial inputs shaped like ``x``.
"""

from __future__ import annotations

from .autoattack import autoattack
from .evaluate import ATTACKS, accuracy_under_attack
from .gradient_sign import fgsm, iterative_fgsm
from .pgd import pgd
from .report import plot_accuracy_vs_eps, write_csv

__all__ = [
    "ATTACKS",
    "accuracy_under_attack",
    "autoattack",
    "fgsm",
    "iterative_fgsm",
    "pgd",
    "plot_accuracy_vs_eps",
    "write_csv",
]
