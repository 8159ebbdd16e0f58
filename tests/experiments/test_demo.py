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
    # two runs train side by side (workers=2), so they may finish in either order
    progress = [line for line in out.splitlines() if line.endswith(" trained")]
    assert [line.split("]")[0] for line in progress] == ["[1/4", "[2/4", "[3/4", "[4/4"]
    assert ", done | " in progress[-1] and "left | " in progress[0]
    trained = sorted(line.rsplit(" | ", 1)[1] for line in progress)
    assert trained == [
        f"{k}-seed{s} trained" for k in ("cross_entropy", "large_margin") for s in (0, 1)
    ]
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


@pytest.mark.slow
def test_demo_runs_side_by_side_measure_what_one_after_another_does(tmp_path, capfd):
    base = dict(train_size=50, epochs=1, batch_size=25, seeds=[3])
    apart = run_demo(DemoConfig(run_dir=str(tmp_path / "apart"), workers=2, **base))
    together = run_demo(DemoConfig(run_dir=str(tmp_path / "together"), workers=1, **base))
    capfd.readouterr()
    for kind in ("cross_entropy", "large_margin"):
        # same seed, same data and batches: equal up to a thread count's floating-point order
        assert apart[kind]["test_accuracy"] == pytest.approx(together[kind]["test_accuracy"])
        assert apart[kind]["median_input_margin_linf"] == pytest.approx(
            together[kind]["median_input_margin_linf"], rel=1e-3
        )
        assert "apart" in apart[kind]["run_folder"][0]


def test_demo_needs_a_seed(tmp_path):
    with pytest.raises(ValueError, match="seeds must hold at least one seed"):
        run_demo(DemoConfig(run_dir=str(tmp_path), seeds=[]))


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_demo_needs_at_least_one_worker(tmp_path, workers):
    with pytest.raises(ValueError, match=r"workers=.*expected an int >= 1"):
        run_demo(DemoConfig(run_dir=str(tmp_path), workers=workers))
    assert not list(tmp_path.iterdir())
