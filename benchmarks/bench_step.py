"""Training-step cost of the large margin loss against cross-entropy, side by side.

The reference MNIST network (GUIDE.md), train mode, batch 128, margin on the input and both conv
blocks, p = inf with norm_scale="dim", k = 1 unless stated (top_k=9 with "sum": every competitor's
term summed, the noise-robust variant). Every variant runs the same SGD step; variants are
interleaved round by round so machine noise hits them alike, and the median step time of each is
reported as a ratio to cross-entropy. Peak memory: the CUDA allocator's peak on a GPU; on the CPU
(Linux) the peak resident set of a fresh process running only that variant (glibc told to return
large blocks at once), above its resident set after a warm-up step.

    python benchmarks/bench_step.py [--rounds 30] [--batch 128] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

import largemargin as lm
from largemargin.models import build_model

LAYERS = ["input", "block1", "block2"]
MARGIN = dict(gamma=10000.0, alpha=4.0, norm="inf", epsilon=1e-6, norm_scale="dim")


def reference_algorithm_loss(logits, y, layers, *, second_order: bool, top_k: int = 1):
    """A straightforward port of the published algorithm: one gradient pass per layer and
    competitor (retain_graph each time), as the TensorFlow code and the known PyTorch port do."""
    probs = torch.softmax(logits, dim=1)
    onehot = F.one_hot(y, probs.shape[1]).to(probs.dtype)
    correct = (probs * onehot).sum(dim=1, keepdim=True)
    top = (probs * (1 - onehot)).topk(top_k, dim=1).values
    diff = correct - top
    gamma, alpha, eps = MARGIN["gamma"], MARGIN["alpha"], MARGIN["epsilon"]
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


def make_variants() -> dict[str, Callable]:
    def cross_entropy(model, x, y):
        return F.cross_entropy(model(x), y)

    def ours(second_order: bool, top_k: int = 1, aggregation: str = "min"):
        def step_loss(model, x, y):
            logits, layers = lm.forward_with_layers(model, x, LAYERS)
            return lm.large_margin_loss(
                logits,
                y,
                layers,
                second_order=second_order,
                top_k=top_k,
                aggregation=aggregation,
                **MARGIN,
            )

        return step_loss

    def reference(second_order: bool, top_k: int = 1):
        def step_loss(model, x, y):
            logits, layers = lm.forward_with_layers(model, x, LAYERS)
            return reference_algorithm_loss(
                logits, y, layers, second_order=second_order, top_k=top_k
            )

        return step_loss

    return {
        "cross-entropy": cross_entropy,
        "margin, first-order": ours(False),
        "margin, second-order": ours(True),
        "margin, first-order, top_k=5": ours(False, 5),
        "margin, first-order, top_k=9, sum": ours(False, 9, "sum"),  # the noise-robust variant
        "margin, second-order, top_k=9, sum": ours(True, 9, "sum"),
        "reference algorithm, first-order": reference(False),
        "reference algorithm, second-order": reference(True),
        "reference algorithm, first-order, top_k=5": reference(False, 5),
    }


def setup(batch: int, device: str, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model("mnist_reference", num_classes=10).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    x = torch.rand(batch, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    return model, opt, x, y


def step(fn, model, opt, x, y) -> None:
    """One SGD step. Backpropagates to the parameters only (``inputs=``), so no variant pays
    for the input gradient that naming the "input" layer would otherwise add to the backward."""
    opt.zero_grad(set_to_none=True)
    fn(model, x, y).backward(inputs=list(model.parameters()))
    opt.step()


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def check_equal_output(batch: int, device: str) -> float:
    """Largest relative difference between our gradients and the reference algorithm's."""
    variants = make_variants()
    worst = 0.0
    for ours, ref in [
        ("margin, first-order", "reference algorithm, first-order"),
        ("margin, second-order", "reference algorithm, second-order"),
        ("margin, first-order, top_k=5", "reference algorithm, first-order, top_k=5"),
    ]:
        grads = []
        for name in (ours, ref):
            model, _, x, y = setup(batch, device)
            variants[name](model, x, y).backward()
            grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
        worst = max(worst, float((grads[0] - grads[1]).norm() / grads[1].norm()))
    return worst


def time_variants(rounds: int, batch: int, device: str) -> dict[str, float]:
    variants = make_variants()
    model, opt, x, y = setup(batch, device)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(rounds + 3):  # 3 warm-up rounds
        for name, fn in variants.items():
            sync(device)
            start = time.perf_counter()
            step(fn, model, opt, x, y)
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
    fn = make_variants()[name]
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
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
    medians = time_variants(args.rounds, args.batch, args.device)
    base = medians["cross-entropy"]
    print("\n| training step | median ms | vs cross-entropy | peak memory (MiB) |")
    print("| --- | --- | --- | --- |")
    for name, t in medians.items():
        mem = "-" if args.no_memory else f"{peak_memory_mib(name, args.batch, args.device):.0f}"
        print(f"| {name} | {t * 1e3:.1f} | {t / base:.2f}x | {mem} |")
    for ours, ref in [
        ("margin, first-order", "reference algorithm, first-order"),
        ("margin, second-order", "reference algorithm, second-order"),
        ("margin, first-order, top_k=5", "reference algorithm, first-order, top_k=5"),
    ]:
        print(f"{ours}: {medians[ref] / medians[ours]:.2f}x faster than the reference algorithm")
    if args.device == "cpu":
        aten_ms, fold_ms = conv_input_grad_ms(args.batch)
        print(
            f"first-convolution input gradient: PyTorch CPU kernel {aten_ms:.1f} ms, "
            f"fold formulation {fold_ms:.1f} ms"
        )
    if worst > 1e-4:
        raise SystemExit(f"outputs differ from the reference algorithm: {worst:.1e}")


if __name__ == "__main__":
    main()
