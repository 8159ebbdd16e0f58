"""The one wording of a bad-setting error, shared by every layer."""

from __future__ import annotations


def bad_value(argument: str, value: object, expected: str) -> ValueError:
    """The ValueError ``<argument>=<value!r>: expected <expected>``, for the caller to raise.

    ``argument`` is the setting as the user spells it (``"loss.margin.gamma"``, ``"seed"``),
    ``value`` what was given, ``expected`` what would have been accepted (``"an int >= 0"``).
    """
    return ValueError(f"{argument}={value!r}: expected {expected}")
