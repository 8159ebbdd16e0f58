"""The `largemargin` command: version, help with defaults, clear errors, train/evaluate/demo."""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import warnings

import pytest
import torch

import largemargin as lm
from largemargin import __version__
from largemargin.cli.main import SUBCOMMANDS, build_parser, main
from largemargin.data import DataConfig, build_datasets
from largemargin.training import ModelConfig, RunConfig, checkpoint_eval
from tests.data.conftest import write_fake_mnist
from tests.payloads import write_evil_checkpoint


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"largemargin {__version__}\n"


def test_top_level_help_lists_every_subcommand_with_its_help(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: largemargin")
    for name, command in SUBCOMMANDS.items():
        assert f"  {name}" in out and command.help in out
    assert main(["-h"]) == 0
    assert capsys.readouterr().out == out


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_answer_without_importing_torch_or_lightning(flag):
    """What makes them fast (under 1.5 s): a fresh interpreter never loads torch for them."""
    code = (
        "import sys; from largemargin.cli.main import main; code = main([sys.argv[1]]); "
        "heavy = sorted(m for m in ('torch', 'lightning', 'largemargin.training') "
        "if m in sys.modules); print(code, heavy)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, flag], capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines()[-1] == "0 []"


def test_train_help_lists_every_setting_with_its_default(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for fragment in (
        "--loss.margin.gamma",
        "default: 10000.0",
        "--data.label_noise",
        "--trainer.devices",
        "--optim.schedule",
        "--config",
        "--resume",
    ):
        assert fragment in out


def test_every_flag_of_every_subcommand_has_its_own_help_text(capsys):
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(commands.choices) == {"train", "evaluate", "attack", "margins", "demo", "reproduce"}
    for name, sub in commands.choices.items():
        flags = [a for a in sub._actions if a.option_strings and a.dest != "help"]
        flags = [a for a in flags if not a.option_strings[0].endswith(".help")]
        assert flags
        assert all(len((a.help or "").strip()) > 5 for a in flags), name
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # unwrapped
    assert "an L2 term added to the loss for sgd, rmsprop and adam" in out
    assert "decoupled decay applied by the optimiser for adamw" in out


def test_unknown_flag_is_rejected_before_training(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--loss.gama", "3"])
    assert info.value.code == 2
    assert "--loss.gama" in capsys.readouterr().err


BAD_INPUT = [
    # (command line, the start of the message: the setting and its value)
    (["train", "--data.label_noise", "2"], "error: data.label_noise=2.0: expected a fraction in"),
    (["train", "--model.margin_layers", "[input, block9]"], "unknown layer name(s) ['block9']"),
    (["train", "--loss.margin.alpha", "0"], "error: loss.margin.alpha must be a finite number > 0"),
    (["train", "--loss.margin.gamma", "[1.0, -2.0]"], "error: loss.margin.gamma[1] must be"),
    (
        ["train", "--loss.gamma", "100"],
        "error: --loss.gamma: the loss options moved under loss.margin; write --loss.margin.gamma",
    ),
    (["train", "--loss.alpha=4"], "moved under loss.margin; write --loss.margin.alpha"),
    (["train", "--loss.margin.top_k", "10"], "loss.margin.top_k=10: expected an int in [1, 9]"),
    (
        ["train", "--loss.margin.gamma", "[1.0, 2.0]"],
        "loss.margin.gamma=[1.0, 2.0]: expected one value, or",
    ),
    (
        ["train", "--loss.margin.norm_scale", "[1.0]"],
        "loss.margin.norm_scale=[1.0]: expected one value",
    ),
    (["train", "--trainer.epochs", "0"], "trainer.epochs=0: expected an int >= 1"),
    (["train", "--model.kwargs", "{bogus: 1}"], "model.kwargs={'bogus': 1}: cannot build"),
    (["evaluate", "nope.ckpt"], "checkpoint='nope.ckpt': no such file"),
    (["evaluate", "nope.ckpt", "--device", "gpu0"], "device='gpu0': expected a torch device"),
    (["evaluate", "nope.ckpt", "--batch_size", "0"], "batch_size=0: expected an int >= 1"),
    (["attack", "--checkpoint", "nope.ckpt"], "checkpoint='nope.ckpt': no such file"),
    (["attack", "--checkpoint", "n.ckpt", "--max_examples", "0"], "max_examples=0: expected"),
    (["attack", "--checkpoint", "n.ckpt", "--device", "gpu0"], "device='gpu0': expected"),
    (
        ["attack", "--checkpoint", "n.ckpt", "--data.name", "mnist-subset", "--data.data_dir", "x"],
        "data_dir='x': expected None for name='mnist-subset'",
    ),
    (["margins", "--checkpoints", "[]"], "checkpoints=[]: expected at least one checkpoint"),
    (
        ["margins", "--checkpoints", "[n.ckpt]", "--data.name", "folder"],
        "data_dir=None: expected the ImageFolder directory or .zip for name='folder'",
    ),
    (["margins", "--checkpoints", "[n.ckpt]", "--max_examples", "0"], "max_examples=0: expected"),
    (["margins", "--checkpoints", "[nope.ckpt]"], "checkpoint='nope.ckpt': no such file"),
    (["reproduce", "nosuch"], "name='nosuch': expected one of"),
    (["reproduce", "toy", "--seeds", "[-1]"], "seeds=[-1]: expected None or a non-empty list"),
    (["demo", "--train_size", "7"], "train_size=7: expected a multiple of 10 in [10, 5000]"),
    (["demo", "--epochs", "0"], "epochs=0: expected an int >= 1"),
    (["demo", "--lr", "-1"], "lr=-1.0: expected a finite number > 0"),
    (["demo", "--seeds", "[0, 0]"], "seeds=[0, 0]: expected distinct ints >= 0"),
]


@pytest.mark.parametrize(("argv", "fragment"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_gets_one_line_naming_the_setting_and_writes_nothing(
    tmp_path, monkeypatch, capfd, argv, fragment
):
    monkeypatch.chdir(tmp_path)  # every default output folder (runs/...) would land here
    assert main(argv) == 2
    out, err = capfd.readouterr()
    assert err.startswith(f"largemargin {argv[0]}: error: ") and fragment in err
    assert err.count("\n") == 1 and "Traceback" not in err and out == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_yaml_config_then_flags(tmp_path, capsys, caplog):
    config = tmp_path / "run.yaml"
    config.write_text(
        "data: {train_subset: 50, val_split: 50}\n"
        "optim: {name: sgd, lr: 0.01}\n"
        "trainer: {epochs: 1, batch_size: 25, progress_bar: false, margin_examples: null}\n"
    )
    caplog.set_level(logging.INFO)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(
            [
                "train",
                "--config",
                str(config),
                "--trainer.batch_size",
                "50",
                "--run_dir",
                str(tmp_path),
                "--name",
                "cli",
            ]
        )
    assert code == 0
    out = capsys.readouterr().out
    assert "run folder:" in out
    # Lightning's advertising tip, its step-count note and a deprecation warning its own code
    # triggers in PyTorch are kept out of the terminal; its other messages are not
    assert "litlogger" not in caplog.text and "Loading `train_dataloader`" not in caplog.text
    assert "GPU available:" in caplog.text
    assert not [w for w in caught if "LeafSpec" in str(w.message)]
    metrics = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    assert metrics["steps"] == 1  # 50 images, batch 50 from the flag over the file's 25
    ckpt = tmp_path / "cli" / "checkpoints" / "last.ckpt"
    assert main(["evaluate", str(ckpt)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["examples"] == 3000 and report["accuracy"] == pytest.approx(
        metrics["test"]["acc"], abs=1e-6
    )
    assert set(report["mean_logit_margin"]) == {"input", "block1", "block2"}
    assert report["mean_logit_margin"]["input"] == pytest.approx(
        metrics["test"]["logit_margin/input"], rel=1e-4
    )


def test_evaluate_rejects_a_missing_checkpoint(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nope.ckpt")]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.slow
def test_attack_prints_the_worst_case_and_writes_the_report(tmp_path, capsys):
    code = main(
        [
            "train",
            "--data.train_subset",
            "50",
            "--data.val_split",
            "50",
            "--optim.name",
            "sgd",
            "--optim.lr",
            "0.01",
            "--trainer.epochs",
            "1",
            "--trainer.batch_size",
            "50",
            "--trainer.progress_bar",
            "false",
            "--run_dir",
            str(tmp_path),
            "--name",
            "victim",
        ]
    )
    assert code == 0
    capsys.readouterr()
    ckpt = tmp_path / "victim" / "checkpoints" / "last.ckpt"
    code = main(
        [
            "attack",
            "--checkpoint",
            str(ckpt),
            "--epsilons",
            "[0.0, 0.1]",
            "--max_examples",
            "40",
            "--steps",
            "3",
            "--restarts",
            "1",
            "--square_queries",
            "20",
            "--progress",
            "false",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("worst case over fgsm, pgd-ce, pgd-margin, square (l-inf, pixel units")
    assert "| eps | fgsm | pgd-ce | pgd-margin | square | worst case |" in out
    assert "Checks:" in out
    folder = tmp_path / "victim" / "attacks"
    assert f"written: {folder}" in out
    record = json.loads((folder / "robustness.json").read_text())
    assert (folder / "robustness.md").read_text().startswith("worst case over")
    model, run = lm.load_checkpoint(ckpt)  # the public loader, on a checkpoint the CLI wrote
    assert not model.training
    test = build_datasets(run.data).test
    x = torch.stack([test[i][0] for i in range(40)])
    y = torch.stack([test[i][1] for i in range(40)])
    with torch.no_grad():
        clean = int((model(x).argmax(1) == y).sum()) / 40
    assert record["clean_accuracy"] == clean
    assert record["n"] == 40 and record["worst"][0] == {"eps": 0.0, "accuracy": clean, "n": 40}
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in record["rows"])
    assert set(record) >= {"checks", "masking_suspected", "zero_gradient_share"}


@pytest.mark.parametrize(
    ("command", "flags"),
    [
        ("evaluate", []),
        ("attack", ["--checkpoint"]),
        ("margins", ["--checkpoints"]),
        ("train", ["--resume"]),
    ],
)
@pytest.mark.parametrize("kind", ["payload", "random bytes"])
def test_a_crafted_checkpoint_runs_nothing_and_gets_one_line(
    tmp_path, capsys, command, flags, kind
):
    marker, path = tmp_path / "marker", tmp_path / "shared.ckpt"
    if kind == "payload":
        write_evil_checkpoint(path, marker)
    else:
        path.write_bytes(bytes(range(256)) * 8)
    argument = f"[{path}]" if command == "margins" else str(path)
    extra = ["--run_dir", str(tmp_path / "runs"), "--name", "r"] if command == "train" else []
    assert main([command, *flags, argument, *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"largemargin {command}: error: checkpoint={str(path)!r}: ")
    assert err.count("\n") == 1 and "expected a checkpoint written by `largemargin train`" in err
    assert not marker.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared.ckpt"]  # nothing written


def _import_path_checkpoint(path, name: str, kwargs: dict):
    shape = {"num_classes": 10, "in_channels": 1}
    config = {"model": {"name": name, "kwargs": kwargs}, "model_shape": shape}
    torch.save({"state_dict": {}, "largemargin_config": config}, path)
    return path


@pytest.mark.parametrize(
    ("command", "flags"),
    [("evaluate", []), ("attack", ["--checkpoint"]), ("margins", ["--checkpoints"])],
)
def test_a_model_import_path_in_a_checkpoint_needs_trust_model_code(
    tmp_path, capsys, command, flags
):
    marker = tmp_path / "marker"
    path = _import_path_checkpoint(tmp_path / "a.ckpt", "os:system", {"command": f"touch {marker}"})
    argument = f"[{path}]" if command == "margins" else str(path)
    assert main([command, *flags, argument]) == 2
    err = capsys.readouterr().err
    assert "'os:system' is user code by import path" in err and "--trust_model_code" in err
    assert not marker.exists()
    trusted = _import_path_checkpoint(
        tmp_path / "b.ckpt", "largemargin.models.mnist_reference:MnistReference", {}
    )
    argument = f"[{trusted}]" if command == "margins" else str(trusted)
    assert main([command, *flags, argument, "--trust_model_code", "true"]) == 2
    err = capsys.readouterr().err  # past the trust check: the empty state_dict does not fit
    assert "cannot rebuild model 'largemargin.models.mnist_reference:MnistReference'" in err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["evaluate", "a.ckpt", "--data.name", "mnist", "--data.data_dir", "d"], ("mnist", "d")),
        (["evaluate", "a.ckpt", "--data_name", "mnist", "--data_dir", "d"], ("mnist", "d")),
        (["reproduce", "toy", "--data.data_dir", "d"], (None, "d")),
        (["reproduce", "toy", "--data_dir", "d"], (None, "d")),  # the deprecated spelling
    ],
)
def test_data_settings_are_spelled_as_for_train(argv, expected):
    parser = build_parser()
    data = parser.instantiate(parser.parse_args(argv))[argv[0]].data
    assert (getattr(data, "name", None), data.data_dir) == expected


def test_evaluate_reads_the_checkpoint_once_with_the_data_moved(tmp_path, monkeypatch, capsys):
    write_fake_mnist(tmp_path / "moved", n_train=20, n_test=10)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)).eval()
    run = RunConfig(
        data=DataConfig("mnist", data_dir=str(tmp_path / "gone")),
        model=ModelConfig(margin_layers=["input"]),
    )
    calls = []

    def load(path, **_):
        calls.append(path)
        return model, run

    monkeypatch.setattr(checkpoint_eval, "load_checkpoint", load)
    assert main(["evaluate", "a.ckpt", "--data.data_dir", str(tmp_path / "moved")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert calls == ["a.ckpt"] and (report["dataset"], report["examples"]) == ("mnist", 10)


def test_reproduce_reports_its_command_in_the_train_spelling():
    from largemargin.experiments.reproduce import ReproduceConfig, command

    cfg = ReproduceConfig(name="small-data", quick=True, data_dir="../mnist")
    assert command(cfg) == "largemargin reproduce small-data --quick --data.data_dir ../mnist"
