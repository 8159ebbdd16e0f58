"""build_model / default_margin_layers / list_models: name resolution and errors."""

from __future__ import annotations

import pytest
from torch import nn

from largemargin import check_layer_names
from largemargin.models import (
    CifarResNet,
    MnistReference,
    WideResNet,
    build_model,
    default_margin_layers,
    list_models,
)
from largemargin.models.registry import BUILTIN_MODELS
from largemargin.models.torchvision_models import torchvision_names

BUILTINS = [
    "mnist_reference",
    "cifar_resnet20",
    "cifar_resnet32",
    "cifar_resnet44",
    "cifar_resnet56",
    "cifar_resnet110",
    "cifar_resnet9",
    "cifar_resnet9_w16",
    "wrn_16_4",
    "wrn_16_8",
    "wrn_28_10",
    "wrn_40_4",
]


def test_list_models_gives_builtins_then_torchvision():
    names = list_models()
    assert names == BUILTINS + torchvision_names()
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_default_margin_layers_exist(name):
    model = build_model(name, 10)
    layers = default_margin_layers(name)
    assert layers[0] == "input"
    assert check_layer_names(model, layers) == layers


def test_builtin_defaults():
    assert default_margin_layers("mnist_reference") == ["input", "block1", "block2"]
    assert default_margin_layers("cifar_resnet56") == ["input", "stage1", "stage2", "stage3"]
    assert default_margin_layers("wrn_28_10") == ["input", "stage1", "stage2", "stage3"]


@pytest.mark.parametrize(
    ("name", "cls", "params"),
    [
        ("cifar_resnet20", CifarResNet, 269_722),
        ("cifar_resnet56", CifarResNet, 853_018),
        ("wrn_16_4", WideResNet, 2_748_890),
    ],
)
def test_builtin_names_fix_the_architecture(name, cls, params):
    model = build_model(name, 10)
    assert type(model) is cls
    assert sum(p.numel() for p in model.parameters()) == params


def test_num_classes_and_in_channels():
    model = build_model("cifar_resnet20", 100, in_channels=1)
    assert model.fc.out_features == 100
    assert model.stem.conv.in_channels == 1
    assert build_model("mnist_reference", 10).block1.conv.in_channels == 1
    assert build_model("wrn_16_4", 10).stem.in_channels == 3


def test_kwargs_reach_the_constructor():
    model = build_model("mnist_reference", 10, in_channels=3, input_size=32)
    assert isinstance(model, MnistReference)
    assert model.fc1.in_features == 8 * 8 * 64
    wrn = build_model("wrn_16_4", 10, dropout=0.3)
    assert {m.p for m in wrn.modules() if isinstance(m, nn.Dropout)} == {0.3}


def test_a_name_fixes_its_depth():
    with pytest.raises(TypeError, match="depth"):
        build_model("cifar_resnet20", 10, depth=56)


def test_torchvision_model():
    model = build_model("resnet18", 7, in_channels=3)
    assert model.fc.out_features == 7
    assert default_margin_layers("resnet18") == ["layer1", "layer2", "layer3"]
    assert default_margin_layers("vgg11") == ["input"]


def test_torchvision_models_take_three_channels():
    with pytest.raises(ValueError, match="takes 3 input channels, not 1"):
        build_model("resnet18", 10, in_channels=1)


def test_import_path_goes_to_the_factory():
    model = build_model("torch.nn:Flatten", 10)
    assert isinstance(model, nn.Flatten)
    assert default_margin_layers("torch.nn:Flatten") == ["input"]
    with pytest.raises(ValueError, match="cannot import module"):
        build_model("lm_no_such_module_xyz:make", 10)


@pytest.mark.parametrize("query", [build_model, default_margin_layers])
def test_unknown_name_lists_the_known_ones(query):
    args = ("resnet_twenty", 10) if query is build_model else ("resnet_twenty",)
    with pytest.raises(ValueError, match="unknown model 'resnet_twenty'") as info:
        query(*args)
    message = str(info.value)
    assert all(name in message for name in BUILTIN_MODELS)
    assert "resnet50" in message
    assert "inception_v3" in message
    assert "'package.module:callable'" in message


def test_num_classes_must_be_positive():
    with pytest.raises(ValueError, match="num_classes"):
        build_model("mnist_reference", 0)
