"""Training-step cost of the large margin loss against cross-entropy, side by side.

The reference MNIST network (``mnist_reference``), train mode, batch 128, margin on the input
and both conv blocks, p = inf with norm_scale="dim", k = 1 unless stated (top_k=9 with "sum":
every competitor's term summed, the noise-robust variant). Every variant runs the same SGD step,
backpropagating to the parameters only; variants are interleaved round by round so machine
noise hits them alike, and the median step time of each is reported as a ratio to
cross-entropy, beside its target and its floor. The floor of a variant with k competitors is
cross-entropy plus k times the measured extra cost of one bare gradient row (``floor_loss``).
Peak memory: the CUDA allocator's peak on a GPU; on the CPU (Linux) the peak resident set of a
fresh process running only that variant (glibc told to return large blocks at once), above its
resident set after a warm-up step.

    python benchmarks/bench_step.py [--rounds 10] [--batch 128] [--device cpu|cuda] [--no-memory]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

import largemargin as lm
from largemargin.core.distances import score_gaps
from largemargin.core.fast_kernels import FastConvInputGrad
from largemargin.core.norms import dual_exponent, dual_norm, parse_norm
from largemargin.models import build_model, default_margin_layers
from largemargin.report import markdown_table
from largemargin.training import RECIPE_MARGIN
from largemargin.training.adversarial import Adversary, trades_divergence
from largemargin.training.config import AdversarialConfig

LAYERS = list(default_margin_layers("mnist_reference"))  # input, block1, block2


def reference_algorithm_loss(logits, y, layers, *, second_order: bool, top_k: int = 1):
    """A straightforward port of the published algorithm: one gradient pass per layer and
    competitor (retain_graph each time), as the TensorFlow code and the known PyTorch port do."""
    probs = torch.softmax(logits, dim=1)
    onehot = F.one_hot(y, probs.shape[1]).to(probs.dtype)
    correct = (probs * onehot).sum(dim=1, keepdim=True)
    top = (probs * (1 - onehot)).topk(top_k, dim=1).values
    diff = correct - top
    gamma, alpha, eps = RECIPE_MARGIN.gamma, RECIPE_MARGIN.alpha, RECIPE_MARGIN.epsilon
    total = 0.0
    for layer in layers:
        norms = []
        for i in range(top_k):
            (g,) = torch.autograd.grad(
                diff[:, i].sum(), layer, retain_graph=True, create_graph=second_order
            )
            norms.append(g.flatten(1).abs().sum(dim=1) / layer[0].numel())
        norm = torch.stack(norms, dim=1)
        if not second_order:
            norm = norm.detach()
        dist = (diff / (norm + eps)).amin(dim=1)
        total = total + (-dist.clamp(gamma * (1 - alpha), gamma)).mean()
    return total / len(layers)


@dataclass(frozen=True)
class Variant:
    """One timed training step: ``loss(model, x, y)``; ``target``: the step-cost ratio to
    cross-entropy it should reach (None: no target); ``rows``/``second_order``: how many
    gradient rows its margin needs, to scale the measured one-row floor."""

    loss: Callable
    target: float | None = None
    rows: int = 0
    second_order: bool = False


def margin_loss(
    names: list[str],
    second_order: bool,
    top_k: int = 1,
    aggregation: str = "min",
    norm: float | str = "inf",
) -> Callable:
    """The recipe's margin (``RECIPE_MARGIN``) on ``names``, with the options given."""
    options = replace(
        RECIPE_MARGIN, second_order=second_order, top_k=top_k, aggregation=aggregation, norm=norm
    )

    def step_loss(model, x, y):
        logits, layers = lm.forward_with_layers(model, x, names)
        return lm.large_margin_loss(logits, y, layers, options)

    return step_loss


def reference_loss(names: list[str], second_order: bool, top_k: int = 1) -> Callable:
    def step_loss(model, x, y):
        logits, layers = lm.forward_with_layers(model, x, names)
        return reference_algorithm_loss(logits, y, layers, second_order=second_order, top_k=top_k)

    return step_loss


