"""User models given by import path, ``"package.module:callable"``.

The callable (a function or an ``nn.Module`` class) is called with the keyword arguments it
accepts among ``num_classes`` and ``in_channels``, plus every extra keyword argument given, and
must return an ``nn.Module``. ``callable`` may be a dotted attribute path (``"pkg.mod:Cls.make"``).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from largemargin.models.timm_models import is_timm_name

EXPECTED = "'package.module:callable'"


def is_import_path(name: str) -> bool:
    """Whether ``name`` is meant as an import path: it contains a colon and is not a timm
    model's name (``"timm:<model>"``, built by ``timm_models`` from the zoo, no user code)."""
    return ":" in name and not is_timm_name(name)


def load_factory(path: str) -> Callable[..., Any]:
    """Import and return the callable named by ``path``; ValueError if it cannot be found."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute or ":" in attribute:
        raise ValueError(f"bad import path {path!r}: expected {EXPECTED}")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(
            f"bad import path {path!r}: cannot import module {module_name!r} ({err}); "
            f"expected {EXPECTED}"
        ) from err
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ValueError(
                f"bad import path {path!r}: module {module_name!r} has no attribute "
                f"{attribute!r}; expected {EXPECTED}"
            )
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"bad import path {path!r}: {attribute!r} is not callable")
    return target


def _accepted(factory: Callable[..., Any], offered: dict[str, Any]) -> dict[str, Any]:
    """The items of ``offered`` whose keys ``factory`` takes as keyword arguments."""
    parameters = inspect.signature(factory).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return offered
    names = {
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    return {key: value for key, value in offered.items() if key in names}


def build_from_path(
    path: str, num_classes: int, in_channels: int | None = None, **kwargs: Any
) -> nn.Module:
    """Build a model with the factory at ``path`` (see the module docstring)."""
    factory = load_factory(path)
    offered: dict[str, Any] = {"num_classes": num_classes}
    if in_channels is not None:
        offered["in_channels"] = in_channels
    model = factory(**_accepted(factory, offered), **kwargs)
    if not isinstance(model, nn.Module):
        raise TypeError(f"{path!r} returned {type(model).__name__}, expected a torch.nn.Module")
    return model
