"""One entry point for every model: built-in, torchvision or user-supplied, by name.

A name is resolved in this order:

1. a built-in model (``list_models()`` lists them first): ``"mnist_reference"``,
   ``"cifar_resnet20/32/44/56/110"``, ``"cifar_resnet9"`` (width 64), ``"cifar_resnet9_w16"``
   (width 16), ``"wrn_16_4"``, ``"wrn_16_8"``, ``"wrn_28_10"``,
   ``"wrn_40_4"``;
2. a timm model, ``"timm:<model>"`` (``"timm:resnet18"``; needs the optional timm package),
   untrained;
3. an import path ``"package.module:callable"`` (any other name with a colon);
4. a torchvision classification model (``"resnet50"``, ``"inception_v3"``, ...), untrained.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from torch import nn

from largemargin.models.cifar_resnet import CifarResNet
from largemargin.models.cifar_resnet9 import CifarResNet9
from largemargin.models.import_path import EXPECTED, build_from_path, is_import_path
from largemargin.models.mnist_reference import MnistReference
from largemargin.models.timm_models import build_timm, is_timm_name
from largemargin.models.torchvision_models import (
    build_torchvision,
    torchvision_margin_layers,
    torchvision_names,
)
from largemargin.models.wide_resnet import WideResNet


class _Builtin(NamedTuple):
    cls: type[MnistReference | CifarResNet | CifarResNet9 | WideResNet]
    fixed: dict[str, int]


BUILTIN_MODELS: dict[str, _Builtin] = {
    "mnist_reference": _Builtin(MnistReference, {}),
    **{f"cifar_resnet{d}": _Builtin(CifarResNet, {"depth": d}) for d in (20, 32, 44, 56, 110)},
    "cifar_resnet9": _Builtin(CifarResNet9, {"width": 64}),
    "cifar_resnet9_w16": _Builtin(CifarResNet9, {"width": 16}),
    **{
        f"wrn_{d}_{k}": _Builtin(WideResNet, {"depth": d, "widen_factor": k})
        for d, k in ((16, 4), (16, 8), (28, 10), (40, 4))
    },
}


def list_models() -> list[str]:
    """The built-in model names, then torchvision's (sorted); ``"timm:<model>"`` names and
    import paths are also accepted."""
    return list(BUILTIN_MODELS) + torchvision_names()


def _unknown(name: str) -> ValueError:
    return ValueError(
        f"unknown model {name!r}; built-in models: {', '.join(BUILTIN_MODELS)}; "
        f"torchvision models: {', '.join(torchvision_names())}; "
        f"a timm model 'timm:<model>'; or an import path {EXPECTED}"
    )


def build_model(
    name: str, num_classes: int, in_channels: int | None = None, **kwargs: Any
) -> nn.Module:
    """Build the untrained model ``name`` with ``num_classes`` logits.

    Args:
        name: a built-in model, a timm model ``"timm:<model>"``, an import path
            ``"package.module:callable"`` or a torchvision classification model (see the
            module docstring).
        num_classes: number of logits.
        in_channels: image channels; ``None`` keeps the model's own default (1 for
            ``mnist_reference``, 3 for the others). torchvision models take 3 only; timm models
            any (timm's ``in_chans``); a factory given by import path gets it only if it
            accepts an ``in_channels`` argument.
        **kwargs: passed on to the model's constructor or factory, e.g. ``input_size=32`` for
            ``mnist_reference``, ``dropout=0.3`` for a WRN, ``transform_input=True`` for
            ``inception_v3``.

    Raises:
        ValueError: unknown name, bad import path, unsupported ``in_channels``, or a timm name
            without timm installed.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if name in BUILTIN_MODELS:
        cls, fixed = BUILTIN_MODELS[name]
        if in_channels is not None:
            kwargs["in_channels"] = in_channels
        return cls(**fixed, num_classes=num_classes, **kwargs)
    if is_timm_name(name):
        return build_timm(name, num_classes, in_channels, **kwargs)
    if is_import_path(name):
        return build_from_path(name, num_classes, in_channels, **kwargs)
    if name in torchvision_names():
        if in_channels not in (None, 3):
            raise ValueError(
                f"torchvision model {name!r} takes 3 input channels, not {in_channels}"
            )
        return build_torchvision(name, num_classes, **kwargs)
    raise _unknown(name)


def default_margin_layers(name: str) -> list[str]:
    """The margin layers to use for model ``name`` when none are given.

    Built-ins: ``["input", "block1", "block2"]`` for ``mnist_reference`` (as the paper's code),
    ``["input", "stage1", "stage2", "stage3"]`` for the CIFAR ResNets and WRNs,
    ``["input", "layer1", "layer2", "layer3"]`` for the ResNet-9s. torchvision:
    ``["layer1", "layer2", "layer3"]`` for the ResNet family (resnet*, resnext*, wide_resnet*),
    ``["Mixed_5d", "Mixed_6e", "Mixed_7c"]`` for inception_v3, ``["input"]`` for the others, for
    timm models and for import paths.
    """
    if name in BUILTIN_MODELS:
        return list(BUILTIN_MODELS[name].cls.DEFAULT_MARGIN_LAYERS)
    if is_timm_name(name) or is_import_path(name):
        return ["input"]
    if name in torchvision_names():
        return torchvision_margin_layers(name)
    raise _unknown(name)
