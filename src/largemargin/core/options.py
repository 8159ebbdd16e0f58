"""The options of the large margin loss: one frozen, validated dataclass, the single place
where each option, its default and its checks are defined.

``large_margin_loss``, ``LargeMarginLoss``, ``margin_distances`` and the training config
(``loss.margin``) all take a ``MarginOptions`` (or its fields as keywords).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Literal, get_args

from largemargin.core.norms import dual_exponent, parse_norm

Aggregation = Literal["min", "sum"]
Score = Literal["prob", "logit"]
Reduction = Literal["mean", "sum", "none"]
AGGREGATIONS = get_args(Aggregation)
SCORES = get_args(Score)
REDUCTIONS = get_args(Reduction)

LOSS_ONLY = ("gamma", "alpha", "second_order", "aggregation", "reduction")
"""The options that shape the hinge on the distances, not the distances themselves."""


def _positive_float(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def _per_layer(name: str, value: object) -> float | tuple[float, ...]:
    """A positive float, or a non-empty sequence of positive floats (one per layer)."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) == 0:
            raise ValueError(f"{name} must be a positive float or one per layer, got []")
        return tuple(_positive_float(f"{name}[{i}]", v) for i, v in enumerate(value))
    return _positive_float(name, value)


def _norm_scale(value: object) -> str | tuple[float, ...] | None:
    if value is None or value == "dim":
        return value  # type: ignore[return-value]
    if isinstance(value, str):
        raise ValueError(
            f"norm_scale must be None, 'dim' or one positive float per layer, got {value!r}"
        )
    if not isinstance(value, Sequence):
        raise TypeError(
            "norm_scale must be None, 'dim' or a sequence of positive floats (one per "
            f"layer), got {type(value).__name__}"
        )
    return _per_layer("norm_scale", list(value))  # type: ignore[return-value]


def _boolean(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class MarginOptions:
    """Every option of the large margin loss, with its default, checked at construction.

    Values are normalised: ``norm`` becomes a float (``"inf"`` -> ``math.inf``), ``gamma`` and
    ``norm_scale`` lists become tuples, numbers become floats. Bad values raise ValueError (or
    TypeError for a wrong type) naming the option. Frozen: derive variants with
    ``dataclasses.replace``.

    Attributes:
        gamma: the target distance, one float or one per layer (in the units of each layer
            measured in the lp norm, divided by ``norm_scale``).
        alpha: > 0; examples further than ``alpha * gamma`` on the wrong side of the margin
            (d < gamma * (1 - alpha)) are ignored.
        top_k: number of competitor classes (the highest-scoring wrong classes), in [1, C-1].
        norm: p of the lp norm the margin is measured in, any p >= 1 or "inf"; gradients are
            measured in the dual norm.
        epsilon: added to the dual gradient norm before dividing (keeps d finite).
        second_order: False treats the gradient norm as a constant (the reference default);
            True backpropagates through it (double backpropagation).
        aggregation: "min" keeps the closest of the top-k competitors, "sum" sums them.
        norm_scale: None, one positive divisor of the dual norm per layer, or "dim" (the
            layer's per-example element count: the mean absolute gradient for p = inf).
        score: "prob" (softmax probabilities, as the reference code) or "logit".
        reduction: "mean" (batch mean of the layer mean), "sum" or "none" (per example).
        exact_per_example: use each example's own gradient instead of the batch-sum gradient;
            differs only when examples interact (train-mode BatchNorm), at B times the cost.
        check_values: check that the logits are finite and the labels in [0, C): None for CPU
            tensors only, where it costs no device sync; True on every device (one sync per
            call: for debugging); False never. Shapes, dtypes and devices are always checked.
    """

    gamma: float | tuple[float, ...] = 10000.0
    alpha: float = 2.0
    top_k: int = 1
    norm: float | str = 2.0
    epsilon: float = 1e-8
    second_order: bool = False
    aggregation: Aggregation = "min"
    norm_scale: Literal["dim"] | tuple[float, ...] | None = None
    score: Score = "prob"
    reduction: Reduction = "mean"
    exact_per_example: bool = False
    check_values: bool | None = None

    def __post_init__(self) -> None:
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int):
            raise TypeError(f"top_k must be an int, got {type(self.top_k).__name__}")
        if self.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")
        for name, value, allowed in (
            ("aggregation", self.aggregation, AGGREGATIONS),
            ("score", self.score, SCORES),
            ("reduction", self.reduction, REDUCTIONS),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if not (self.check_values is None or isinstance(self.check_values, bool)):
            raise TypeError(f"check_values must be None, True or False, got {self.check_values!r}")
        normalised = {
            "gamma": _per_layer("gamma", self.gamma),
            "alpha": _positive_float("alpha", self.alpha),
            "norm": parse_norm(self.norm),
            "epsilon": _positive_float("epsilon", self.epsilon),
            "second_order": _boolean("second_order", self.second_order),
            "norm_scale": _norm_scale(self.norm_scale),
            "exact_per_example": _boolean("exact_per_example", self.exact_per_example),
        }
        for name, value in normalised.items():
            object.__setattr__(self, name, value)  # frozen: the one place values are set

    @property
    def dual(self) -> float:
        """The dual exponent q in which gradients are measured."""
        return dual_exponent(self.norm)  # type: ignore[arg-type]

    def gammas(self, num_layers: int) -> tuple[float, ...]:
        """One margin target per layer; raises if a per-layer list has the wrong length."""
        if isinstance(self.gamma, tuple):
            if len(self.gamma) != num_layers:
                raise ValueError(
                    f"gamma has {len(self.gamma)} values but {num_layers} layers were given"
                )
            return self.gamma
        return (self.gamma,) * num_layers

    def scales(self, layer_sizes: Sequence[int]) -> tuple[float, ...]:
        """The divisor of the dual norm at each layer, given per-example element counts."""
        if self.norm_scale is None:
            return (1.0,) * len(layer_sizes)
        if self.norm_scale == "dim":
            return tuple(float(n) for n in layer_sizes)
        if len(self.norm_scale) != len(layer_sizes):
            raise ValueError(
                f"norm_scale has {len(self.norm_scale)} values but {len(layer_sizes)} layers "
                "were given"
            )
        return self.norm_scale  # type: ignore[return-value]


OPTION_NAMES = tuple(f.name for f in fields(MarginOptions))
"""The name of every option, in declaration order."""


def resolve(options: MarginOptions | None, given: dict, *, caller: str) -> MarginOptions:
    """The options of a call that takes a ``MarginOptions`` or its fields as keywords (not both).

    ``given`` are the keyword fields; unknown names raise TypeError naming them and ``caller``.
    """
    unknown = sorted(set(given) - set(OPTION_NAMES))
    if unknown:
        raise TypeError(
            f"{caller}() got unknown option(s) {unknown}; options: {list(OPTION_NAMES)}"
        )
    if options is None:
        return MarginOptions(**given)
    if not isinstance(options, MarginOptions):
        raise TypeError(f"options must be a MarginOptions, got {type(options).__name__}")
    if given:
        raise TypeError(
            f"{caller}() got options and the option(s) {sorted(given)}: pass one or the other "
            "(dataclasses.replace(options, ...) combines them)"
        )
    return options
