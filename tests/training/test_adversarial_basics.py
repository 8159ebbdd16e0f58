"""Adversarial training's essentials: bad settings named by their full key before any run
folder exists, crafting stays in the pixel ball and leaves BatchNorm's statistics alone, and a
short adversarial run trains end to end."""

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from largemargin.training.adversarial import Adversary, trades_divergence
from largemargin.training.config import AdversarialConfig, LossConfig
from largemargin.training.run import train
from tests.training.test_run import tiny

FGSM = AdversarialConfig(attack="fgsm", eps=0.1)


@pytest.mark.parametrize(
    "adversarial, loss, key",
    [
        (replace(FGSM, eps=0.0), None, "adversarial.eps"),
        (replace(FGSM, eps=float("nan")), None, "adversarial.eps"),
        (replace(FGSM, eps=float("inf")), None, "adversarial.eps"),
        (replace(FGSM, step_size=0.0), None, "adversarial.step_size"),
        (AdversarialConfig(attack="pgd", steps=0), None, "adversarial.steps"),
        (replace(FGSM, clean_fraction=1.0), None, "adversarial.clean_fraction"),
        (replace(FGSM, clean_fraction=-0.1), None, "adversarial.clean_fraction"),
        (replace(FGSM, norm=3), None, "adversarial.norm"),
        (FGSM, LossConfig(kind="cross_entropy", trades_beta=-1.0), "loss.trades_beta"),
    ],
)
def test_bad_setting_names_its_full_key_before_the_run_folder(
    adversarial, loss, key, tmp_path: Path
):
    extra = {} if loss is None else {"loss": loss}
    cfg = tiny(tmp_path, "bad", adversarial=adversarial, **extra)
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        train(cfg)
    assert not (tmp_path / "bad").exists()


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Linear(4 * 26 * 26, 10)

    def forward(self, x):
        return self.head(torch.relu(self.bn(self.conv(x))).flatten(1))


@pytest.mark.parametrize("mode, moves", [("train", False), ("eval", False), ("train-update", True)])
def test_crafting_stays_in_the_pixel_ball_and_moves_batchnorm_only_when_asked(mode, moves):
    torch.manual_seed(0)
    model = _Net().train()
    mean, std = [0.1307], [0.3081]
    pixels = torch.rand(16, 1, 28, 28)
    x = (pixels - mean[0]) / std[0]
    y = torch.randint(0, 10, (16,))
    before = [b.clone() for b in model.bn.buffers()]
    adversary = Adversary(replace(FGSM, batchnorm=mode, clean_fraction=0.25), mean, std)
    x_adv = adversary(model, x, y, None)
    adv_pixels = x_adv * std[0] + mean[0]
    assert (adv_pixels - pixels).abs().max() <= 0.1 + 1e-5
    assert adv_pixels.min() >= -1e-6 and adv_pixels.max() <= 1 + 1e-6
    assert torch.equal(x_adv[:4], x[:4])  # the clean share is untouched
    assert not torch.equal(x_adv[4:], x[4:])
    changed = any(not torch.equal(a, b) for a, b in zip(model.bn.buffers(), before, strict=True))
    assert changed == moves
    assert model.training


def test_trades_divergence_is_zero_at_the_clean_input_and_positive_elsewhere():
    logits = torch.randn(5, 10)
    assert torch.allclose(trades_divergence(logits, logits), torch.zeros(5), atol=1e-6)
    assert (trades_divergence(logits, logits + torch.randn(5, 10)) > 0).all()


@pytest.mark.parametrize(
    "loss, adversarial",
    [
        (LossConfig(kind="cross_entropy"), FGSM),
        (LossConfig(), AdversarialConfig(attack="pgd", eps=0.1, steps=2)),
        (
            LossConfig(kind="cross_entropy", trades_beta=6.0),
            AdversarialConfig(attack="pgd", eps=0.1, steps=2),
        ),
    ],
)
def test_an_adversarial_run_trains_and_records_its_step_cost(loss, adversarial, tmp_path: Path):
    run = train(tiny(tmp_path, "adv", loss=loss, adversarial=adversarial))
    assert run.metrics["steps"] == 4
    assert run.metrics["step_seconds"] > 0
    assert 0 <= run.metrics["test"]["acc"] <= 1
    assert "catastrophic_overfitting" in run.metrics
