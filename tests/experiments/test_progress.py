"""Progress lines of a sequence of runs: done / total, elapsed, estimated time left."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

import largemargin.experiments.grid as grid
import largemargin.experiments.progress as progress
from largemargin.experiments.progress import RunProgress, format_duration
from largemargin.training import RunConfig


class Clock:
    """A perf_counter that reads ``now``."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(progress.time, "perf_counter", fake)
    return fake


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.4, "0 s"), (42, "42 s"), (90, "1.5 min"), (5400, "1.5 h")]
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_lines_count_runs_and_estimate_the_rest_from_the_mean_run(clock):
    runs = RunProgress(4)
    clock.now += 30
    assert runs.finished() == "[1/4] elapsed 30 s, about 1.5 min left"
    clock.now += 90  # slower second run: the mean is now 60 s
    assert runs.finished() == "[2/4] elapsed 2.0 min, about 2.0 min left"
    clock.now += 60
    runs.finished()
    clock.now += 60
    assert runs.finished() == "[4/4] elapsed 4.0 min, done"
    with pytest.raises(ValueError, match="all 4 runs are already finished"):
        runs.finished()


@pytest.mark.parametrize("total", [-1, 1.5, True])
def test_total_must_be_a_count(total):
    with pytest.raises(ValueError, match="total="):
        RunProgress(total)


def test_run_grid_prints_progress_per_finished_run(clock, monkeypatch, capsys):
    def fake_train(config):  # a finished run's record, as experiments.resume returns it
        clock.now += 10
        metrics = {"test": {"acc": 0.5}, "train_seconds": 9.0, "step_seconds": 0.1}
        return SimpleNamespace(
            metrics=metrics, folder=Path(config.name), model=None, trained_now=config.seed != 1
        )

    monkeypatch.setattr(grid, "train_or_reuse", fake_train)
    cells = [grid.Cell("cross-entropy", s, RunConfig(name=f"r{s}", seed=s), 0.0) for s in range(3)]
    outcomes = grid.run_grid(cells)
    assert [o.test_accuracy for o in outcomes] == [0.5] * 3
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("[1/3] elapsed 10 s, about 20 s left | ")
    assert lines[2].startswith("[3/3] elapsed 30 s, done | ")
    assert lines[0].endswith("| r0: test accuracy 50.00% (10 s)")
    assert lines[1].endswith("| r1: test accuracy 50.00% (10 s, trained before)")
