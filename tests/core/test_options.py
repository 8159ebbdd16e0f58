"""MarginOptions: frozen, normalised, validated once; the functional, the module and
margin_distances take it or its fields, and the loss returns the distances it used."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

import largemargin as lm
from largemargin.core.options import LOSS_ONLY, OPTION_NAMES, MarginOptions
from tests.core.conftest import mlp_batch


@pytest.fixture
def batch():
    _, logits, y, layers = mlp_batch(classes=5, seed=2)
    return logits, y, layers


def test_options_are_frozen():
    options = MarginOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.gamma = 1.0  # type: ignore[misc]


def test_values_are_normalised_so_equal_settings_compare_equal():
    options = MarginOptions(gamma=[1, 2], norm="inf", alpha=3, norm_scale=[2, 4])
    assert options.gamma == (1.0, 2.0) and options.norm == math.inf and options.alpha == 3.0
    assert options.norm_scale == (2.0, 4.0)
    assert options == MarginOptions(
        gamma=(1.0, 2.0), norm=float("inf"), alpha=3.0, norm_scale=(2, 4)
    )
    assert dataclasses.replace(options, norm="INF") == options  # replace validates too


@pytest.mark.parametrize(
    ("fields", "exc", "fragment"),
    [
        ({"gamma": 0.0}, ValueError, "gamma must be"),
        ({"gamma": [1.0, -1.0]}, ValueError, "gamma[1] must be"),
        ({"gamma": []}, ValueError, "gamma must be a positive float or one per layer"),
        ({"alpha": math.nan}, ValueError, "alpha must be"),
        ({"top_k": 0}, ValueError, "top_k must be >= 1"),
        ({"top_k": 1.0}, TypeError, "top_k must be an int"),
        ({"norm": 0.5}, ValueError, "norm must be >= 1"),
        ({"epsilon": 0}, ValueError, "epsilon must be"),
        ({"second_order": 1}, TypeError, "second_order must be a bool"),
        ({"aggregation": "mean"}, ValueError, "aggregation must be one of"),
        ({"norm_scale": "max"}, ValueError, "norm_scale must be None, 'dim'"),
        ({"norm_scale": 3.0}, TypeError, "norm_scale must be None, 'dim'"),
        ({"score": "logits"}, ValueError, "score must be one of"),
        ({"reduction": "avg"}, ValueError, "reduction must be one of"),
        ({"exact_per_example": "yes"}, TypeError, "exact_per_example must be a bool"),
        ({"check_values": 1}, TypeError, "check_values must be None, True or False"),
    ],
)
def test_bad_values_raise_naming_the_option(fields, exc, fragment):
    with pytest.raises(exc) as info:
        MarginOptions(**fields)
    assert fragment in str(info.value)


def test_options_or_fields_but_not_both(batch):
    logits, y, layers = batch
    options = MarginOptions(gamma=1.0)
    torch.testing.assert_close(
        lm.large_margin_loss(logits, y, layers, options),
        lm.large_margin_loss(logits, y, layers, gamma=1.0),
    )
    assert lm.LargeMarginLoss(options).options is options
    assert lm.LargeMarginLoss(gamma=1.0).options == options
    with pytest.raises(TypeError, match=r"got options and the option\(s\) \['top_k'\]"):
        lm.large_margin_loss(logits, y, layers, options, top_k=2)
    with pytest.raises(TypeError, match=r"LargeMarginLoss\(\) got options and"):
        lm.LargeMarginLoss(options, gamma=2.0)
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['gama'\]"):
        lm.large_margin_loss(logits, y, layers, gama=1.0)
    with pytest.raises(TypeError, match="options must be a MarginOptions, got dict"):
        lm.LargeMarginLoss({"gamma": 1.0})


def test_every_option_is_a_keyword_of_the_function_and_the_module(batch):
    """The functional and the module expose exactly the fields of MarginOptions, with its
    defaults: spelling each default out changes nothing."""
    logits, y, layers = batch
    defaults = {name: getattr(MarginOptions(), name) for name in OPTION_NAMES}
    torch.testing.assert_close(
        lm.large_margin_loss(logits, y, layers, **defaults),
        lm.large_margin_loss(logits, y, layers),
    )
    assert lm.LargeMarginLoss(**defaults).options == lm.LargeMarginLoss().options == MarginOptions()


def test_repr_lists_every_option():
    text = repr(lm.LargeMarginLoss(top_k=2, norm="inf"))
    assert all(f"{name}=" in text for name in OPTION_NAMES)
    assert "top_k=2" in text and "norm=inf" in text


@pytest.mark.parametrize("second_order", [False, True])
def test_returned_distances_are_those_of_margin_distances_with_a_graph(batch, second_order):
    logits, y, layers = batch
    options = MarginOptions(
        gamma=5.0, top_k=3, norm="inf", norm_scale="dim", second_order=second_order
    )
    loss, dist = lm.large_margin_loss(logits, y, layers, options, return_distances=True)
    expected = lm.margin_distances(logits, y, layers, options)
    assert dist.shape == (6, 2, 3) and dist.requires_grad and not expected.requires_grad
    torch.testing.assert_close(dist.detach(), expected)
    torch.testing.assert_close(loss, lm.large_margin_loss(logits, y, layers, options))
    module_loss, module_dist = lm.LargeMarginLoss(options)(logits, y, layers, return_distances=True)
    torch.testing.assert_close(module_loss, loss)
    torch.testing.assert_close(module_dist, dist)
    (grad,) = torch.autograd.grad(dist.sum(), logits)  # the graph reaches the logits
    assert bool(torch.isfinite(grad).all()) and bool(grad.abs().sum() > 0)


def test_margin_distances_takes_distance_options_and_refuses_loss_only_ones(batch):
    logits, y, layers = batch
    by_keyword = lm.margin_distances(logits, y, layers, top_k=2, norm=1, score="logit")
    options = MarginOptions(top_k=2, norm=1, score="logit", gamma=3.0, aggregation="sum")
    torch.testing.assert_close(lm.margin_distances(logits, y, layers, options), by_keyword)
    for name in LOSS_ONLY:
        with pytest.raises(TypeError, match=rf"loss-only option\(s\) \['{name}'\]"):
            lm.margin_distances(logits, y, layers, **{name: getattr(MarginOptions(), name)})


def test_numpy_scalars_are_numbers_like_any_other():
    options = MarginOptions(gamma=np.float32(3), alpha=np.int64(2), norm=np.float64(2))
    assert (options.gamma, options.alpha, options.norm) == (3.0, 2.0, 2.0)
    assert all(type(v) is float for v in (options.gamma, options.alpha, options.norm))
