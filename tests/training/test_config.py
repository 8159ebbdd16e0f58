"""Run configs: round trip, unknown keys and bad values caught before any training."""

from __future__ import annotations

from dataclasses import replace

import pytest

from largemargin.training import RunConfig, from_dict, to_dict, validate
from largemargin.training.config import LossConfig, OptimConfig, TrainerConfig, migrate, recipe


def test_round_trip_through_a_dict():
    cfg = RunConfig(loss=recipe(gamma=[1.0, 2.0, 3.0], top_k=2), seed=3)
    again = from_dict(to_dict(cfg))
    assert again == cfg


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"lossy": {}}, "unknown config key(s) ['lossy']"),
        ({"loss": {"gama": 1.0}}, "unknown key(s) ['gama'] in loss"),
        ({"trainer": 3}, "trainer: expected a mapping"),
    ],
)
def test_unknown_keys_are_named(values, fragment):
    with pytest.raises(ValueError) as info:
        from_dict(values)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("values", "start"),
    [
        ({"loss": {"margin": {"alpha": 0}}}, "loss.margin.alpha must be a finite number > 0"),
        ({"loss": {"margin": {"gamma": [1.0, -1.0]}}}, "loss.margin.gamma[1] must be"),
        ({"loss": {"margin": {"second_order": 1}}}, "loss.margin.second_order must be a bool"),
        ({"data": {"label_noise": 2}}, "data.label_noise=2: expected a fraction"),
    ],
)
def test_a_bad_value_inside_a_section_names_its_full_key(values, start):
    with pytest.raises((ValueError, TypeError)) as info:
        from_dict(values)
    assert str(info.value).startswith(start)


def test_sections_maps_every_nested_dataclass_to_its_key():
    from largemargin.core import MarginOptions
    from largemargin.data import DataConfig
    from largemargin.training.config import AdversarialConfig, sections

    found = sections()
    assert found[MarginOptions] == "loss.margin" and found[DataConfig] == "data"
    assert found[AdversarialConfig] == "adversarial" and found[TrainerConfig] == "trainer"


@pytest.mark.parametrize(
    ("cfg", "fragment"),
    [
        (RunConfig(loss=LossConfig(kind="focal")), "loss.kind='focal'"),
        (RunConfig(loss=LossConfig(cross_entropy_weight=-1.0)), "loss.cross_entropy_weight"),
        (RunConfig(optim=OptimConfig(lr=0.0)), "optim.lr=0.0"),
        (RunConfig(optim=OptimConfig(name="lbfgs")), "optim.name='lbfgs'"),
        (RunConfig(optim=OptimConfig(momentum=1.0)), "optim.momentum"),
        (RunConfig(trainer=TrainerConfig(epochs=0)), "trainer.epochs=0"),
        (RunConfig(trainer=TrainerConfig(batch_size=0)), "trainer.batch_size=0"),
        (
            RunConfig(trainer=TrainerConfig(checkpoint_every_n_epochs=0)),
            "trainer.checkpoint_every_n_epochs=0",
        ),
        (RunConfig(trainer=TrainerConfig(margin_examples=0)), "trainer.margin_examples=0"),
        (RunConfig(trainer=TrainerConfig(margin_examples=True)), "trainer.margin_examples=True"),
        (RunConfig(seed=-1), "seed=-1"),
    ],
)
def test_bad_values_are_named(cfg, fragment):
    with pytest.raises(ValueError) as info:
        validate(cfg)
    assert fragment in str(info.value)


def test_margin_options_are_checked_when_the_config_is_made():
    with pytest.raises(ValueError, match="alpha must be"):
        recipe(alpha=0.0)
    with pytest.raises(ValueError, match="norm must be >= 1"):
        from_dict({"loss": {"margin": {"norm": 0.5}}})
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['gama'\] in loss.margin"):
        from_dict({"loss": {"margin": {"gama": 1.0}}})
    with pytest.raises(ValueError, match=r"loss\.margin\.reduction='none'"):
        validate(RunConfig(loss=recipe(reduction="none")))


def test_flat_loss_options_name_their_new_key_and_old_run_configs_migrate():
    old = {"loss": {"kind": "large_margin", "gamma": 100.0, "norm": 2, "margin_scale": 5.0}}
    with pytest.raises(ValueError) as info:
        from_dict(old)
    assert "loss.gamma: the loss options moved under loss.margin" in str(info.value)
    assert "write loss.margin.gamma, loss.margin.norm" in str(info.value)
    cfg = from_dict(migrate(old))
    assert cfg.loss == replace(recipe(gamma=100.0, norm=2), margin_scale=5.0)
    assert migrate(to_dict(cfg)) == to_dict(cfg)  # the new layout is left as it is
