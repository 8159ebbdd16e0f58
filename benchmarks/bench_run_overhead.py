"""What a `largemargin train` run spends besides training, and what the default margin subsample
costs in accuracy of the measurement.

Runs, as a user would, ``largemargin train`` in a fresh process: cross-entropy, the reference
MNIST network, 3000 class-balanced MNIST training images, 8 epochs, batch 64 (the size of issue
21's measurement), first with the default test-margin measurement (the first
``trainer.margin_examples`` = 1000 test images), then measuring all 10000 (``null``). For each it
prints the wall time of the whole command (start-up, data, training, test, files) beside the
run's own ``train_seconds``, and their ratio. Then the mean logit margin per layer of the first
run's model: from its metrics.json (1000 images) against ``largemargin evaluate`` on the same
checkpoint (all 10000), with the relative error. Last, the wall time of ``largemargin --version``
and ``largemargin --help``. About 2-3 minutes on 2 idle CPU cores.

    python benchmarks/bench_run_overhead.py --data_dir ../shared/data/mnist [--epochs 8]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from largemargin.report import markdown_table

CLI = [sys.executable, "-m", "largemargin"]


def timed(args: list[str]) -> tuple[float, str]:
    """Wall seconds and stdout of ``largemargin ARGS`` in a fresh process."""
    start = time.perf_counter()
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, check=True)
    return time.perf_counter() - start, done.stdout


def train_run(data_dir: str, epochs: int, folder: Path, name: str, margins: str) -> float:
    seconds, _ = timed(
        [
            "train",
            "--loss.kind",
            "cross_entropy",
            "--data.name",
            "mnist",
            "--data.data_dir",
            data_dir,
            "--data.train_subset",
            "3000",
            "--trainer.epochs",
            str(epochs),
            "--trainer.batch_size",
            "64",
            "--trainer.progress_bar",
            "false",
            "--trainer.margin_examples",
            margins,
            "--run_dir",
            str(folder),
            "--name",
            name,
        ]
    )
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", required=True, help="the folder of MNIST's four .gz files")
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args(argv)
    rows, margin_rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, margins in (("subsample", "1000"), ("all", "null")):
            print(f"training ({name} test margins) ...", flush=True)
            wall = train_run(args.data_dir, args.epochs, folder, name, margins)
            metrics = json.loads((folder / name / "metrics.json").read_text())
            train_s = metrics["train_seconds"]
            label = "first 1000" if margins == "1000" else "all 10000"
            rows.append([label, f"{wall:.1f}", f"{train_s:.1f}", f"{wall / train_s:.2f}x"])
        print("evaluating the first run's checkpoint on all test images ...", flush=True)
        _, out = timed(["evaluate", str(folder / "subsample" / "checkpoints" / "last.ckpt")])
        full = json.loads(out)["mean_logit_margin"]
        sub = json.loads((folder / "subsample" / "metrics.json").read_text())["test"]
        for layer, value in full.items():
            part = sub[f"logit_margin/{layer}"]
            margin_rows.append(
                [layer, f"{part:.4f}", f"{value:.4f}", f"{abs(part - value) / abs(value):.1%}"]
            )
    version, _ = timed(["--version"])
    help_, _ = timed(["--help"])
    print(
        markdown_table(
            ["test margins on", "wall (s)", "train_seconds", "wall / train_seconds"], rows
        )
    )
    print()
    print(
        markdown_table(
            ["layer", "mean logit margin, first 1000", "all 10000", "relative error"],
            margin_rows,
        )
    )
    print(f"\nlargemargin --version: {version:.2f} s; largemargin --help: {help_:.2f} s")


if __name__ == "__main__":
    main()
