"""One norm vocabulary: every part of the package parses a norm to a float and labels it back."""

from __future__ import annotations

import math

import numpy as np
import pytest

from largemargin.core.norms import dual_exponent, norm_name, parse_norm


@pytest.mark.parametrize(
    "given, p",
    [
        ("inf", math.inf),
        (" Infinity", math.inf),
        (math.inf, math.inf),
        (2, 2.0),
        ("2", 2.0),
        ("1.5", 1.5),
        (np.float32(3), 3.0),
        (1, 1.0),
    ],
)
def test_every_spelling_parses_to_one_float(given, p):
    assert parse_norm(given) == p and isinstance(parse_norm(given), float)


@pytest.mark.parametrize("given", ["l2", "", "0.5", 0.5, "nan", math.nan, "-inf"])
def test_what_is_not_an_lp_norm_is_refused_naming_norm(given):
    with pytest.raises(ValueError, match="norm must be"):
        parse_norm(given)


@pytest.mark.parametrize("given", [True, None, [2]])
def test_a_non_number_is_a_type_error(given):
    with pytest.raises(TypeError, match="norm must be"):
        parse_norm(given)


@pytest.mark.parametrize("p, name", [(math.inf, "inf"), (2.0, "2"), (1.5, "1.5"), (1.0, "1")])
def test_the_label_round_trips(p, name):
    assert norm_name(p) == name and parse_norm(name) == p


@pytest.mark.parametrize("p, q", [(1.0, math.inf), (2.0, 2.0), (math.inf, 1.0), (3.0, 1.5)])
def test_dual_exponent(p, q):
    assert dual_exponent(p) == pytest.approx(q)
