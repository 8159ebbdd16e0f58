"""`largemargin margins`: per-layer first-order margins of checkpoints, true input margins, the
files and the printed table."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch

from largemargin.analysis import first_order_margins
from largemargin.cli.main import main
from largemargin.data import DataConfig, build_datasets
from largemargin.experiments.margins_checkpoint import MarginsConfig, measure_margins
from largemargin.training import LossConfig, OptimConfig, RunConfig, TrainerConfig, train
from largemargin.training.checkpoint_eval import load_checkpoint


def _checkpoint(tmp_path: Path, kind: str) -> str:
    cfg = RunConfig(
        data=DataConfig(train_subset=50),
        loss=LossConfig(kind=kind),
        optim=OptimConfig(name="sgd", lr=0.01),
        # no logit margins in the run's evaluation: the tests measure margins themselves
        trainer=TrainerConfig(
            epochs=1,
            batch_size=50,
            progress_bar=False,
            check_val_every_n_epoch=2,
            eval_margins=False,
        ),
        run_dir=str(tmp_path / "runs"),
        name=kind,
    )
    return str(train(cfg).folder / "checkpoints" / "last.ckpt")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> list[str]:
    tmp = tmp_path_factory.mktemp("margins")
    return [_checkpoint(tmp, "cross_entropy"), _checkpoint(tmp, "large_margin")]


@pytest.mark.slow
def test_files_hold_every_model_example_and_measure(checkpoints, tmp_path):
    out = tmp_path / "out"
    summary, folder = measure_margins(
        MarginsConfig(
            checkpoints=checkpoints,
            layers=["input", "block2"],
            norm=2,
            true_margin=True,
            max_examples=12,
            out=str(out),
        )
    )
    assert folder == out
    with open(out / "margins.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    measures = ["first-order input", "first-order block2", "true input"]
    assert len(rows) == 2 * 12 * len(measures)
    assert {r["model"] for r in rows} == {"cross_entropy", "large_margin"}  # run folder names
    # the CSV's first-order margins are those of the analysis function on the same images
    model, run = load_checkpoint(checkpoints[1])
    test = build_datasets(run.data).test
    x = torch.stack([test[i][0] for i in range(12)])
    y = torch.stack([test[i][1] for i in range(12)])
    expected = first_order_margins(model, (x, y), ["input"], norm=2, top_k=9)["input"]
    got = [
        float(r["margin"])
        for r in rows
        if r["model"] == "large_margin" and r["measure"] == "first-order input"
    ]
    torch.testing.assert_close(torch.tensor(got), expected, rtol=1e-5, atol=1e-7)
    # misclassified share: the examples the model gets wrong, for every measure
    with torch.no_grad():
        wrong = float((model(x).argmax(1) != y).float().mean())
    for row in summary:
        if row["model"] == "large_margin":
            assert row["misclassified"] == pytest.approx(wrong)
            assert row["examples"] == 12
    true = [float(r["margin"]) for r in rows if r["measure"] == "true input"]
    assert all(t >= 0 or math.isnan(t) for t in true)  # NaN: not found
    for label in ("cross_entropy", "large_margin"):
        values = [
            float(r["margin"]) for r in rows if r["model"] == label and r["measure"] == "true input"
        ]
        shares = {r["measure"]: r["not_found"] for r in summary if r["model"] == label}
        assert shares["true input"] == pytest.approx(sum(map(math.isnan, values)) / 12)
        assert shares["first-order input"] == 0.0
    with open(out / "summary.csv", newline="") as f:
        written = list(csv.DictReader(f))
    assert [(r["model"], r["measure"]) for r in written] == [
        (r["model"], r["measure"]) for r in summary
    ]
    assert [float(r["not_found"]) for r in written] == [r["not_found"] for r in summary]
    with open(out / "agreement.csv", newline="") as f:
        agreement = list(csv.DictReader(f))
    assert [a["model"] for a in agreement] == ["cross_entropy", "large_margin"]
    assert (out / "margins.png").stat().st_size > 1000
    assert (out / "agreement-large_margin.png").stat().st_size > 1000


def test_cli_prints_the_summary_table(checkpoints, tmp_path, capsys):
    code = main(
        [
            "margins",
            "--checkpoints",
            f"[{checkpoints[0]}, {checkpoints[1]}]",
            "--labels",
            "[ce, lm]",
            "--norm",
            "inf",
            "--max_examples",
            "8",
            "--out",
            str(tmp_path / "cli"),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "| model | measure | examples | misclassified | not found |" in out
    assert "| lm | first-order block2 | 8 |" in out
    assert not (tmp_path / "cli" / "agreement.csv").exists()  # no --true_margin


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"labels": ["a"]}, "one label per checkpoint"),
        ({"labels": ["a", "a"]}, "distinct labels"),
        ({"max_examples": 0}, "max_examples=0"),
        ({"norm": 1, "true_margin": True}, "needs p > 1"),
        ({"norm": 0.5}, "norm must be"),
        ({"layers": ["input", "block9"]}, r"layers=\['input', 'block9'\] for cross_entropy: .*"),
        ({"device": "gpu0"}, "device='gpu0': expected a torch device"),
    ],
)
def test_bad_settings_are_named(checkpoints, tmp_path, changes, fragment):
    cfg = MarginsConfig(checkpoints=checkpoints, out=str(tmp_path / "bad"), **changes)
    with pytest.raises(ValueError, match=fragment):
        measure_margins(cfg)
    assert not (tmp_path / "bad").exists()  # nothing written
