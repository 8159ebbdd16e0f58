"""User models by import path "package.module:callable"."""

from __future__ import annotations

import sys
import textwrap

import pytest
import torch
from torch import nn

from largemargin.models.import_path import build_from_path, is_import_path, load_factory

MODULE = "lm_test_user_models"

SOURCE = """
from torch import nn


def make(num_classes, in_channels=3, width=4):
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(width, num_classes),
    )


def make_fixed():
    return nn.Linear(4, 3)


def make_any(**kwargs):
    model = nn.Identity()
    model.received = kwargs
    return model


class Net(nn.Linear):
    def __init__(self, num_classes=10, *, features=8):
        super().__init__(features, num_classes)


class Zoo:
    @staticmethod
    def build(num_classes):
        return nn.Linear(2, num_classes)


def not_a_module(num_classes):
    return num_classes


NOT_CALLABLE = 3
"""


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / f"{MODULE}.py").write_text(textwrap.dedent(SOURCE))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield MODULE
    sys.modules.pop(MODULE, None)


def test_is_import_path():
    assert is_import_path("pkg.mod:make")
    assert not is_import_path("resnet50")


def test_factory_gets_num_classes_in_channels_and_extra_kwargs(user_module):
    model = build_from_path(f"{user_module}:make", 5, in_channels=1, width=6)
    assert model[0].in_channels == 1
    assert model[0].out_channels == 6
    assert model[-1].out_features == 5
    assert model(torch.rand(2, 1, 8, 8)).shape == (2, 5)


def test_in_channels_none_keeps_the_factory_default(user_module):
    assert build_from_path(f"{user_module}:make", 5)[0].in_channels == 3


def test_arguments_the_factory_does_not_take_are_not_passed(user_module):
    model = build_from_path(f"{user_module}:make_fixed", 10, in_channels=1)
    assert isinstance(model, nn.Linear)
    assert model.out_features == 3


def test_var_keyword_factory_gets_everything(user_module):
    model = build_from_path(f"{user_module}:make_any", 7, in_channels=2, depth=3)
    assert model.received == {"num_classes": 7, "in_channels": 2, "depth": 3}


def test_class_and_dotted_attribute(user_module):
    net = build_from_path(f"{user_module}:Net", 4, in_channels=3, features=5)
    assert (net.in_features, net.out_features) == (5, 4)
    assert build_from_path(f"{user_module}:Zoo.build", 6).out_features == 6


def test_factory_must_return_a_module(user_module):
    with pytest.raises(TypeError, match=r"returned int, expected a torch\.nn\.Module"):
        build_from_path(f"{user_module}:not_a_module", 3)


@pytest.mark.parametrize("path", [":make", f"{MODULE}:", "a:b:c"])
def test_malformed_path(path):
    with pytest.raises(ValueError, match=r"bad import path .*expected 'package\.module:callable'"):
        load_factory(path)


def test_missing_module():
    with pytest.raises(ValueError, match="lm_no_such_module_xyz:make") as info:
        load_factory("lm_no_such_module_xyz:make")
    assert "cannot import module 'lm_no_such_module_xyz'" in str(info.value)
    assert "'package.module:callable'" in str(info.value)


def test_missing_attribute(user_module):
    with pytest.raises(ValueError, match=f"{MODULE}:nope.*has no attribute 'nope'"):
        load_factory(f"{user_module}:nope")
    with pytest.raises(ValueError, match=r"has no attribute 'Zoo\.nope'"):
        load_factory(f"{user_module}:Zoo.nope")


def test_not_callable(user_module):
    with pytest.raises(ValueError, match="'NOT_CALLABLE' is not callable"):
        load_factory(f"{user_module}:NOT_CALLABLE")
