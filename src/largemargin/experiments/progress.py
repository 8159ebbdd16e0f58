"""Progress of a sequence of runs: how many are done, the time spent and an estimate of what is
left, for the one line each finished run prints (`largemargin reproduce`, `largemargin demo`)."""

from __future__ import annotations

import time


def format_duration(seconds: float) -> str:
    """A duration for people: "42 s", "3.4 min" or "1.2 h"."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class RunProgress:
    """Counts finished runs out of ``total`` from the moment it is made. The estimate of the time
    left assumes the remaining runs cost the mean of the finished ones."""

    def __init__(self, total: int) -> None:
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise ValueError(f"total={total!r}: expected an int >= 0")
        self.total = total
        self.done = 0
        self.start = time.perf_counter()

    def finished(self) -> str:
        """Count one more finished run; return "[done/total] elapsed E, about R left"."""
        if self.done >= self.total:
            raise ValueError(f"all {self.total} runs are already finished")
        self.done += 1
        elapsed = time.perf_counter() - self.start
        left = elapsed / self.done * (self.total - self.done)
        tail = "done" if self.done == self.total else f"about {format_duration(left)} left"
        return f"[{self.done}/{self.total}] elapsed {format_duration(elapsed)}, {tail}"
