"""Training large-margin classifiers with Lightning: config, objective, module, runs."""

from largemargin.training.config import (
    RECIPE_MARGIN,
    LossConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    TrainerConfig,
    from_dict,
    recipe,
    to_dict,
    validate,
)
from largemargin.training.module import MarginClassifier
from largemargin.training.run import RunResult, prepare, train

__all__ = [
    "RECIPE_MARGIN",
    "LossConfig",
    "MarginClassifier",
    "ModelConfig",
    "OptimConfig",
    "RunConfig",
    "RunResult",
    "TrainerConfig",
    "from_dict",
    "prepare",
    "recipe",
    "to_dict",
    "train",
    "validate",
]