def floor_loss(names: list[str], second_order: bool, norm: float | str = "inf") -> Callable:
    """The least work a one-competitor margin step needs: the forward, one gradient row to all
    margin layers (with the fast kernel; with its graph when second-order, then backpropagated
    through the batch mean of the layer gradients' dual norms, ``core.norms.dual_norm``), and the
    parameter backward of cross-entropy. No distances, no hinge."""
    q = dual_exponent(parse_norm(norm))

    def step_loss(model, x, y):
        logits, layers = lm.forward_with_layers(model, x, names)
        gaps = score_gaps(logits, y, 1, "prob")
        # the margin uses the fast kernel on the CPU only (see largemargin.core.distances)
        with FastConvInputGrad() if x.device.type == "cpu" else contextlib.nullcontext():
            grads = torch.autograd.grad(
                gaps.sum(), layers, retain_graph=True, create_graph=second_order
            )
        loss = F.cross_entropy(logits, y)
        if second_order:
            loss = loss + sum(dual_norm(g.flatten(1), q).mean() for g in grads)
        return loss

    return step_loss


def adversarial_loss(step_loss: Callable, attack: AdversarialConfig) -> Callable:
    """``step_loss`` at the adversarial batch of ``attack`` (ascending the cross-entropy, in
    pixel units: the benchmark's inputs are pixels), as ``training.adversarial`` trains."""
    adversary = Adversary(attack, None, None)

    def step(model, x, y):
        return step_loss(model, adversary(model, x, y, None), y)

    return step


def trades_loss(beta: float = 6.0, steps: int = 5) -> Callable:
    """TRADES: cross-entropy at x plus beta times the KL to its ``steps``-step adversary."""
    adversary = Adversary(AdversarialConfig(attack="pgd", eps=0.1, steps=steps), None, None)

    def step(model, x, y):
        x_adv = adversary.trades(model, x)
        clean = model(x)
        return F.cross_entropy(clean, y) + beta * trades_divergence(clean, model(x_adv)).mean()

    return step


def make_variants(names: list[str] = LAYERS) -> dict[str, Variant]:
    """Every timed step, by name; ``names``: the margin layers. The adversarial-training rows
    (eps 0.1, l-inf) are cross-entropy's unless they name the margin (second-order, as the
    mnist-robust preset); they have no target, only their measured cost."""

    def cross_entropy(model, x, y):
        return F.cross_entropy(model(x), y)

    fgsm = AdversarialConfig(attack="fgsm", eps=0.1)
    pgd7 = AdversarialConfig(attack="pgd", eps=0.1, steps=7)

    return {
        "cross-entropy": Variant(cross_entropy),
        "floor, first-order, 1 row": Variant(floor_loss(names, False)),
        "floor, second-order, 1 row": Variant(floor_loss(names, True)),
        "margin, first-order": Variant(margin_loss(names, False), 1.35, 1),
        "margin, second-order": Variant(margin_loss(names, True), 2.0, 1, True),
        "margin, first-order, top_k=5": Variant(margin_loss(names, False, 5), 3.0, 5),
        # the noise-robust variant: every competitor's term summed
        "margin, first-order, top_k=9, sum": Variant(margin_loss(names, False, 9, "sum"), 4.0, 9),
        "margin, second-order, top_k=9, sum": Variant(
            margin_loss(names, True, 9, "sum"), 8.0, 9, True
        ),
        "reference algorithm, first-order": Variant(reference_loss(names, False)),
        "reference algorithm, second-order": Variant(reference_loss(names, True)),
        "reference algorithm, first-order, top_k=5": Variant(reference_loss(names, False, 5)),
        "FGSM-RS adversarial training": Variant(adversarial_loss(cross_entropy, fgsm)),
        "PGD-7 adversarial training": Variant(adversarial_loss(cross_entropy, pgd7)),
        "TRADES, 5 steps": Variant(trades_loss()),
        "margin, second-order + FGSM-RS": Variant(adversarial_loss(margin_loss(names, True), fgsm)),
    }


