"""Models: the paper's MNIST network, CIFAR ResNets (ResNet-9, ResNet-20 to 110) and WRNs,
torchvision and user models.

Build any of them with ``build_model(name, num_classes)``; ``default_margin_layers(name)`` gives
the layers to put a margin on (``"input"`` is the input tensor, other names are those of
``model.named_modules()``); ``largemargin.check_layer_names`` checks a list of such names.
"""

from largemargin.models.cifar_resnet import CifarResNet
from largemargin.models.cifar_resnet9 import CifarResNet9
from largemargin.models.mnist_reference import MnistReference
from largemargin.models.registry import build_model, default_margin_layers, list_models
from largemargin.models.wide_resnet import WideResNet

__all__ = [
    "CifarResNet",
    "CifarResNet9",
    "MnistReference",
    "WideResNet",
    "build_model",
    "default_margin_layers",
    "list_models",
]
