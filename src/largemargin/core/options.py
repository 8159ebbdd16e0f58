"""Validated options of the large margin loss, shared by the function and the module."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from largemargin.core.norms import dual_exponent, parse_norm

AGGREGATIONS = ("min", "sum")
SCORES = ("prob", "logit")
REDUCTIONS = ("mean", "sum", "none")


def _positive_float(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
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


@dataclass(frozen=True)
class MarginOptions:
    """Every option of the loss, checked once. See ``large_margin_loss`` for their meaning."""

    gamma: float | tuple[float, ...] = 10000.0
    alpha: float = 2.0
    top_k: int = 1
    norm: float = 2.0
    epsilon: float = 1e-8
    second_order: bool = False
    aggregation: str = "min"
    norm_scale: str | tuple[float, ...] | None = None
    score: str = "prob"
    reduction: str = "mean"

    @classmethod
    def create(
        cls,
        *,
        gamma: float | Sequence[float] = 10000.0,
        alpha: float = 2.0,
        top_k: int = 1,
        norm: float | str = 2,
        epsilon: float = 1e-8,
        second_order: bool = False,
        aggregation: str = "min",
        norm_scale: str | Sequence[float] | None = None,
        score: str = "prob",
        reduction: str = "mean",
    ) -> MarginOptions:
        if isinstance(top_k, bool) or not isinstance(top_k, int):
            raise TypeError(f"top_k must be an int, got {type(top_k).__name__}")
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        if not isinstance(second_order, bool):
            raise TypeError(f"second_order must be a bool, got {type(second_order).__name__}")
        for name, value, allowed in (
            ("aggregation", aggregation, AGGREGATIONS),
            ("score", score, SCORES),
            ("reduction", reduction, REDUCTIONS),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if isinstance(norm_scale, str):
            if norm_scale != "dim":
                raise ValueError(
                    f"norm_scale must be None, 'dim' or one positive float per layer, "
                    f"got {norm_scale!r}"
                )
            scale: str | tuple[float, ...] | None = "dim"
        elif norm_scale is None:
            scale = None
        else:
            if not isinstance(norm_scale, Sequence):
                raise TypeError(
                    "norm_scale must be None, 'dim' or a sequence of positive floats (one per "
                    f"layer), got {type(norm_scale).__name__}"
                )
            scale = _per_layer("norm_scale", list(norm_scale))  # type: ignore[assignment]
        return cls(
            gamma=_per_layer("gamma", gamma),
            alpha=_positive_float("alpha", alpha),
            top_k=top_k,
            norm=parse_norm(norm),
            epsilon=_positive_float("epsilon", epsilon),
            second_order=second_order,
            aggregation=aggregation,
            norm_scale=scale,
            score=score,
            reduction=reduction,
        )

    @property
    def dual(self) -> float:
        """The dual exponent q in which gradients are measured."""
        return dual_exponent(self.norm)

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