# (ours, the reference algorithm's port); ours should be this many times faster
REFERENCE_PAIRS = [
    ("margin, first-order", "reference algorithm, first-order"),
    ("margin, second-order", "reference algorithm, second-order"),
    ("margin, first-order, top_k=5", "reference algorithm, first-order, top_k=5"),
]
REFERENCE_TARGET = 1.3


def target_cells(variant: Variant, ratio: float | None) -> list[str]:
    """The target and met? cells of a step's table row ("-" without a target or a ratio)."""
    if variant.target is None or ratio is None:
        return ["-", "-"]
    return [f"<= {variant.target:.2f}x", met(ratio, variant.target)]


def reference_table(medians: Mapping[str, float | None]) -> str:
    """Markdown table of how many times faster each of ours is than the reference algorithm's
    port, from median step times by variant name (None: the step failed)."""
    rows = []
    for ours, ref in REFERENCE_PAIRS:
        a, b = medians.get(ours), medians.get(ref)
        target = f">= {REFERENCE_TARGET}x"
        if a is None or b is None:
            rows.append([ours, "-", target, "-"])
        else:
            speedup = b / a
            met_s = met(speedup, REFERENCE_TARGET, higher_is_better=True)
            rows.append([ours, f"{speedup:.2f}x faster", target, met_s])
    return markdown_table(
        ["ours vs the reference algorithm", "reference / ours", "target", "met?"], rows
    )


def floor_ratio(variant: Variant, ratios: dict[str, float]) -> float | None:
    """Step-cost floor of a margin variant as a ratio to cross-entropy: cross-entropy plus
    ``rows`` times the measured cost of one gradient row (first- or second-order)."""
    if not variant.rows:
        return None
    one_row = ratios[f"floor, {'second' if variant.second_order else 'first'}-order, 1 row"] - 1
    return 1 + variant.rows * one_row


