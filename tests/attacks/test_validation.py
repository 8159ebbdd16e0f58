"""Bad arguments raise ValueError naming the argument, its value and what was expected."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from largemargin.attacks import (
    accuracy_under_attack,
    autoattack,
    fgsm,
    iterative_fgsm,
    pgd,
    square,
)
from largemargin.files import write_csv
from largemargin.report import plot_accuracy_vs_eps

MODEL = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 4))
X, Y = torch.rand(3, 4), torch.tensor([0, 1, 2])
IMAGES = torch.rand(3, 1, 2, 2)


def call(attack, x=X, y=Y, eps=0.1, **kwargs):
    return lambda: attack(MODEL, x, y, eps, **kwargs)


BAD = {
    "negative eps": (call(fgsm, eps=-0.1), r"eps must be a finite number >= 0.*-0\.1"),
    "nan eps": (call(pgd, eps=math.nan), r"eps must be .*nan"),
    "string eps": (call(fgsm, eps="0.1"), r"eps must be .*'0\.1'"),
    "zero steps": (call(iterative_fgsm, steps=0), r"steps must be an int >= 1, got 0"),
    "float steps": (call(pgd, steps=2.0), r"steps must be an int >= 1, got 2\.0"),
    "zero restarts": (call(pgd, restarts=0), r"restarts must be an int >= 1, got 0"),
    "zero step_size": (call(pgd, step_size=0.0), r"step_size must be .* > 0.*got 0\.0"),
    "unknown norm": (call(fgsm, norm="l1"), r"norm must be 'inf' or 2.*'l1'"),
    "unknown loss": (call(pgd, loss="cw"), r"loss must be one of \['ce', 'margin', 'dlr'\].*'cw'"),
    "loss not a string": (call(fgsm, loss=None), r"loss must be one of .*None"),
    "square zero queries": (call(square, n_queries=0), r"n_queries must be an int >= 1, got 0"),
    "square p_init 0": (call(square, p_init=0.0), r"p_init must be a number in \(0, 1\], got 0"),
    "square p_init > 1": (call(square, p_init=1.5), r"p_init must be .*1\.5"),
    "square x outside": (call(square, x=X - 1.0), r"x must lie in \[clip_min, clip_max\]"),
    "norm 1": (call(pgd, norm=1), r"norm must be 'inf' or 2.*got 1"),
    "y too long": (call(fgsm, y=torch.tensor([0, 1, 2, 0])), r"y must be .*shape \(3,\).*\(4,\)"),
    "y float": (call(pgd, y=Y.float()), r"y must be an integer tensor.*float32"),
    "x integer": (call(fgsm, x=X.long()), r"x must be a floating tensor.*int64"),
    "clip_min == clip_max": (
        call(iterative_fgsm, clip_min=1.0, clip_max=1.0),
        r"clip_min must be < clip_max.*clip_min=1\.0, clip_max=1\.0",
    ),
    "x outside the range": (call(fgsm, x=X + 1.0), r"x must lie in \[clip_min, clip_max\]"),
    "x nan": (call(pgd, x=X.clone().fill_(math.nan)), r"x must lie in .*NaN"),
    "autoattack on flat x": (call(autoattack, n_classes=4), r"x must be images.*\(3, 4\)"),
    "autoattack l2 on small images": (
        call(autoattack, x=IMAGES, norm=2, n_classes=4),
        r"H >= 5 for norm=2.*\(3, 1, 2, 2\)",
    ),
    "autoattack 3 classes": (call(autoattack, x=IMAGES, n_classes=3), r"n_classes must be .*3"),
    "unknown attack": (
        lambda: accuracy_under_attack(MODEL, (X, Y), "cw", [0.1]),
        r"attack must be one of \['autoattack', 'fgsm', 'iterative_fgsm', 'pgd', 'square'\], "
        r"got 'cw'",
    ),
    "no epsilons": (
        lambda: accuracy_under_attack(MODEL, (X, Y), "fgsm", []),
        r"epsilons must be a non-empty sequence.*\[\]",
    ),
    "negative epsilon": (
        lambda: accuracy_under_attack(MODEL, (X, Y), "fgsm", [0.1, -1]),
        r"eps must be .*-1",
    ),
    "zero batch_size": (
        lambda: accuracy_under_attack(MODEL, (X, Y), "fgsm", [0.1], batch_size=0),
        r"batch_size must be an int >= 1, got 0",
    ),
    "no examples": (
        lambda: accuracy_under_attack(MODEL, [], "fgsm", [0.1]),
        r"loader_or_tensors must hold at least one example",
    ),
    "no rows": (lambda: write_csv([], "unused.csv"), r"rows must hold at least one row"),
    "mismatched rows": (
        lambda: write_csv([{"eps": 0, "n": 1}, {"eps": 1}], "unused.csv"),
        r"every row must have the keys \['eps', 'n'\], got \['eps'\]",
    ),
    "no models": (lambda: plot_accuracy_vs_eps({}, "unused.png"), r"rows_by_model must map"),
    "model without rows": (
        lambda: plot_accuracy_vs_eps({"m": []}, "unused.png"),
        r"rows_by_model must map.*'m': 0",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_argument_raises_value_error_naming_it(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # writers must not get as far as creating files
    thunk, message = BAD[case]
    with pytest.raises(ValueError, match=message):
        thunk()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("norm", ["inf", "INF", math.inf, 2, 2.0, "2", np.float32(2)])
def test_accepted_norm_spellings(norm):
    assert fgsm(MODEL, X, Y, 0.1, norm=norm).shape == X.shape


def test_numpy_scalars_are_accepted():
    x_adv = iterative_fgsm(
        MODEL, X, Y, np.float32(0.1), steps=np.int64(2), step_size=np.float64(0.1)
    )
    assert (x_adv - X).abs().max() <= 0.1 + 1e-6
