"""timm models by name, ``"timm:<model>"`` (``timm.list_models()`` lists them), built untrained.

Needs the optional timm package (``pip install 'largemargin[timm]'``). The model is built by
``timm.create_model(<model>, pretrained=False, num_classes=..., in_chans=...)``: nothing is
downloaded. Input: (B, in_chans, H, W) images as the data pipeline provides them; output: logits
(B, num_classes). Margin layers are module names of ``model.named_modules()``; timm lists a
model's feature stages in ``model.feature_info`` (``layer1``..``layer4`` for its ResNets).
"""

from __future__ import annotations

import difflib
from typing import Any

from torch import nn

PREFIX = "timm:"
INSTALL = "pip install 'largemargin[timm]'"


def is_timm_name(name: str) -> bool:
    """Whether ``name`` names a timm model (``"timm:<model>"``)."""
    return name.startswith(PREFIX)


def build_timm(name: str, num_classes: int, in_channels: int | None, **kwargs: Any) -> nn.Module:
    """Build the untrained timm model ``name`` (``"timm:<model>"``) with ``num_classes`` logits
    and ``in_channels`` input channels (None: timm's default, 3). ``kwargs`` go to
    ``timm.create_model``; ``pretrained`` and ``pretrained_cfg`` are refused because nothing may
    be downloaded (load a state dict into the returned model instead).

    Raises:
        ValueError: timm is not installed, the model is unknown to it, or weights were asked for.
    """
    try:
        import timm
    except ImportError as error:
        raise ValueError(f"model {name!r} needs the timm package ({INSTALL})") from error
    arch = name.removeprefix(PREFIX)
    known = timm.list_models()
    if arch not in known:
        close = difflib.get_close_matches(arch, known, n=3)
        hint = f"; close: {', '.join(close)}" if close else ""
        expected = "timm:<a name in timm.list_models()>"
        raise ValueError(f"unknown timm model {name!r}: expected {expected}{hint}")
    if {"pretrained", "pretrained_cfg"} & set(kwargs):
        raise ValueError(
            "timm models are built untrained (pretrained=False); load pretrained weights with "
            "model.load_state_dict instead"
        )
    if in_channels is not None:
        kwargs["in_chans"] = in_channels
    return timm.create_model(arch, pretrained=False, num_classes=num_classes, **kwargs)
