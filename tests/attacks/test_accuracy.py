"""Accuracy under attack on a small trained model, and the CSV / PNG writers."""

from __future__ import annotations

import csv
import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from largemargin import files
from largemargin.attacks import accuracy_under_attack
from largemargin.files import write_csv
from largemargin.report import plot_accuracy_vs_eps

EPSILONS = {"inf": [0.0, 0.02, 0.05, 0.1, 0.3], "2": [0.0, 0.1, 0.2, 0.4, 1.2]}


@pytest.fixture(scope="module")
def trained():
    """A ReLU network fitted to three Gaussian blobs in [0, 1]^10, and 300 test points."""
    g = torch.Generator().manual_seed(0)
    centres = 0.25 + 0.5 * torch.rand(3, 10, generator=g)

    def sample(n):
        y = torch.randint(0, 3, (n,), generator=g)
        return (centres[y] + 0.1 * torch.randn(n, 10, generator=g)).clamp(0, 1), y

    x_train, y_train = sample(600)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 3))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(200):
        opt.zero_grad()
        F.cross_entropy(model(x_train), y_train).backward()
        opt.step()
    model.zero_grad(set_to_none=True)
    return model, *sample(300)


@pytest.mark.parametrize("norm", ["inf", "2"])
@pytest.mark.parametrize("attack", ["fgsm", "iterative_fgsm", "pgd"])
def test_accuracy_falls_with_eps(trained, attack, norm):
    model, x, y = trained

    rows = accuracy_under_attack(model, (x, y), attack, EPSILONS[norm], norm=norm)

    assert [r["eps"] for r in rows] == EPSILONS[norm]
    assert all(r["n"] == 300 for r in rows)
    accuracy = [r["accuracy"] for r in rows]
    assert accuracy[0] > 0.9
    assert all(a > b for a, b in itertools.pairwise(accuracy))
    assert accuracy[-1] < 0.05


def test_a_loader_and_tensors_give_the_same_rows(trained):
    model, x, y = trained
    loader = DataLoader(TensorDataset(x, y), batch_size=64)

    from_loader = accuracy_under_attack(model, loader, "iterative_fgsm", [0.0, 0.05], steps=3)
    from_tensors = accuracy_under_attack(
        model, (x, y), "iterative_fgsm", [0.0, 0.05], steps=3, batch_size=50
    )

    assert from_loader == from_tensors


def test_attack_kwargs_reach_the_attack(trained):
    model, x, y = trained
    # clip_max below the data's maximum: the attack must receive it and reject x.
    with pytest.raises(ValueError, match="clip_min, clip_max"):
        accuracy_under_attack(model, (x, y), "pgd", [0.1], clip_max=0.5)


def test_csv_and_png_are_written_whole(trained, tmp_path):
    model, x, y = trained
    rows = accuracy_under_attack(model, (x, y), "fgsm", EPSILONS["inf"])
    folder = tmp_path / "results" / "run1"

    csv_path = write_csv(rows, folder / "accuracy.csv")
    png_path = plot_accuracy_vs_eps(
        {"small net": rows, "half": [{**r, "accuracy": r["accuracy"] / 2} for r in rows]},
        folder / "accuracy.png",
        title="FGSM",
    )

    with open(csv_path, newline="") as f:
        read = list(csv.DictReader(f))
    assert [list(r) for r in read] == [["eps", "accuracy", "n"]] * len(rows)
    assert [(float(r["eps"]), float(r["accuracy"]), int(r["n"])) for r in read] == [
        (r["eps"], r["accuracy"], r["n"]) for r in rows
    ]
    assert png_path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert png_path.stat().st_size > 5000
    assert sorted(p.name for p in folder.iterdir()) == ["accuracy.csv", "accuracy.png"]


@pytest.mark.parametrize(
    "write",
    [
        lambda path: write_csv([{"eps": 0.1, "accuracy": 0.5, "n": 2}], path),
        lambda path: plot_accuracy_vs_eps({"m": [{"eps": 0.1, "accuracy": 0.5, "n": 2}]}, path),
    ],
    ids=["csv", "png"],
)
def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, write):
    target = tmp_path / "out"
    target.write_text("old")

    def failing_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk full"):
        write(target)

    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
