"""Third-party messages that tell a user of ``largemargin train`` nothing, filtered while a run
trains: Lightning's advertising tip for its cloud logger, its note that it loads the training
data to count the steps (the schedule's length, ``MarginClassifier.configure_optimizers``), and a
deprecation warning that Lightning's own code triggers inside PyTorch. Each is matched by its
text and its source, so every other message, warning or error still shows."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

LIGHTNING_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning.fabric.utilities.rank_zero",
)
"""Where Lightning's ``rank_zero_info`` messages are logged from."""

DROPPED_INFO = (
    "💡 Tip: For seamless cloud logging",
    "Loading `train_dataloader` to estimate number of stepping batches",
)
"""The starts of the Lightning info messages dropped."""


def _keep(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(DROPPED_INFO)


@contextmanager
def lightning_noise_filtered() -> Iterator[None]:
    """Drop the messages above while the block runs; restore the filters after it."""
    loggers = [logging.getLogger(name) for name in LIGHTNING_LOGGERS]
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
            category=FutureWarning,
            module=r"lightning\.pytorch\.utilities\._pytree",
        )
        for log in loggers:
            log.addFilter(_keep)
        try:
            yield
        finally:
            for log in loggers:
                log.removeFilter(_keep)
