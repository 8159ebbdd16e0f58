"""Training large-margin classifiers with Lightning: config, objective, module, runs."""

from largemargin.training.config import (
    LossConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    TrainerConfig,
    from_dict,
    to_dict,
    validate,
)
from largemargin.training.module import MarginClassifier
from largemargin.training.run import RunResult, prepare, train

__all__ = [
    "LossConfig",
    "MarginClassifier",
    "ModelConfig",
    "OptimConfig",
    "RunConfig",
    "RunResult",
    "TrainerConfig",
    "from_dict",
    "prepare",
    "to_dict",
    "train",
    "validate",
]
