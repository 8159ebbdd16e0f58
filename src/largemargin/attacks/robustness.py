"""A robustness evaluation that says when it cannot be trusted: accuracy under a set of attacks
that includes a gradient-free one, the per-example worst case over all of them, and sanity
checks for gradient masking (Athalye, Carlini & Wagner 2018; Carlini et al. 2019's checklist).

Gradient attacks on the cross-entropy stall on models whose softmax saturates (logit gaps in
the thousands: the input gradient is exactly 0 in float32) or whose input gradient is
otherwise useless; their accuracy then measures the attack, not the model. The checks below
catch the usual symptoms, each with a threshold stated as a module constant.

Conventions: ``x`` (N, ...) in [clip_min, clip_max], ``y`` (N,) integer labels, ``model(x)``
logits (N, K); eps in input units (pixel units when inputs are pixels in [0, 1]), in the
l-inf or whole-example l2 norm. An attack's accuracy at eps is the share of the N examples
that the model classifies correctly at the attack's output, so a masked attack can score above
clean accuracy; the worst case at eps counts an example as robust only if it is classified
correctly clean and at the output of every attack run at that eps.
"""

from __future__ import annotations

import math
import numbers
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from largemargin.core.norms import norm_name
from largemargin.report import markdown_table
from largemargin.torch_utils import eval_mode

from ._model import loss_gradient
from ._validate import check_batch, check_eps, check_norm, check_positive_int
from .autoattack import autoattack
from .gradient_sign import fgsm, iterative_fgsm
from .pgd import pgd
from .square import square

#: Attacks ``evaluate_robustness`` can run, by name.
ATTACK_NAMES = ("fgsm", "iterative_fgsm", "pgd-ce", "pgd-margin", "pgd-dlr", "square", "autoattack")

#: The default set: single-step and iterative gradient attacks on two losses, and Square.
DEFAULT_ATTACKS = ("fgsm", "pgd-ce", "pgd-margin", "square")

#: Attacks run at erase_eps whatever the set: a strong gradient attack and a gradient-free one.
ERASE_ATTACKS = ("pgd-margin", "square")

#: Iterative gradient attacks, compared with FGSM, clean accuracy and the gradient-free ones.
ITERATIVE = ("iterative_fgsm", "pgd-ce", "pgd-margin", "pgd-dlr")

#: Attacks that use no gradient of the evaluated model.
NON_GRADIENT = ("square", "transfer")

ERASE_SLACK = 0.05
"""At erase_eps every input can be moved to the same mid-range image, so a sound attack leaves
at most the examples of the one class the model assigns to that image: worst-case accuracy
must be at most the largest class share among the labels plus this slack (5 points for
attacks that stop short of the exact point)."""

ITERATIVE_SLACK = 0.02
"""An iterative attack starts where FGSM does (or at a random point nearby) and takes the
same direction first, so on a model with useful gradients it is at least as strong: its
accuracy may exceed FGSM's by at most 2 points plus ``NOISE_Z`` binomial standard errors (a
random start can land some examples elsewhere)."""

ZERO_GRADIENT_MAX = 0.05
"""A cross-entropy input gradient that is exactly 0 (every entry) happens on a healthy float32
model only for the odd very confident example; when more than 5% of the correctly classified
examples have one, the softmax saturates or the model is flat, and gradient attacks on CE
cannot move them."""

GRADIENT_FREE_SLACK = 0.05
"""A white-box attack sees strictly more than Square (queries only) or a transfer attack
(another model's gradients); when either beats the best iterative attack by more than 5
points plus ``NOISE_Z`` binomial standard errors, the gradients mislead."""

NOISE_Z = 2.0
"""Binomial standard errors added to a slack: ``NOISE_Z * sqrt(p (1 - p) / n)`` at the
compared accuracy p on n examples (about a 95% one-sided allowance)."""

CHECK_NAMES = (
    "accuracy falls to ~0 at erase_eps",
    "iterative no weaker than single-step",
    "PGD below clean",
    "zero input gradients",
    "gradient-free/transfer not far below PGD",
)


