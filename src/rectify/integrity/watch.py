"""The running server's watch on its own log: the tail verified now and then, and what /health reports of it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rectify.integrity.store import LogStore
from rectify.integrity.verify import Problem, verify_tail

log = logging.getLogger(__name__)

#: How often the tail is verified (seconds), and how many of the last sealed events it covers.
EVERY_SECONDS = 30.0
WINDOW = 1000


@dataclass(frozen=True)
class TailStatus:
    checked_at: float  # time.time() of the check
    problem: Problem | None
    error: str | None = None  # the store could not be read for the check (not a finding about the log)


class TailWatch:
    """Verifies the log's tail (`verify_tail`) at most every `every_seconds`; keeps the last finding."""

    def __init__(
        self,
        store: LogStore,
        *,
        every_seconds: float = EVERY_SECONDS,
        window: int = WINDOW,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.every_seconds = every_seconds
        self.window = window
        self.clock = clock
        self.status: TailStatus | None = None
        self._lock = threading.Lock()

    def due(self) -> bool:
        return self.status is None or self.clock() - self.status.checked_at >= self.every_seconds

    def maybe_check(self) -> TailStatus | None:
        """Checks if a check is due (one at a time; a caller that finds one running takes the last status)."""
        if self.due() and self._lock.acquire(blocking=False):
            try:
                if self.due():
                    self.check()
            finally:
                self._lock.release()
        return self.status

    def check(self) -> TailStatus:
        try:
            status = TailStatus(self.clock(), verify_tail(self.store, window=self.window))
        except Exception as error:  # noqa: BLE001 - a store that cannot be read now is reported, and tried again
            status = TailStatus(self.clock(), None, f"{type(error).__name__}: {error}".splitlines()[0])
        if status.problem is not None and (self.status is None or self.status.problem != status.problem):
            log.error("the log does not verify at %s", status.problem)
        self.status = status
        return status


def integrity_health(watch: TailWatch) -> tuple[str | None, dict[str, Any]]:
    """For /health: the problem to answer 503 with (None when the tail verified), and what to show."""
    status = watch.maybe_check()
    if status is None:
        return None, {"tail": "not checked yet"}
    shown: dict[str, Any] = {"tail_checked_at": status.checked_at, "window": watch.window}
    if status.error is not None:
        shown["error"] = status.error
        return None, shown
    if status.problem is not None:
        shown["problem"] = str(status.problem)
        return f"the log does not verify at {status.problem} (run `rectify verify`)", shown
    shown["tail"] = "verified"
    return None, shown
