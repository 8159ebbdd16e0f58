"""Checkpoints are read weights-only: a real one loads, a crafted one runs nothing and gets one
line naming the file."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from largemargin.data import DataConfig
from largemargin.training import OptimConfig, RunConfig, TrainerConfig, train
from largemargin.training.checkpoint import read_checkpoint
from largemargin.training.checkpoint_eval import load_checkpoint
from tests.payloads import Touch, checkpoint_like, write_evil_checkpoint


@pytest.fixture(scope="module")
def real_checkpoint(tmp_path_factory):
    """last.ckpt of a one-epoch run (Adam state, staircase schedule, every Lightning entry)."""
    root = tmp_path_factory.mktemp("real")
    cfg = RunConfig(
        data=DataConfig(train_subset=50),
        optim=OptimConfig(name="adam", schedule="staircase"),
        # no logit margins in evaluation: they would take most of the fixture's time
        trainer=TrainerConfig(epochs=1, batch_size=50, progress_bar=False, eval_margins=False),
        run_dir=str(root),
        name="tiny",
    )
    result = train(cfg)
    return result.folder / "checkpoints" / "last.ckpt", result.module.model


def test_the_payload_runs_under_plain_unpickling(tmp_path):
    """The crafted files below would run code if read without restriction."""
    marker = tmp_path / "marker"
    pickle.loads(pickle.dumps(Touch(marker)))
    assert marker.exists()


@pytest.mark.slow
def test_a_real_checkpoint_loads_weights_only_with_no_extra_globals(real_checkpoint):
    path, trained = real_checkpoint
    ckpt = read_checkpoint(path)
    assert {"state_dict", "optimizer_states", "lr_schedulers", "loops", "callbacks"} <= set(ckpt)
    assert ckpt["largemargin_config"]["optim"]["schedule"] == "staircase"
    assert isinstance(ckpt["rng_states"]["torch"], torch.Tensor)
    model, run = load_checkpoint(path)
    assert run.optim.name == "adam" and not model.training
    for name, value in trained.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], value.cpu())


def _one_line_error(call, path) -> str:
    with pytest.raises(ValueError) as info:
        call(path)
    message = str(info.value)
    assert message.startswith(f"checkpoint={str(path)!r}: ") and "\n" not in message
    return message


@pytest.mark.parametrize("reader", [read_checkpoint, load_checkpoint])
@pytest.mark.parametrize("layout", ["zip", "legacy", "raw pickle"])
def test_a_pickle_payload_is_refused_and_never_run(tmp_path, reader, layout):
    marker, path = tmp_path / "marker", tmp_path / "evil.ckpt"
    if layout == "zip":
        write_evil_checkpoint(path, marker)
    elif layout == "legacy":
        torch.save(checkpoint_like(marker), path, _use_new_zipfile_serialization=False)
    else:
        path.write_bytes(pickle.dumps(checkpoint_like(marker), protocol=2))
    message = _one_line_error(reader, path)
    assert "refused, nothing in the file was run" in message
    assert "largemargin train" in message
    assert not marker.exists()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (os.urandom(4096), "not a PyTorch checkpoint file"),
        (b"", "not a PyTorch checkpoint file"),
        (b"model: resnet\n", "not a PyTorch checkpoint file"),
        (torch.zeros(3), "holds a Tensor, not a dict"),
        ({"state_dict": {}}, "no largemargin_config entry"),
        ({"largemargin_config": {}, "state_dict": {}}, "lacks model_shape"),
        (
            {"largemargin_config": {"model_shape": {"num_classes": 10, "in_channels": 1}}},
            "state_dict is not a dict of named tensors",
        ),
    ],
)
def test_a_file_that_is_not_a_checkpoint_gets_one_line(tmp_path, content, fragment):
    path = tmp_path / "other.ckpt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    message = _one_line_error(read_checkpoint, path)
    assert fragment in message and "expected a checkpoint written by `largemargin train`" in message


def test_a_missing_file_is_named(tmp_path):
    assert "no such file" in _one_line_error(read_checkpoint, tmp_path / "absent.ckpt")


def test_a_model_by_import_path_is_rebuilt_only_when_trusted(tmp_path, real_checkpoint):
    """model.name is plain data that would import and call code: a checkpoint naming os.system
    would run a shell command while the model is rebuilt."""
    ckpt = read_checkpoint(real_checkpoint[0])
    marker = tmp_path / "marker"
    evil = tmp_path / "evil.ckpt"
    ckpt["largemargin_config"]["model"].update(
        name="os:system", kwargs={"command": f"touch {marker}"}
    )
    torch.save(ckpt, evil)
    message = _one_line_error(load_checkpoint, evil)
    assert "'os:system' is user code by import path" in message and "trust_model_code" in message
    assert not marker.exists()

    ckpt["largemargin_config"]["model"].update(
        name="largemargin.models.mnist_reference:MnistReference", kwargs={}
    )
    trusted = tmp_path / "trusted.ckpt"
    torch.save(ckpt, trusted)
    with pytest.raises(ValueError, match="trust_model_code"):
        load_checkpoint(trusted)
    model, run = load_checkpoint(trusted, trust_model_code=True)
    assert run.model.name.endswith(":MnistReference") and model(
        torch.zeros(2, 1, 28, 28)
    ).shape == (2, 10)


def test_weights_that_do_not_fit_the_model_get_one_line(tmp_path, real_checkpoint):
    ckpt = read_checkpoint(real_checkpoint[0])
    ckpt["state_dict"] = {"model.nope": torch.zeros(1)}
    path = tmp_path / "mismatch.ckpt"
    torch.save(ckpt, path)
    assert "cannot rebuild model 'mnist_reference'" in _one_line_error(load_checkpoint, path)
