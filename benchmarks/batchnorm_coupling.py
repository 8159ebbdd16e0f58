"""How much does train-mode BatchNorm change the batch-sum distances?

The reference code (and our default) takes each example's gradient from the gradient of the
batch sum, which is exact only when examples do not interact. Train-mode BatchNorm couples them
through the batch statistics. This compares, on the reference MNIST network in train mode at
batch 128 on real MNIST images, the first-order distances from the batch-sum gradient with the
exact per-example ones (``exact_per_example=True``), at initialisation and after a short
training run with the margin loss, and prints the relative differences per layer.

    python benchmarks/batchnorm_coupling.py [--steps 200] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch

import largemargin as lm
from largemargin.data.sources import load_mnist_subset
from largemargin.models import build_model, default_margin_layers
from largemargin.training import RECIPE_MARGIN

LAYERS = list(default_margin_layers("mnist_reference"))  # input, block1, block2
TIMES: list[tuple[float, float]] = []  # (batch-sum, exact) seconds per call of compare()


def compare(model, x, y) -> list[tuple[float, float, float]]:
    """Per layer: median and 95th-percentile relative difference, and the fraction of examples
    whose distance changes sign."""
    logits, layers = lm.forward_with_layers(model, x, LAYERS)
    start = time.perf_counter()
    batch_sum = lm.margin_distances(logits, y, layers, RECIPE_MARGIN)[:, :, 0]
    middle = time.perf_counter()
    exact_options = replace(RECIPE_MARGIN, exact_per_example=True)
    exact = lm.margin_distances(logits, y, layers, exact_options)[:, :, 0]
    TIMES.append((middle - start, time.perf_counter() - middle))
    rel = (batch_sum - exact).abs() / exact.abs().clamp_min(1e-12)
    flips = (torch.sign(batch_sum) != torch.sign(exact)).double().mean(dim=0)
    return [
        (float(rel[:, i].median()), float(rel[:, i].quantile(0.95)), float(flips[i]))
        for i in range(len(LAYERS))
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="margin-loss training steps")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    data = load_mnist_subset()
    images = data.train_images.float() / 255
    labels = data.train_labels
    model = build_model("mnist_reference", num_classes=10).train()
    probe = torch.randperm(len(labels))[: args.batch]
    rows = [("initialisation", compare(model, images[probe], labels[probe]))]
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    criterion = lm.LargeMarginLoss(RECIPE_MARGIN)
    for _ in range(args.steps):
        idx = torch.randint(0, len(labels), (args.batch,))
        logits, layers = lm.forward_with_layers(model, images[idx], LAYERS)
        opt.zero_grad()
        (criterion(logits, labels[idx], layers) / 1e4).backward(inputs=list(model.parameters()))
        opt.step()
    rows.append(
        (f"after {args.steps} margin-loss steps", compare(model, images[probe], labels[probe]))
    )
    print(f"reference MNIST network, train mode, batch {args.batch}, p = inf, norm_scale='dim'")
    print("| network | layer | median relative difference | 95th percentile | sign changes |")
    print("| --- | --- | --- | --- | --- |")
    for state, stats in rows:
        for name, (median, p95, flips) in zip(LAYERS, stats, strict=True):
            print(f"| {state} | {name} | {median:.2%} | {p95:.2%} | {flips:.1%} |")
    fast, exact = TIMES[-1]
    print(
        f"distances for one batch: batch-sum {fast * 1e3:.0f} ms, exact per-example "
        f"{exact * 1e3:.0f} ms ({exact / fast:.0f}x)"
    )


if __name__ == "__main__":
    main()
