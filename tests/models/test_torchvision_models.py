"""torchvision models by name: untrained, plain-tensor outputs, default margin layers."""

from __future__ import annotations

import warnings

import pytest
import torch
from torchvision import models

from largemargin.models.torchvision_models import (
    INCEPTION_V3_MARGIN_LAYERS,
    RESNET_MARGIN_LAYERS,
    build_torchvision,
    torchvision_margin_layers,
    torchvision_names,
)
from tests.models.probes import layer_outputs


def test_names_are_the_classification_models():
    names = torchvision_names()
    assert names == sorted(names)
    assert {"resnet18", "resnet50", "inception_v3", "vgg11"} <= set(names)
    assert "fasterrcnn_resnet50_fpn" not in names


def test_resnet18_stage_outputs_and_logits():
    torch.manual_seed(0)
    model = build_torchvision("resnet18", 5)
    assert torchvision_margin_layers("resnet18") == ["layer1", "layer2", "layer3"]
    logits, outs = layer_outputs(model, torch.randn(2, 3, 64, 64), RESNET_MARGIN_LAYERS)
    assert logits.shape == (2, 5)
    assert outs["layer1"].shape == (2, 64, 16, 16)
    assert outs["layer2"].shape == (2, 128, 8, 8)
    assert outs["layer3"].shape == (2, 256, 4, 4)


def test_resnet50_logits():
    model = build_torchvision("resnet50", 10)
    assert model.fc.out_features == 10
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 10)


def test_inception_v3_returns_a_tensor_in_training_mode_without_warnings():
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = build_torchvision("inception_v3", 10)
    assert model.AuxLogits is None
    model.train()
    # 75x75 is the smallest input inception_v3 takes (299x299 at full size).
    logits, outs = layer_outputs(model, torch.randn(2, 3, 75, 75), INCEPTION_V3_MARGIN_LAYERS)
    assert type(logits) is torch.Tensor
    assert logits.shape == (2, 10)
    assert [outs[name].shape[1] for name in INCEPTION_V3_MARGIN_LAYERS] == [288, 768, 2048]
    assert torchvision_margin_layers("inception_v3") == list(INCEPTION_V3_MARGIN_LAYERS)


def test_googlenet_returns_a_tensor_in_training_mode():
    model = build_torchvision("googlenet", 3).train()
    logits = model(torch.randn(2, 3, 64, 64))
    assert type(logits) is torch.Tensor
    assert logits.shape == (2, 3)


def test_keyword_arguments_reach_the_model():
    model = build_torchvision("inception_v3", 10, aux_logits=True, init_weights=False)
    assert model.AuxLogits is not None


def test_default_margin_layers_of_every_torchvision_model():
    for name in torchvision_names():
        if name == "inception_v3":
            expected = list(INCEPTION_V3_MARGIN_LAYERS)
        elif models.get_model_builder(name).__module__ == "torchvision.models.resnet":
            expected = list(RESNET_MARGIN_LAYERS)
        else:
            expected = ["input"]
        assert torchvision_margin_layers(name) == expected, name


def test_pretrained_weights_are_refused():
    with pytest.raises(ValueError, match="untrained"):
        build_torchvision("resnet18", 1000, weights="DEFAULT")
