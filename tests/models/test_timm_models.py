"""timm models by name: built untrained with the data's classes and channels, named layers
captured for the margin, rebuilt from a checkpoint without trust_model_code; clear errors."""

from __future__ import annotations

import sys

import pytest
import torch

import largemargin as lm
from largemargin.models import build_model, default_margin_layers
from largemargin.models.import_path import is_import_path
from largemargin.training.checkpoint_eval import load_checkpoint

NAME = "timm:test_resnet"  # timm's own tiny ResNet, for tests


@pytest.fixture
def timm():
    return pytest.importorskip("timm", reason="timm is optional: pip install 'largemargin[timm]'")


def test_builds_with_the_data_shape_and_captures_named_layers(timm):
    torch.manual_seed(0)
    model = build_model(NAME, num_classes=7, in_channels=1)
    assert isinstance(model, timm.models.ResNet)
    x = torch.rand(4, 1, 28, 28)
    y = torch.tensor([0, 3, 6, 2])
    logits, layers = lm.forward_with_layers(model, x, ["input", "layer1", "layer2"])
    assert logits.shape == (4, 7)
    assert [tuple(t.shape) for t in layers] == [(4, 1, 28, 28), (4, 32, 7, 7), (4, 48, 4, 4)]
    torch.testing.assert_close(logits, model(x))  # capturing changes nothing
    loss = lm.large_margin_loss(logits, y, layers, top_k=2)
    loss.backward()
    assert torch.isfinite(loss) and model.fc.weight.grad.abs().sum() > 0


def test_a_timm_name_is_no_import_path_and_defaults_to_the_input_margin(timm):
    assert not is_import_path(NAME) and is_import_path("timm.models:resnet18")
    assert default_margin_layers(NAME) == ["input"]


def test_a_timm_checkpoint_is_rebuilt_without_trust_model_code(timm, tmp_path):
    torch.manual_seed(0)
    model = build_model(NAME, num_classes=10, in_channels=1).eval()
    config = {"model": {"name": NAME, "kwargs": {}}}
    torch.save(
        {
            "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
            "largemargin_config": {**config, "model_shape": {"num_classes": 10, "in_channels": 1}},
        },
        tmp_path / "timm.ckpt",
    )
    rebuilt, cfg = load_checkpoint(tmp_path / "timm.ckpt")
    x = torch.rand(2, 1, 28, 28)
    assert cfg.model.name == NAME
    torch.testing.assert_close(rebuilt(x), model(x))


def test_unknown_timm_model_suggests_close_names(timm):
    with pytest.raises(ValueError, match=r"unknown timm model 'timm:test_resnt'.*test_resnet"):
        build_model("timm:test_resnt", num_classes=10)


def test_pretrained_weights_are_refused(timm):
    with pytest.raises(ValueError, match="built untrained"):
        build_model(NAME, num_classes=10, pretrained=True)


def test_without_timm_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # makes `import timm` fail
    with pytest.raises(ValueError, match=r"'timm:resnet18' needs the timm package .*\[timm\]"):
        build_model("timm:resnet18", num_classes=10)
