"""Where training time goes: step time, and the share spent waiting for the next batch."""

from __future__ import annotations

import time

import lightning as L


class StepTimer(L.Callback):
    """Measures, over the training batches of a run (the first ``skip``, at most half, excluded
    as warm-up):
    the median time from one batch's start to the next (``step_seconds``), and the share of the
    total spent between the end of a batch and the start of the next, which is where Lightning
    fetches data (``data_wait_share``; it also holds Lightning's own per-step overhead, so it is
    an upper bound on waiting for data). Validation epochs are not counted."""

    def __init__(self, skip: int = 5) -> None:
        self.skip = skip
        self.steps: list[float] = []
        self.waits: list[float] = []
        self._start: float | None = None
        self._end: float | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        now = time.perf_counter()
        if self._end is not None and self._start is not None:
            self.waits.append(now - self._end)
            self.steps.append(now - self._start)
        self._start = now

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self._end = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._start = self._end = None  # do not count the validation pass as a step

    def summary(self) -> dict[str, float]:
        """``{"step_seconds": median, "data_wait_share": fraction, "steps_timed": n}``."""
        skip = min(self.skip, len(self.steps) // 2)
        steps, waits = self.steps[skip:], self.waits[skip:]
        if not steps:
            return {"step_seconds": float("nan"), "data_wait_share": float("nan"), "steps_timed": 0}
        ordered = sorted(steps)
        return {
            "step_seconds": ordered[len(ordered) // 2],
            "data_wait_share": sum(waits) / sum(steps),
            "steps_timed": len(steps),
        }
