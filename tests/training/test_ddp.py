"""DDP on 2 CPU processes (gloo, launched by torchrun): gradients are synchronised, so both
ranks end with identical weights, for first- and second-order margins; the collapse check's
prediction counts are summed over both ranks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from largemargin.training.checkpoint import read_checkpoint

WORKER = Path(__file__).with_name("ddp_worker.py")


@pytest.mark.parametrize("order", ["1", "2"])
def test_two_processes_end_with_identical_weights(tmp_path, order):
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(29500 + int(order)),
        str(WORKER),
        order,
        str(tmp_path),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    a = torch.load(tmp_path / "rank0.pt")
    b = torch.load(tmp_path / "rank1.pt")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # two synchronised SGD steps were taken (each rank saw its own half of every batch)
    cfg = read_checkpoint(tmp_path / f"ddp-{order}" / "checkpoints" / "last.ckpt")
    assert cfg["global_step"] == 2
    # the collapse check sees every rank's predictions: 100 training images in all
    tallies = [torch.load(tmp_path / f"tally{rank}.pt") for rank in (0, 1)]
    assert tallies[0] == tallies[1] and sum(tallies[0][:-2]) == 100
