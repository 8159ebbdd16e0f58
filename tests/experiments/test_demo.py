"""The demo, shrunk: both models train on the bundled subset, the table and files appear."""

from __future__ import annotations

import json

from largemargin.experiments.demo import DemoConfig, run_demo


def test_demo_trains_both_models_and_writes_its_results(tmp_path, capsys):
    results = run_demo(DemoConfig(run_dir=str(tmp_path), train_size=100, epochs=2, batch_size=50))
    assert set(results) == {"cross_entropy", "large_margin"}
    out = capsys.readouterr().out
    assert "| cross entropy |" in out and "| large margin |" in out and "margins.png" in out
    (folder,) = tmp_path.iterdir()
    assert json.loads((folder / "results.json").read_text()) == results
    assert (folder / "margins.png").stat().st_size > 1000
    for kind, r in results.items():
        assert 0.0 <= r["test_accuracy"] <= 1.0
        assert (folder / kind / "checkpoints" / "last.ckpt").is_file()
    assert not list(folder.glob(".*tmp*"))
