"""Per-step cost of the margin loss inside the real training loop (Lightning), vs cross-entropy.

Runs short training runs of the reference MNIST network on the bundled MNIST subset, batch 128,
Adam: cross-entropy, the large margin loss first-order and second-order (margin on the input and
both conv blocks, l-inf, norm_scale="dim"). Variants alternate for ``--repeats`` rounds so machine
noise hits them alike; the median step time per variant is printed as a ratio to cross-entropy,
with the share of step time spent between batches (data loading plus Lightning's per-step
overhead). Compare with benchmarks/bench_step.py (the bare step) to see what the engine adds.

    python benchmarks/bench_training_loop.py [--steps 60] [--repeats 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

from largemargin.data import DataConfig
from largemargin.training import LossConfig, OptimConfig, RunConfig, TrainerConfig, recipe, train

VARIANTS = {
    "cross-entropy": LossConfig(kind="cross_entropy"),
    "margin, first-order": recipe(),
    "margin, second-order": recipe(second_order=True),
}


def run(loss: LossConfig, steps: int, folder: str, name: str) -> dict:
    cfg = RunConfig(
        data=DataConfig(val_split=100),
        loss=loss,
        optim=OptimConfig(name="adam", lr=1e-3, eps=1e-8, schedule="constant"),
        trainer=TrainerConfig(
            epochs=1,
            max_steps=steps,
            batch_size=128,
            progress_bar=False,
            log_margin_every_n_steps=0,
            check_val_every_n_epoch=10,
        ),
        run_dir=folder,
        name=name,
    )
    return train(cfg).metrics


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    steps: dict[str, list[float]] = {k: [] for k in VARIANTS}
    waits: dict[str, list[float]] = {k: [] for k in VARIANTS}
    with tempfile.TemporaryDirectory() as folder:
        for r in range(args.repeats):
            for i, (name, loss) in enumerate(VARIANTS.items()):
                metrics = run(loss, args.steps, folder, f"r{r}-{i}")
                steps[name].append(metrics["step_seconds"])
                waits[name].append(metrics["data_wait_share"])
    base = statistics.median(steps["cross-entropy"])
    print(
        f"\nLightning training loop, reference MNIST network, batch 128, {args.steps} steps x "
        f"{args.repeats} runs per variant"
    )
    print("| loss | median step (ms) | vs cross-entropy | time between batches |")
    print("| --- | --- | --- | --- |")
    for name in VARIANTS:
        t = statistics.median(steps[name])
        print(
            f"| {name} | {t * 1e3:.1f} | {t / base:.2f}x | {statistics.median(waits[name]):.1%} |"
        )


if __name__ == "__main__":
    main()
