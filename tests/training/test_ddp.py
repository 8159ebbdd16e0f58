"""DDP on 2 CPU processes (gloo, launched by torchrun): gradients are synchronised, so both
ranks end with identical weights, for first- and second-order margins; the collapse check's
prediction counts are summed over both ranks; the learning-rate schedule spans the steps each
process takes (Lightning's count), ending at its final value on the last step."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from largemargin.training.checkpoint import read_checkpoint

WORKER = Path(__file__).with_name("ddp_worker.py")
LR = 0.05  # the worker's


def _launch(port: int, *args: str) -> None:
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(port),
        str(WORKER),
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def _step_lrs(tmp_path: Path) -> list[float]:
    lrs = [torch.load(tmp_path / f"lrs{rank}.pt") for rank in (0, 1)]
    assert lrs[0] == lrs[1]
    return lrs[0]


@pytest.mark.parametrize("order", ["1", "2"])
@pytest.mark.slow
def test_two_processes_end_with_identical_weights(tmp_path, order):
    _launch(29500 + int(order), order, str(tmp_path))
    a = torch.load(tmp_path / "rank0.pt")
    b = torch.load(tmp_path / "rank1.pt")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # two synchronised SGD steps were taken (each rank saw its own half of every batch)
    cfg = read_checkpoint(tmp_path / f"ddp-{order}-onecycle" / "checkpoints" / "last.ckpt")
    assert cfg["global_step"] == 2
    # the collapse check sees every rank's predictions: 100 training images in all
    tallies = [torch.load(tmp_path / f"tally{rank}.pt") for rank in (0, 1)]
    assert tallies[0] == tallies[1] and sum(tallies[0][:-2]) == 100
    # one-cycle over those 2 steps (not 4, a single process's count): its final value last
    lrs = _step_lrs(tmp_path)
    assert len(lrs) == 2 and lrs[0] > lrs[1]
    assert lrs[1] == pytest.approx(LR / 25 / 1e4, rel=1e-9)


@pytest.mark.slow
def test_cosine_schedule_ends_on_the_last_step_of_every_process(tmp_path):
    _launch(29503, "1", str(tmp_path), "cosine", "2")
    lrs = _step_lrs(tmp_path)
    # 2 epochs of 100 images, batch 25, split over 2 processes: 4 steps each, cosine to 0
    assert lrs == pytest.approx([LR, 0.75 * LR, 0.25 * LR, 0.0], abs=1e-12)
