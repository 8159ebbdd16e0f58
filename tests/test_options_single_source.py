"""The loss options are defined once (``MarginOptions``): the functional, the module, the
training config and ``largemargin train --help`` expose the same options with the same defaults,
except the training recipe's documented differences (``RECIPE_MARGIN``)."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import math

import pytest

import largemargin as lm
from largemargin.cli.main import build_parser, main
from largemargin.core.options import OPTION_NAMES, MarginOptions
from largemargin.training.config import RECIPE_MARGIN, LossConfig

#: The options in which the training recipe (the paper's MNIST settings) differs on purpose
#: from the library defaults, as RECIPE_MARGIN's docstring states.
RECIPE_DIFFERENCES = {"alpha": 4.0, "norm": math.inf, "epsilon": 1e-6, "norm_scale": "dim"}


def _differences(options: MarginOptions) -> dict:
    library = MarginOptions()
    return {
        name: getattr(options, name)
        for name in OPTION_NAMES
        if getattr(options, name) != getattr(library, name)
    }


def test_the_function_and_the_module_take_the_options_not_a_copy_of_their_list():
    for function in (lm.large_margin_loss, lm.LargeMarginLoss.__init__):
        parameters = inspect.signature(function).parameters
        assert not set(parameters) & set(OPTION_NAMES)  # no option spelled out by hand
        assert parameters["options"].default is None
        assert any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    assert lm.LargeMarginLoss().options == MarginOptions()


def test_training_defaults_differ_from_the_library_only_in_the_documented_recipe():
    assert LossConfig().margin == RECIPE_MARGIN
    assert _differences(LossConfig().margin) == RECIPE_DIFFERENCES
    assert "alpha 4, norm inf, epsilon 1e-6 and norm_scale dim" in " ".join(
        (LossConfig.__doc__ or "").split()
    )


def test_train_flags_are_every_option_with_the_recipe_defaults(capsys):
    (commands,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    train = commands.choices["train"]
    flags = {
        a.option_strings[0].removeprefix("--loss.margin.")
        for a in train._actions
        if a.option_strings and a.option_strings[0].startswith("--loss.margin.")
    }
    assert flags == set(OPTION_NAMES)
    defaults = train.instantiate(train.get_defaults())
    assert defaults.loss.margin == RECIPE_MARGIN
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert all(f"--loss.margin.{name}" in out for name in OPTION_NAMES)
    for old in ("--loss.gamma", "--loss.norm ", "--loss.top_k"):
        assert old not in out


def test_train_flags_set_every_kind_of_option():
    parser = build_parser()
    args = parser.parse_args(
        [
            "train",
            "--loss.margin.gamma",
            "[1, 2, 3]",
            "--loss.margin.norm",
            "inf",
            "--loss.margin.norm_scale",
            "[1.0, 2.0, 3.0]",
            "--loss.margin.exact_per_example",
            "true",
            "--loss.margin.check_values",
            "false",
            "--loss.margin.aggregation",
            "sum",
        ]
    )
    margin = parser.instantiate(args)["train"].loss.margin
    assert margin == dataclasses.replace(
        RECIPE_MARGIN,
        gamma=(1.0, 2.0, 3.0),
        norm_scale=(1.0, 2.0, 3.0),
        exact_per_example=True,
        check_values=False,
        aggregation="sum",
    )
    assert margin.norm == math.inf
