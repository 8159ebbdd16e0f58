"""torchvision classification models by name, built untrained (``weights=None``, no download).

Input: (B, 3, H, W) images as the data pipeline provides them (torchvision's ImageNet models are
usually fed 224x224 crops standardized with the ImageNet mean and std; inception_v3 expects
299x299). Output: logits (B, num_classes); GoogLeNet and Inception v3 are built without their
auxiliary classifiers so that training mode also returns a plain tensor.
"""

from __future__ import annotations

import re
from typing import Any

from torch import nn
from torchvision import models

# Models whose forward returns a named tuple with auxiliary logits unless told otherwise, and which
# warn about a changing default unless ``init_weights`` is given.
_AUX_LOGIT_MODELS = frozenset({"googlenet", "inception_v3"})

# Ends of the three grid sizes of Inception v3 (35x35, 17x17, 8x8 for a 299x299 input).
INCEPTION_V3_MARGIN_LAYERS = ("Mixed_5d", "Mixed_6e", "Mixed_7c")
# Outputs of the first three of the four stages of torchvision's ResNet family.
RESNET_MARGIN_LAYERS = ("layer1", "layer2", "layer3")
_RESNET_FAMILY = re.compile(r"(resnet|resnext|wide_resnet)\d")


def torchvision_names() -> list[str]:
    """Names of torchvision's classification models, sorted."""
    return sorted(models.list_models(module=models))


def build_torchvision(name: str, num_classes: int, **kwargs: Any) -> nn.Module:
    """Build the untrained torchvision classification model ``name`` with ``num_classes`` logits.

    ``kwargs`` go to ``torchvision.models.get_model``; pretrained ``weights`` are refused because
    nothing may be downloaded (load a state dict into the returned model instead).
    """
    if "weights" in kwargs:
        raise ValueError(
            "torchvision models are built untrained (weights=None); load pretrained weights "
            "with model.load_state_dict instead"
        )
    if name in _AUX_LOGIT_MODELS:
        kwargs.setdefault("aux_logits", False)
        kwargs.setdefault("init_weights", True)
    return models.get_model(name, weights=None, num_classes=num_classes, **kwargs)


def torchvision_margin_layers(name: str) -> list[str]:
    """Default margin layers: stage outputs for ResNets and Inception v3, else only "input"."""
    if name == "inception_v3":
        return list(INCEPTION_V3_MARGIN_LAYERS)
    if _RESNET_FAMILY.match(name):
        return list(RESNET_MARGIN_LAYERS)
    return ["input"]