@dataclass
class RobustnessReport:
    """The result of ``evaluate_robustness``.

    ``norm``: ``math.inf`` or 2.0 (``core.norms.norm_name`` labels it); ``n``: examples
    evaluated; ``clean_accuracy`` in [0, 1];
    ``rows``: one per (attack, eps) run, ``{"attack", "eps", "accuracy", "n"}``; ``worst``:
    one per eps, ``{"eps", "accuracy", "n"}``, the per-example worst case over every attack run
    at that eps (robust only if no attack flipped it, and correct clean); ``checks``:
    ``{"check", "passed", "detail"}`` with the numbers in ``detail``; ``zero_gradient_share``:
    share of the correctly classified examples whose cross-entropy input gradient is 0.
    """

    norm: float
    n: int
    clean_accuracy: float
    rows: list[dict]
    worst: list[dict]
    checks: list[dict]
    zero_gradient_share: float

    @property
    def masking_suspected(self) -> bool:
        """Whether any sanity check failed."""
        return any(not c["passed"] for c in self.checks)

    def to_markdown(self) -> str:
        """A headline, the table eps x attacks with the worst-case column, the zero-gradient
        share, the checks (pass / FAIL and numbers) and, when a check failed, a line
        "gradient masking suspected: <failed checks>"."""
        attacks = list(dict.fromkeys(r["attack"] for r in self.rows))
        cell = {(r["attack"], r["eps"]): r["accuracy"] for r in self.rows}
        rows = []
        for w in self.worst:
            values = [
                f"{cell[(a, w['eps'])]:.1%}" if (a, w["eps"]) in cell else "-" for a in attacks
            ]
            rows.append([f"{w['eps']:g}", *values, f"{w['accuracy']:.1%}"])
        lines = [
            f"Accuracy under l-{norm_name(self.norm)} attacks on {self.n} examples (clean accuracy "
            f"{self.clean_accuracy:.1%}); worst case: per example over all attacks run "
            f"({', '.join(attacks)}).",
            "",
            markdown_table(["eps", *attacks, "worst case"], rows),
            "",
            "Correctly classified examples with an exactly zero cross-entropy input gradient: "
            f"{self.zero_gradient_share:.1%}.",
            "",
            "Checks:",
        ]
        lines += [
            f"- {'pass' if c['passed'] else 'FAIL'}: {c['check']}: {c['detail']}"
            for c in self.checks
        ]
        failed = [c["check"] for c in self.checks if not c["passed"]]
        if failed:
            lines += ["", "**gradient masking suspected**: " + "; ".join(failed)]
        return "\n".join(lines) + "\n"


def _check_names(attacks: Sequence[str]) -> list[str]:
    if isinstance(attacks, (str, bytes)) or not isinstance(attacks, Sequence) or not attacks:
        raise ValueError(f"attacks must be a non-empty sequence of names, got {attacks!r}")
    unknown = [a for a in attacks if a not in ATTACK_NAMES]
    if unknown or len(set(attacks)) != len(attacks):
        raise ValueError(
            f"attacks must be distinct names from {list(ATTACK_NAMES)} (the transfer attack is "
            f"added by passing reference_model), got {list(attacks)!r}"
        )
    return list(attacks)


def _check_epsilons(epsilons: Sequence[float]) -> list[float]:
    if isinstance(epsilons, (str, bytes)) or not isinstance(epsilons, Sequence) or not epsilons:
        raise ValueError(f"epsilons must be a non-empty sequence of numbers, got {epsilons!r}")
    return sorted({check_eps(e) for e in epsilons})


def _default_erase_eps(norm: float, x: torch.Tensor, clip_min: float, clip_max: float) -> float:
    """Half the input range (l-inf), times sqrt(entries per example) for l2: the distance
    from any input to the mid-range image."""
    if not (math.isfinite(clip_min) and math.isfinite(clip_max)):
        raise ValueError(
            "erase_eps must be given when the input range is unbounded, got clip_min="
            f"{clip_min!r}, clip_max={clip_max!r}"
        )
    half = (clip_max - clip_min) / 2
    return half if math.isinf(norm) else half * math.sqrt(x[0].numel())


def _seed(seed: int, attack: str, eps: float) -> int:
    """A seed for one (attack, eps), independent of which other attacks run; 32 bits, all
    that torch's CPU generator (a Mersenne twister) uses."""
    return zlib.crc32(f"{seed}:{attack}@{eps!r}".encode())


def _slack(points: float, p: float, n: int) -> float:
    return points + NOISE_Z * math.sqrt(p * (1 - p) / n)


