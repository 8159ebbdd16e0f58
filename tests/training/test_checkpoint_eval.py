"""evaluate: accuracy and the logit margin of a checkpoint's model on the test split."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import largemargin.training.checkpoint_eval as checkpoint_eval
from largemargin.data import DataConfig, build_datasets
from largemargin.training import ModelConfig, RunConfig, recipe
from tests.analysis.linear import closed_form
from tests.data.conftest import write_fake_mnist


def test_logit_margin_of_a_saturated_linear_model_is_the_closed_form(monkeypatch):
    g = torch.Generator().manual_seed(0)
    weight = 1e3 * torch.randn(10, 784, generator=g) / 28  # logits in the thousands
    bias = torch.zeros(10)
    linear = nn.Linear(784, 10)
    with torch.no_grad():
        linear.weight.copy_(weight)
        linear.bias.copy_(bias)
    model = nn.Sequential(nn.Flatten(), linear).eval()
    cfg = RunConfig(
        data=DataConfig(),  # the bundled MNIST subset
        model=ModelConfig(margin_layers=["input"]),
        loss=recipe(norm=2, score="prob", norm_scale="dim"),
    )
    monkeypatch.setattr(checkpoint_eval, "load_checkpoint", lambda path, **_: (model, cfg))
    report = checkpoint_eval.evaluate("unused.ckpt", batch_size=700)
    test = build_datasets(DataConfig()).test
    x = torch.stack([test[i][0] for i in range(len(test))]).flatten(1).double()
    y = torch.tensor([int(test[i][1]) for i in range(len(test))])
    exact, _ = closed_form(weight.double(), bias.double(), x, y, 2.0)
    with torch.no_grad():
        probs = torch.softmax(model(x.float()), dim=1)
    assert (probs.amax(dim=1) == 1).float().mean() > 0.5  # precondition: saturated float32
    assert report["examples"] == len(y)
    assert report["accuracy"] == pytest.approx(float((probs.argmax(1) == y).float().mean()))
    assert set(report["mean_logit_margin"]) == set(report["median_logit_margin"]) == {"input"}
    assert report["mean_logit_margin"]["input"] == pytest.approx(float(exact.mean()), rel=1e-4)
    assert report["median_logit_margin"]["input"] == pytest.approx(
        float(exact.median()), rel=1e-4, abs=1e-6
    )
    assert abs(report["mean_logit_margin"]["input"]) < 100  # pixels, not 1e5-ish


def _counting_loader(model, cfg, calls):
    def load(path, **_):
        calls.append(path)
        return model, cfg

    return load


def test_data_dir_moves_the_runs_own_dataset_and_the_checkpoint_is_read_once(monkeypatch, tmp_path):
    write_fake_mnist(tmp_path / "moved", n_train=20, n_test=10)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10)).eval()
    cfg = RunConfig(
        data=DataConfig("mnist", data_dir=str(tmp_path / "gone")),
        model=ModelConfig(margin_layers=["input"]),
    )
    calls = []
    monkeypatch.setattr(checkpoint_eval, "load_checkpoint", _counting_loader(model, cfg, calls))
    report = checkpoint_eval.evaluate("a.ckpt", data_dir=str(tmp_path / "moved"), device="cpu")
    assert calls == ["a.ckpt"]
    assert (report["dataset"], report["examples"]) == ("mnist", 10)
    with pytest.raises(ValueError, match=r"data_dir='d': expected None when data is given"):
        checkpoint_eval.evaluate("a.ckpt", data=DataConfig(), data_dir="d")
    assert calls == ["a.ckpt"]  # refused before reading the checkpoint


def test_a_checkpoint_saved_with_flat_loss_options_loads_them_under_margin(tmp_path):
    from largemargin.models import build_model

    model = build_model("mnist_reference", num_classes=10, in_channels=1)
    flat_loss = {  # the layout of run configs saved before loss.margin
        "kind": "large_margin",
        "gamma": 100.0,
        "alpha": 4.0,
        "top_k": 2,
        "norm": "inf",
        "epsilon": 1e-6,
        "second_order": False,
        "aggregation": "min",
        "norm_scale": "dim",
        "score": "logit",
        "cross_entropy_weight": 0.0,
        "margin_scale": 1.0,
        "hinge_margin": 1.0,
    }
    config = {
        "model": {"name": "mnist_reference"},
        "loss": flat_loss,
        "model_shape": {"num_classes": 10, "in_channels": 1},
    }
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "largemargin_config": config}, tmp_path / "old.ckpt")
    loaded, cfg = checkpoint_eval.load_checkpoint(tmp_path / "old.ckpt")
    assert cfg.loss == recipe(gamma=100.0, top_k=2, score="logit")
    torch.testing.assert_close(loaded.state_dict(), model.state_dict())


def test_evaluation_data_is_the_runs_own_moved_or_another():
    run = DataConfig("mnist", data_dir="/old", train_subset=100)
    own = checkpoint_eval.evaluation_data(run, None, None)
    assert own == DataConfig("mnist", data_dir="/old", train_subset=100, download=False)
    moved = checkpoint_eval.evaluation_data(run, None, "/new")
    assert moved == DataConfig("mnist", data_dir="/new", train_subset=100, download=False)
    other = DataConfig("fashion-mnist", data_dir="/f")
    assert checkpoint_eval.evaluation_data(run, other, None) is other
    checkpoint_eval.check_data_choice(other, None)
    checkpoint_eval.check_data_choice(None, "/new")
    with pytest.raises(ValueError, match=r"data_dir='/new': expected None when data is given"):
        checkpoint_eval.check_data_choice(other, "/new")
