"""Third-party messages that tell a user of ``largemargin train`` nothing, filtered while a run
trains: Lightning's advertising tip for its cloud logger, its note that it loads the training
data to count the steps (the schedule's length, ``MarginClassifier.configure_optimizers``), and a
deprecation warning that Lightning's own code triggers inside PyTorch. Each is matched by its
text and its source, so every other message, warning or error still shows."""

from __future__ import annotations

import contextlib
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


RUN_SUMMARY_INFO = ("GPU available:", "TPU available:", "HPU available:", "`Trainer.fit` stopped:")
"""The starts of Lightning's per-run summary lines (devices, why fitting stopped): useful once,
noise when a grid trains dozens of runs alike."""


@contextmanager
def lightning_info_dropped(starts: tuple[str, ...]) -> Iterator[None]:
    """Drop the Lightning info messages that start with one of ``starts`` while the block runs
    (``RUN_SUMMARY_INFO``: what a grid drops after its first run); restore the filters after."""

    def keep(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(starts)

    loggers = [logging.getLogger(name) for name in LIGHTNING_LOGGERS]
    for log in loggers:
        log.addFilter(keep)
    try:
        yield
    finally:
        for log in loggers:
            log.removeFilter(keep)


@contextmanager
def lightning_noise_filtered() -> Iterator[None]:
    """Drop the messages above while the block runs; restore the filters after it."""
    with warnings.catch_warnings(), lightning_info_dropped(DROPPED_INFO):
        warnings.filterwarnings(
            "ignore",
            message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
            category=FutureWarning,
            module=r"lightning\.pytorch\.utilities\._pytree",
        )
        yield


def run_summaries(verbose: bool) -> contextlib.AbstractContextManager[None]:
    """The block of a command that trains several runs (``demo``, ``reproduce``): Lightning's
    per-run summaries (``RUN_SUMMARY_INFO``) are dropped unless ``verbose``, so the terminal holds
    the command's own lines (progress, table, files)."""
    return lightning_info_dropped(() if verbose else RUN_SUMMARY_INFO)