@dataclass
class _Settings:
    norm: float
    clip: dict
    steps: int
    restarts: int
    square_queries: int
    n_classes: int
    seed: int
    batch_size: int
    reference_model: nn.Module | None


def _attack_fn(
    name: str, model: nn.Module, eps: float, s: _Settings, generator: torch.Generator
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The batch attack ``(x, y) -> flags (B,) bool, True where the model stays correct``."""
    norm, clip = s.norm, s.clip

    def correct(x_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model(x_adv).argmax(dim=1) == y

    def pgd_on(victim: nn.Module, loss: str) -> Callable:
        return lambda x, y: pgd(
            victim,
            x,
            y,
            eps,
            steps=s.steps,
            restarts=s.restarts,
            norm=norm,
            generator=generator,
            loss=loss,
            **clip,
        )

    runs: dict[str, Callable] = {
        "fgsm": lambda x, y: fgsm(model, x, y, eps, norm=norm, **clip),
        "iterative_fgsm": lambda x, y: iterative_fgsm(
            model, x, y, eps, steps=s.steps, norm=norm, **clip
        ),
        "pgd-ce": pgd_on(model, "ce"),
        "pgd-margin": pgd_on(model, "margin"),
        "pgd-dlr": pgd_on(model, "dlr"),
        "square": lambda x, y: square(
            model, x, y, eps, norm=norm, n_queries=s.square_queries, generator=generator, **clip
        ),
        "autoattack": lambda x, y: autoattack(
            model,
            x,
            y,
            eps,
            norm=norm,
            n_classes=s.n_classes,
            seed=s.seed,
            batch_size=s.batch_size,
        ),
    }
    if name == "transfer":
        on_ce, on_margin = pgd_on(s.reference_model, "ce"), pgd_on(s.reference_model, "margin")
        return lambda x, y: correct(on_ce(x, y), y) & correct(on_margin(x, y), y)
    return lambda x, y: correct(runs[name](x, y), y)


def evaluate_robustness(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    epsilons: Sequence[float],
    *,
    norm: float | str = "inf",
    attacks: Sequence[str] = DEFAULT_ATTACKS,
    reference_model: nn.Module | None = None,
    clip_min: float = 0.0,
    clip_max: float = 1.0,
    steps: int = 40,
    restarts: int = 2,
    square_queries: int = 1000,
    erase_eps: float | None = None,
    batch_size: int = 250,
    seed: int = 0,
    progress: bool = False,
) -> RobustnessReport:
    """Accuracy of ``model`` under each attack at each eps, the per-example worst case, and the
    gradient-masking checks.

    ``attacks``: names from ``ATTACK_NAMES``: "fgsm" (one step on CE), "iterative_fgsm"
    (``steps`` steps on CE), "pgd-ce" / "pgd-margin" / "pgd-dlr" (PGD with ``steps`` steps and
    ``restarts`` random starts on the cross-entropy, the Carlini-Wagner logit margin or
    AutoAttack's DLR loss), "square" (gradient-free, ``square_queries`` queries) and
    "autoattack" (standard AutoAttack through the optional pyautoattack; inputs in [0, 1]).
    ``reference_model`` (logits on the same inputs) adds "transfer": PGD-CE and PGD-margin
    adversarials crafted on it, evaluated on ``model`` (robust only if both fail).
    ``erase_eps`` (default: half the input range for l-inf, that times sqrt(entries per
    example) for l2: enough to turn any input into the mid-range image) is attacked with
    ``ERASE_ATTACKS`` (besides the whole set when it is also in ``epsilons``). eps = 0 runs no
    attack (every row is the clean accuracy).

    Inputs go to the device of the model's first parameter in batches of ``batch_size``; the
    model runs in eval mode (modes restored afterwards). Random draws come from generators
    seeded from ``seed`` and the (attack, eps) pair, so two calls give the same report and an
    attack's result does not depend on which others run. ``progress``: a tqdm bar over
    attack x eps x batches. Raises ValueError naming the bad argument.
    """
    norm = check_norm(norm)
    epsilons = _check_epsilons(epsilons)
    attacks = _check_names(attacks)
    y = check_batch(x, y, clip_min, clip_max)
    if len(y) == 0:
        raise ValueError("x must hold at least one example, got none")
    steps = check_positive_int("steps", steps)
    restarts = check_positive_int("restarts", restarts)
    square_queries = check_positive_int("square_queries", square_queries)
    batch_size = check_positive_int("batch_size", batch_size)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    if erase_eps is None:
        erase_eps = _default_erase_eps(norm, x, clip_min, clip_max)
    elif check_eps(erase_eps) == 0:
        raise ValueError(f"erase_eps must be > 0, got {erase_eps!r}")
    erase_eps = float(erase_eps)
    if "autoattack" in attacks and (clip_min, clip_max) != (0.0, 1.0):
        raise ValueError(
            "attacks include 'autoattack', which needs inputs in [0, 1], got clip_min="
            f"{clip_min!r}, clip_max={clip_max!r}; attack in pixel space (see pixel_space)"
        )

    device = next((t.device for t in (*model.parameters(), *model.buffers())), x.device)
    x_batches, y_batches = x.detach().split(batch_size), y.split(batch_size)
    with eval_mode(model):  # the attacks set the reference model's mode themselves
        clean, zero_grad, n_classes = _clean_pass(model, x_batches, y_batches, device)
        if "pgd-dlr" in attacks and n_classes < 3:
            raise ValueError(
                f"attacks include 'pgd-dlr', which needs >= 3 classes, got {n_classes}"
            )
        if "autoattack" in attacks and n_classes < 4:
            raise ValueError(
                f"attacks include 'autoattack', which needs >= 4 classes, got {n_classes}"
            )
        columns = [*attacks, *(["transfer"] if reference_model is not None else [])]
        plan = [(a, e) for a in columns for e in epsilons if e > 0]
        plan += [(a, erase_eps) for a in ERASE_ATTACKS if (a, erase_eps) not in plan]
        settings = _Settings(
            norm,
            {"clip_min": clip_min, "clip_max": clip_max},
            steps,
            restarts,
            square_queries,
            n_classes,
            int(seed),
            batch_size,
            reference_model,
        )
        robust = _run_plan(plan, model, x_batches, y_batches, device, settings, progress)

    n = len(y)
    all_eps = sorted({*epsilons, erase_eps})
    if 0.0 in epsilons:  # no attack: the clean flags
        robust.update({(a, 0.0): clean for a in columns})
    order = {a: i for i, a in enumerate(dict.fromkeys([*columns, *ERASE_ATTACKS]))}
    keys = sorted(robust, key=lambda k: (k[1], order[k[0]]))
    rows = [
        {"attack": a, "eps": e, "accuracy": int(robust[(a, e)].sum()) / n, "n": n}
        for a, e in keys
    ]
    worst = []
    for e in all_eps:
        flags = clean.clone()
        for a, e2 in keys:
            if e2 == e:
                flags &= robust[(a, e2)]
        worst.append({"eps": e, "accuracy": int(flags.sum()) / n, "n": n})
    n_correct = int(clean.sum())
    share = (zero_grad & clean).sum().item() / n_correct if n_correct else 0.0
    clean_accuracy = n_correct / n
    checks = _checks(rows, worst, clean_accuracy, share, erase_eps, y, n)
    return RobustnessReport(norm, n, clean_accuracy, rows, worst, checks, share)


def _clean_pass(
    model: nn.Module, xs: Sequence[torch.Tensor], ys: Sequence[torch.Tensor], device
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Clean correctness (N,) bool, exactly-zero CE input gradient (N,) bool (on the CPU) and
    the number of classes K."""
    clean, zero, n_classes = [], [], 0
    for xb, yb in zip(xs, ys, strict=True):
        xb, yb = xb.to(device), yb.to(device)
        with torch.no_grad():
            logits = model(xb)
        n_classes = logits.shape[1]
        clean.append((logits.argmax(dim=1) == yb).cpu())
        zero.append((loss_gradient(model, xb, yb, "ce").flatten(1) == 0).all(dim=1).cpu())
    return torch.cat(clean), torch.cat(zero), n_classes


def _run_plan(
    plan: list[tuple[str, float]],
    model: nn.Module,
    xs: Sequence[torch.Tensor],
    ys: Sequence[torch.Tensor],
    device: torch.device,
    settings: _Settings,
    progress: bool,
) -> dict[tuple[str, float], torch.Tensor]:
    """Run every (attack, eps) of ``plan`` on every batch: per-example flags (N,) bool, True
    where the model stays correct, keyed by (attack, eps)."""
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(plan) * len(xs), desc="attacks", unit="batch")
    robust = {}
    try:
        for name, eps in plan:
            generator = torch.Generator(device=device).manual_seed(_seed(settings.seed, name, eps))
            run = _attack_fn(name, model, eps, settings, generator)
            if bar is not None:
                bar.set_postfix_str(f"{name} eps={eps:g}")
            flags = []
            for xb, yb in zip(xs, ys, strict=True):
                flags.append(run(xb.to(device), yb.to(device)).cpu())
                if bar is not None:
                    bar.update()
            robust[(name, eps)] = torch.cat(flags)
    finally:
        if bar is not None:
            bar.close()
    return robust


def _check(index: int, passed: bool, detail: str) -> dict:
    return {"check": CHECK_NAMES[index], "passed": bool(passed), "detail": detail}


def _checks(
    rows: list[dict],
    worst: list[dict],
    clean: float,
    zero_share: float,
    erase_eps: float,
    y: torch.Tensor,
    n: int,
) -> list[dict]:
    """The five sanity checks (see ``CHECK_NAMES`` and the thresholds' docstrings)."""
    acc = {(r["attack"], r["eps"]): r["accuracy"] for r in rows}
    attacked = sorted({e for _, e in acc if e > 0})
    checks = []

    at_erase = next(w["accuracy"] for w in worst if w["eps"] == erase_eps)
    names = ", ".join(a for a, e in acc if e == erase_eps)
    largest = torch.bincount(y.cpu()).max().item() / n
    bound = largest + ERASE_SLACK
    checks.append(
        _check(
            0,
            at_erase <= bound,
            f"worst case {at_erase:.1%} at eps {erase_eps:g} ({names}); allowed <= {bound:.1%} "
            f"(largest class share {largest:.1%} + {ERASE_SLACK:.0%})",
        )
    )

    def compare(index: int, baseline: Callable, exceeds: Callable, missing: str) -> None:
        """For each eps, the attacks ``baseline(eps)`` -> (label, limit) names, each flagged
        (!) where ``exceeds(attack, accuracy, limit)``."""
        passed, parts = True, []
        for e in attacked:
            base = baseline(e)
            if base is None:
                continue
            label, limit, group = base
            found = [(a, acc[(a, e)]) for a in group if (a, e) in acc]
            if not found:
                continue
            bad = [exceeds(v, limit) for _, v in found]
            passed &= not any(bad)
            listed = ", ".join(
                f"{a} {v:.1%}" + (" (!)" if b else "") for (a, v), b in zip(found, bad, strict=True)
            )
            parts.append(f"eps {e:g}: {label}: {listed}")
        checks.append(_check(index, passed, "; ".join(parts) if parts else missing))

    def fgsm_limit(e):
        if ("fgsm", e) not in acc:
            return None
        f = acc[("fgsm", e)]
        limit = f + _slack(ITERATIVE_SLACK, f, n)
        return f"fgsm {f:.1%}, allowed <= {limit:.1%}", limit, ITERATIVE

    compare(
        1,
        fgsm_limit,
        lambda v, limit: v > limit,
        "not applicable: needs fgsm and an iterative attack",
    )
    compare(
        2,
        lambda e: (f"clean {clean:.1%}", clean, ITERATIVE),
        lambda v, limit: v > limit,
        "not applicable: needs an iterative attack",
    )
    checks.append(
        _check(
            3,
            zero_share <= ZERO_GRADIENT_MAX,
            f"{zero_share:.1%} of the correctly classified examples have an exactly zero "
            f"cross-entropy input gradient; allowed <= {ZERO_GRADIENT_MAX:.0%}",
        )
    )

    def best_iterative(e):
        found = [(acc[(a, e)], a) for a in ITERATIVE if (a, e) in acc]
        if not found:
            return None
        best, name = min(found)
        limit = best - _slack(GRADIENT_FREE_SLACK, best, n)
        return f"best iterative {name} {best:.1%}, allowed >= {limit:.1%}", limit, NON_GRADIENT

    compare(
        4,
        best_iterative,
        lambda v, limit: v < limit,
        "not applicable: needs an iterative attack and square or a reference model",
    )
    return checks
