"""`largemargin attack`: the robustness suite on a checkpoint, in pixel space for a normalised
dataset, with a transfer attack from a reference checkpoint, and its files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import largemargin.experiments.attack_checkpoint as experiment
from largemargin.data import DataConfig, build_datasets
from largemargin.experiments.attack_checkpoint import AttackConfig, attack_checkpoint
from largemargin.training import ModelConfig, OptimConfig, RunConfig, TrainerConfig, train
from largemargin.training.checkpoint_eval import load_checkpoint

FAST = {"steps": 3, "restarts": 1, "square_queries": 20, "progress": False}


def _folder(root: Path) -> Path:
    """An ImageFolder of 8 x 8 RGB images, three classes told apart by a dimmed channel."""
    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("test", 4)):
        for c in range(3):
            folder = root / split / f"c{c}"
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
                pixels[..., c] //= 4
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> tuple[str, str]:
    """Two small residual networks trained one epoch on a normalised folder dataset."""
    tmp = tmp_path_factory.mktemp("attack")
    data = DataConfig("folder", data_dir=str(_folder(tmp / "data")), image_size=8, augment="none")
    paths = []
    for seed in (0, 1):
        cfg = RunConfig(
            data=data,
            model=ModelConfig(name="cifar_resnet20"),
            optim=OptimConfig(name="sgd", lr=0.01),
            trainer=TrainerConfig(epochs=1, batch_size=9, progress_bar=False),
            seed=seed,
            run_dir=str(tmp / "runs"),
            name=f"seed{seed}",
        )
        paths.append(str(train(cfg).folder / "checkpoints" / "last.ckpt"))
    return paths[0], paths[1]


@pytest.mark.slow
def test_attacks_run_in_pixel_space_and_write_the_report(checkpoints, monkeypatch):
    seen = {}
    real = experiment.evaluate_robustness

    def spy(model, x, y, epsilons, **kwargs):
        seen.update(model=model, x=x, y=y, kwargs=kwargs)
        return real(model, x, y, epsilons, **kwargs)

    monkeypatch.setattr(experiment, "evaluate_robustness", spy)
    ckpt, reference = checkpoints

    report, headline, out = attack_checkpoint(
        AttackConfig(
            checkpoint=ckpt,
            reference_checkpoint=reference,
            epsilons=[0.0, 0.02],
            max_examples=10,
            device="cpu",
            **FAST,
        )
    )

    # the attacked model takes pixels in [0, 1] and gives the trained model's logits on the
    # normalised test images, which are the first 10
    model, run = load_checkpoint(ckpt)
    test = build_datasets(run.data).test
    normalised = torch.stack([test[i][0] for i in range(10)])
    assert normalised.min() < 0  # the dataset is normalised ...
    assert seen["x"].min() >= 0 and seen["x"].max() <= 1  # ... the attack's inputs are not
    assert seen["x"].max() > 0.9
    with torch.no_grad():
        torch.testing.assert_close(
            seen["model"](seen["x"]), model(normalised), rtol=1e-4, atol=1e-4
        )
        clean = (model(normalised).argmax(dim=1) == seen["y"]).float().mean().item()
    assert torch.equal(seen["y"], torch.stack([test[i][1] for i in range(10)]))
    assert report.clean_accuracy == pytest.approx(clean)
    assert seen["kwargs"]["reference_model"] is not None
    assert {r["attack"] for r in report.rows} == {
        "fgsm",
        "pgd-ce",
        "pgd-margin",
        "square",
        "transfer",
    }

    assert out == Path(ckpt).resolve().parent.parent / "attacks"
    assert headline.startswith("worst case over fgsm, pgd-ce, pgd-margin, square, transfer")
    assert "first 10 test images" in headline
    assert (out / "robustness.md").read_text().startswith(headline)
    record = json.loads((out / "robustness.json").read_text())
    assert record["masking_suspected"] == report.masking_suspected
    assert record["clean_accuracy"] == report.clean_accuracy
    assert [c["check"] for c in record["checks"]] == [c["check"] for c in report.checks]
    assert record["reference_checkpoint"] == reference
    with open(out / "robustness.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(report.rows) + len(report.worst)
    assert [float(r["accuracy"]) for r in rows if r["attack"] == "worst case"] == [
        w["accuracy"] for w in report.worst
    ]
    assert (out / "robustness.png").read_bytes().startswith(b"\x89PNG")


def test_bad_settings_fail_before_anything_is_written(checkpoints, tmp_path):
    ckpt, _ = checkpoints
    with pytest.raises(ValueError, match=r"attacks must be distinct names"):
        attack_checkpoint(AttackConfig(checkpoint=ckpt, attacks=["cw"], out=str(tmp_path / "o")))
    with pytest.raises(ValueError, match=r"max_examples=0"):
        attack_checkpoint(AttackConfig(checkpoint=ckpt, max_examples=0, out=str(tmp_path / "o")))
    assert not (tmp_path / "o").exists()
