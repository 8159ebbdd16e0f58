"""`largemargin reproduce toy`: one figure per seed and a table of margins, through the CLI."""

from __future__ import annotations

import csv

import yaml

from largemargin.cli.main import main


def test_reproduce_toy_writes_figures_table_and_seeds(tmp_path, capsys):
    assert main(["reproduce", "toy", "--seeds", "[3, 4]", "--out", str(tmp_path)]) == 0
    (folder,) = (tmp_path / "toy").iterdir()
    report = (folder / "results.md").read_text()
    out = capsys.readouterr().out
    assert report.strip() in out
    assert "[1/2] elapsed " in out and "left | seed 3: figure drawn" in out
    assert ", done | seed 4: figure drawn" in out
    assert "| cross entropy |" in report and "| large margin |" in report and " ± " in report
    rows = list(csv.DictReader((folder / "results.csv").open()))
    assert {(r["model"], r["seed"]) for r in rows} == {
        (m, s) for m in ("cross_entropy", "large_margin") for s in ("3", "4")
    }
    for r in rows:
        assert 0.0 <= float(r["min_margin"]) <= float(r["mean_margin"])
        assert 0.0 <= float(r["train_accuracy"]) <= 1.0
    for seed in (3, 4):
        assert (folder / f"toy-seed{seed}.png").read_bytes()[:4] == b"\x89PNG"
    assert yaml.safe_load((folder / "grid.yaml").read_text())["grid"]["seeds"] == [3, 4]
