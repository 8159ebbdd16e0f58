"""Lightning's noise is dropped by its text and only inside the block."""

from __future__ import annotations

import logging
import warnings

import pytest

from largemargin.training.quiet import (
    LIGHTNING_LOGGERS,
    RUN_SUMMARY_INFO,
    lightning_info_dropped,
    lightning_noise_filtered,
    run_summaries,
)


@pytest.fixture
def seen():
    """The messages that reach a handler on Lightning's rank-zero logger."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    log = logging.getLogger(LIGHTNING_LOGGERS[0])
    handler, level = Collect(), log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    yield log, messages
    log.removeHandler(handler)
    log.setLevel(level)


def test_run_summaries_are_dropped_inside_the_block_only(seen):
    log, messages = seen
    with lightning_info_dropped(RUN_SUMMARY_INFO):
        log.info("GPU available: False, used: False")
        log.info("`Trainer.fit` stopped: `max_steps=10` reached.")
        log.info("Restoring states from the checkpoint")
    log.info("GPU available: True, used: True")
    assert messages == ["Restoring states from the checkpoint", "GPU available: True, used: True"]


@pytest.mark.parametrize("verbose", [False, True])
def test_run_summaries_go_unless_verbose(seen, verbose):
    log, messages = seen
    with run_summaries(verbose):
        log.info("GPU available: False, used: False")
        log.info("`Trainer.fit` stopped: `max_epochs=1` reached.")
        log.info("Restoring states from the checkpoint")
    kept = ["GPU available: False, used: False", "`Trainer.fit` stopped: `max_epochs=1` reached."]
    assert messages == [*(kept if verbose else []), "Restoring states from the checkpoint"]


def test_nothing_is_dropped_with_no_starts(seen):
    log, messages = seen
    with lightning_info_dropped(()):
        log.info("GPU available: False, used: False")
    assert messages == ["GPU available: False, used: False"]


def test_the_tip_goes_and_other_messages_and_warnings_stay(seen):
    log, messages = seen
    with lightning_noise_filtered(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        log.info("💡 Tip: For seamless cloud logging and experiment tracking, try ...")
        log.info("a message that matters")
        warnings.warn("something else is deprecated", FutureWarning, stacklevel=1)
    assert messages == ["a message that matters"]
    assert [str(w.message) for w in caught] == ["something else is deprecated"]