def setup(
    batch: int,
    device: str,
    seed: int = 0,
    *,
    model_name: str = "mnist_reference",
    image: tuple[int, ...] = (1, 28, 28),
):
    """A seeded 10-class ``model_name`` in train mode, its SGD optimiser and one random batch
    of ``batch`` images shaped ``image``, on ``device``."""
    torch.manual_seed(seed)
    model = build_model(model_name, num_classes=10).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    x = torch.rand(batch, *image, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    return model, opt, x, y


def step(fn, model, opt, x, y, autocast_dtype: torch.dtype | None = None) -> None:
    """One SGD step, the loss (forward and margin) under autocast when ``autocast_dtype``.
    Backpropagates to the parameters only (``inputs=``), so no variant pays for the input
    gradient that naming the "input" layer would otherwise add to the backward."""
    opt.zero_grad(set_to_none=True)
    with (
        torch.autocast(x.device.type, dtype=autocast_dtype)
        if autocast_dtype is not None
        else contextlib.nullcontext()
    ):
        loss = fn(model, x, y)
    loss.backward(inputs=list(model.parameters()))
    opt.step()


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def check_equal_output(batch: int, device: str) -> float:
    """Largest relative difference between our gradients and the reference algorithm's."""
    variants = make_variants()
    worst = 0.0
    for ours, ref in REFERENCE_PAIRS:
        grads = []
        for name in (ours, ref):
            model, _, x, y = setup(batch, device)
            variants[name].loss(model, x, y).backward()
            grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
        worst = max(worst, float((grads[0] - grads[1]).norm() / grads[1].norm()))
    return worst


def time_variants(
    rounds: int,
    batch: int,
    device: str,
    variants: Mapping[str, Variant] | None = None,
    **network: object,
) -> dict[str, float]:
    """Median seconds of each variant's step (``make_variants()`` when None), interleaved
    round by round after 3 warm-up rounds, on the network ``setup(batch, device, **network)``
    builds (``model_name``, ``image``)."""
    variants = make_variants() if variants is None else variants
    model, opt, x, y = setup(batch, device, **network)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(rounds + 3):  # 3 warm-up rounds
        for name, variant in variants.items():
            sync(device)
            start = time.perf_counter()
            step(variant.loss, model, opt, x, y)
            sync(device)
            if r >= 3:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def peak_memory_mib(name: str, batch: int, device: str) -> float:
    """Peak memory of one variant's step, in MiB, measured in a fresh process."""
    code = (
        "import sys, json; sys.path.insert(0, 'benchmarks');"
        "import bench_step as b;"
        f"print(json.dumps(b._measure_peak({name!r}, {batch}, {device!r})))"
    )
    # Large blocks straight from mmap and back on free, so the resident set follows live memory.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _measure_peak(name: str, batch: int, device: str) -> float:
    fn = make_variants()[name].loss
    model, opt, x, y = setup(batch, device)
    if device.startswith("cuda"):
        step(fn, model, opt, x, y)
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step(fn, model, opt, x, y)
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    step(fn, model, opt, x, y)  # warm-up: allocator caches and optimizer state exist
    with open("/proc/self/clear_refs", "w") as f:  # reset the peak resident set (Linux)
        f.write("5")
    base = _status_kib("VmRSS")
    for _ in range(2):
        step(fn, model, opt, x, y)
    return (_status_kib("VmHWM") - base) / 1024


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def conv_input_grad_ms(batch: int, repeats: int = 20) -> tuple[float, float]:
    """Median ms of the reference network's first-convolution input gradient: PyTorch's CPU
    kernel vs the fold formulation used by largemargin.core.fast_kernels."""
    from largemargin.core.fast_kernels import conv_input_grad_by_fold

    x = torch.rand(batch, 1, 28, 28)
    w = torch.randn(32, 1, 5, 5)
    g = torch.randn(batch, 32, 28, 28)
    args = ([1, 1], [2, 2], [1, 1])
    kernels = {
        "aten": lambda: torch.ops.aten.convolution_backward(
            g, x, w, None, *args, False, [0, 0], 1, [True, False, False]
        ),
        "fold": lambda: conv_input_grad_by_fold(g, x.shape, w, *args),
    }
    times: dict[str, list[float]] = {k: [] for k in kernels}
    for _ in range(repeats + 2):
        for name, fn in kernels.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    aten_ms, fold_ms = (statistics.median(times[k][2:]) * 1e3 for k in kernels)
    return aten_ms, fold_ms


def met(value: float, target: float, higher_is_better: bool = False) -> str:
    return "met" if (value >= target if higher_is_better else value <= target) else "not met"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    args = parser.parse_args(argv)
    print(
        f"torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}, "
        f"batch {args.batch}, {args.rounds} rounds"
    )
    worst = check_equal_output(args.batch, args.device)
    print(
        f"equal output: largest relative gradient difference vs the reference algorithm {worst:.1e}"
    )
    variants = make_variants()
    medians = time_variants(args.rounds, args.batch, args.device)
    ratios = {name: t / medians["cross-entropy"] for name, t in medians.items()}
    rows = []
    for name, variant in variants.items():
        mem = "-" if args.no_memory else f"{peak_memory_mib(name, args.batch, args.device):.0f}"
        floor = floor_ratio(variant, ratios)
        rows.append(
            [
                name,
                f"{medians[name] * 1e3:.1f}",
                f"{ratios[name]:.2f}x",
                "-" if floor is None else f"{floor:.2f}x",
                *target_cells(variant, ratios[name]),
                mem,
            ]
        )
    headers = ["training step", "median ms", "vs cross-entropy", "floor", "target", "met?"]
    print("\n" + markdown_table([*headers, "peak memory (MiB)"], rows))
    print("\n" + reference_table(medians))
    if args.device == "cpu":
        aten_ms, fold_ms = conv_input_grad_ms(args.batch)
        print(
            f"\nfirst-convolution input gradient: PyTorch CPU kernel {aten_ms:.1f} ms, "
            f"fold formulation {fold_ms:.1f} ms"
        )
    if worst > 1e-4:
        raise SystemExit(f"outputs differ from the reference algorithm: {worst:.1e}")


if __name__ == "__main__":
    main()
