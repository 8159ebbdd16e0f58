"""Every preset in configs/ is a valid run config whose model has the named margin layers."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import largemargin as lm
from largemargin.models import build_model
from largemargin.training import from_dict, validate

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))


def test_presets_exist():
    names = {p.name for p in CONFIGS}
    assert {"mnist-reference.yaml", "cifar10-resnet.yaml", "imagenet-resnet50.yaml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_preset_is_valid(path):
    cfg = from_dict(yaml.safe_load(path.read_text()))
    validate(cfg)
    classes = 1000 if cfg.data.name == "folder" else 10
    model = build_model(cfg.model.name, num_classes=classes, **cfg.model.kwargs)
    lm.check_layer_names(model, cfg.model.margin_layers)
    assert "largemargin train --config configs/" + path.name in path.read_text()


@pytest.mark.parametrize(
    ("preset", "label"),
    [
        ("mnist-robust.yaml", "margin l-inf, logit, second-order, gamma 100"),
        ("mnist-noisy-labels.yaml", "margin l-inf, all competitors"),
    ],
)
def test_variant_presets_train_the_loss_the_grids_measured(preset, label):
    from largemargin.experiments.grid import LOSSES

    cfg = from_dict(yaml.safe_load((CONFIGS[0].parent / preset).read_text()))
    assert cfg.loss == LOSSES[label]
    assert cfg.model.margin_layers == ["input", "block1", "block2"]


def test_mnist_robust_trains_the_robust_training_grids_margin_plus_fgsm_rs():
    from largemargin.experiments.robust_training import METHODS

    cfg = from_dict(yaml.safe_load((CONFIGS[0].parent / "mnist-robust.yaml").read_text()))
    loss, adversarial = METHODS["margin + FGSM-RS"]
    assert (cfg.loss, cfg.adversarial) == (loss, adversarial)
