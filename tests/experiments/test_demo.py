"""The demo, shrunk: both models train on the bundled subset per seed, table and files appear."""

from __future__ import annotations

import json

import pytest

from largemargin.experiments.demo import DemoConfig, run_demo


@pytest.mark.slow
def test_demo_trains_both_models_per_seed_and_writes_its_results(tmp_path, capfd):
    cfg = DemoConfig(run_dir=str(tmp_path), train_size=100, epochs=1, batch_size=50, seeds=[0, 1])
    results = run_demo(cfg)
    assert set(results) == {"cross_entropy", "large_margin"}
    out, err = capfd.readouterr()
    # only the demo's own lines: a header, one per run, the table and where the files are
    for banner in ("GPU available", "TPU available", "`Trainer.fit` stopped", "LOCAL_RANK"):
        assert banner not in out and banner not in err
    assert out.startswith("largemargin demo: cross-entropy vs the large margin loss")
    assert out.splitlines()[0].endswith("seeds [0, 1]: 4 runs")
    assert "| cross entropy |" in out and "| large margin |" in out and "margins.png" in out
    assert "[1/4] elapsed " in out and "left | cross_entropy-seed0 trained" in out
    assert ", done | large_margin-seed1 trained" in out
    assert "mean ± sd over 2 seed(s)" in out and " ± " in out.split("| cross entropy |")[1]
    (folder,) = tmp_path.iterdir()
    assert json.loads((folder / "results.json").read_text()) == results
    assert (folder / "margins.png").stat().st_size > 1000
    for kind, r in results.items():
        assert len(r["test_accuracy"]) == 2
        assert all(0.0 <= a <= 1.0 for a in r["test_accuracy"])
        for seed in (0, 1):
            assert (folder / f"{kind}-seed{seed}" / "checkpoints" / "last.ckpt").is_file()
    assert not list(folder.glob(".*tmp*"))


def test_demo_needs_a_seed(tmp_path):
    with pytest.raises(ValueError, match="seeds must hold at least one seed"):
        run_demo(DemoConfig(run_dir=str(tmp_path), seeds=[]))
