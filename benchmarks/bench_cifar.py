"""Training-step cost of the large margin loss on CIFAR residual networks, side by side.

``cifar_resnet20`` (He et al.) and ``cifar_resnet9_w16`` (configs/cifar10-cpu.yaml's network),
train mode, random 3x32x32 batches, margin on the input and the three stage outputs, l2 with
norm_scale "dim" (the CIFAR-10 recipe's norm), k = 1 unless stated. As in bench_step.py: every
variant runs the same SGD step to the parameters only, variants interleaved round by round,
the median step time reported as a ratio to cross-entropy beside its target and its floor
(cross-entropy plus k times one bare gradient row). Targets (issue 20): first-order at most
1.4x and second-order at most 2.5x of a cross-entropy step on ResNet-20 at batch 128.

Also: ResNet-20's cross-entropy step in NCHW against channels-last (the memory layout
ResNet-9 keeps), and ``--profile``: the operators where ResNet-20's second-order step spends
its time (torch.profiler, self CPU time), against a cross-entropy step's.

    python benchmarks/bench_cifar.py [--rounds 8] [--batch 128] [--profile]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_step as b
from largemargin.models import default_margin_layers
from largemargin.report import markdown_table

NETWORKS = ("cifar_resnet20", "cifar_resnet9_w16")
IMAGE = (3, 32, 32)
NORM = 2


def cross_entropy(model, x, y):
    return F.cross_entropy(model(x), y)


def make_variants(network: str) -> dict[str, b.Variant]:
    """The timed steps on ``network``, by name: cross-entropy, the two one-row floors, the
    first- and second-order margin and the all-competitor (top-k 9, summed) margin."""
    names = default_margin_layers(network)
    return {
        "cross-entropy": b.Variant(cross_entropy),
        "floor, first-order, 1 row": b.Variant(b.floor_loss(names, False, NORM)),
        "floor, second-order, 1 row": b.Variant(b.floor_loss(names, True, NORM)),
        "margin, first-order": b.Variant(b.margin_loss(names, False, norm=NORM), 1.4, 1),
        "margin, second-order": b.Variant(b.margin_loss(names, True, norm=NORM), 2.5, 1, True),
        "margin, first-order, top_k=9, sum": b.Variant(
            b.margin_loss(names, False, 9, "sum", norm=NORM), None, 9
        ),
    }


def step_table(network: str, rounds: int, batch: int) -> str:
    """Markdown table of every variant's median step on ``network``: ms, ratio to
    cross-entropy, floor, target, met?"""
    variants = make_variants(network)
    medians = b.time_variants(rounds, batch, "cpu", variants, model_name=network, image=IMAGE)
    ratios = {name: t / medians["cross-entropy"] for name, t in medians.items()}
    rows = []
    for name, variant in variants.items():
        floor = b.floor_ratio(variant, ratios)
        rows.append(
            [
                name,
                f"{medians[name] * 1e3:.1f}",
                f"{ratios[name]:.2f}x",
                "-" if floor is None else f"{floor:.2f}x",
                *b.target_cells(variant, ratios[name]),
            ]
        )
    headers = ["training step", "median ms", "vs cross-entropy", "floor", "target", "met?"]
    return markdown_table(headers, rows)


def memory_format_ms(rounds: int, batch: int) -> tuple[float, float]:
    """ResNet-20's median cross-entropy step (ms) in NCHW and in channels-last, interleaved."""
    model, opt, x, y = b.setup(batch, "cpu", model_name="cifar_resnet20", image=IMAGE)
    layouts = {
        "nchw": (torch.contiguous_format, x),
        "channels_last": (torch.channels_last, x.contiguous(memory_format=torch.channels_last)),
    }
    times: dict[str, list[float]] = {k: [] for k in layouts}
    for r in range(rounds + 2):
        for name, (layout, inputs) in layouts.items():
            model.to(memory_format=layout)
            start = time.perf_counter()
            b.step(cross_entropy, model, opt, inputs, y)
            if r >= 2:
                times[name].append(time.perf_counter() - start)
    return tuple(statistics.median(times[k]) * 1e3 for k in layouts)


def profile(batch: int, top: int = 12) -> str:
    """Self CPU time of the top operators in one ResNet-20 second-order margin step and in one
    cross-entropy step (after a warm-up step each), as a markdown table."""
    variants = make_variants("cifar_resnet20")
    columns = {}
    for name in ("cross-entropy", "margin, second-order"):
        model, opt, x, y = b.setup(batch, "cpu", model_name="cifar_resnet20", image=IMAGE)
        b.step(variants[name].loss, model, opt, x, y)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            b.step(variants[name].loss, model, opt, x, y)
        columns[name] = {e.key: e.self_cpu_time_total / 1e3 for e in prof.key_averages()}
    second = columns["margin, second-order"]
    rows = [
        [op, f"{ms:.0f}", f"{columns['cross-entropy'].get(op, 0.0):.0f}"]
        for op, ms in sorted(second.items(), key=lambda kv: -kv[1])[:top]
    ]
    totals = ["total", *(f"{sum(c.values()):.0f}" for c in (second, columns["cross-entropy"]))]
    return markdown_table(
        ["operator (self CPU)", "second-order margin (ms)", "cross-entropy (ms)"],
        [*rows, totals],
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--profile", action="store_true", help="profile the second-order step")
    args = parser.parse_args(argv)
    print(
        f"torch {torch.__version__}, cpu, threads {torch.get_num_threads()}, "
        f"batch {args.batch}, {args.rounds} rounds, margin l2 on the input and 3 stages"
    )
    for network in NETWORKS:
        print(f"\n{network}\n\n" + step_table(network, args.rounds, args.batch), flush=True)
    nchw, last = memory_format_ms(args.rounds, args.batch)
    print(
        f"\ncifar_resnet20 cross-entropy step: NCHW {nchw:.0f} ms, channels-last {last:.0f} ms "
        f"({nchw / last:.2f}x)"
    )
    if args.profile:
        print("\n" + profile(args.batch))


if __name__ == "__main__":
    main()
