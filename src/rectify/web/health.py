"""GET /health: whether this process can serve, answered within a second whatever the store does.

503 with the reasons while the event store does not answer, while this process's projector keeps
failing, while the views lag the log by more than so many events or seconds, or while the log's
tail does not verify against its sealed leaves (rectify.integrity.watch), and while the store takes no
writes: a SQLite file (or its folder) that cannot be written, or a write refused as read-only or for a
full disk and none saved since (reads still work then, so the head alone would say healthy). The lag is read
from the log itself (the age of the oldest event the views do not hold yet), so an API process
whose views a separate worker keeps sees that worker stop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response

from rectify.integrity.watch import integrity_health
from rectify.unit_of_work import fault_of

if TYPE_CHECKING:
    from rectify.bootstrap import System
    from rectify.settings import Health


@dataclass(frozen=True)
class Probe:
    head: int
    views: int
    oldest_waiting: float | None  # seconds since the oldest event not in the views was recorded
    integrity_problem: str | None  # why the log's tail does not verify, if it does not
    integrity: dict[str, Any]
    unwritable: str | None  # why the store cannot take writes, if it visibly cannot


class HealthCheck:
    """One probe of the store at a time, in a thread of its own: a store that hangs holds that one
    thread, and every answer meanwhile is a 503 within the time allowed."""

    def __init__(self, system: System, limits: Health) -> None:
        self.system = system
        self.limits = limits
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="rectify-health")
        self._running: concurrent.futures.Future[Probe] | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _probe(self) -> Probe:
        app, store = self.system.app, self.system.store
        head = app.head()
        views = store.tracking_position()
        oldest = None
        if views < head:
            waiting = app.recorder.select_notifications(start=views, limit=1, inclusive_of_start=False)
            if waiting:
                recorded = vars(app.mapper.to_domain_event(waiting[0]))["timestamp"]
                oldest = max(0.0, (datetime.now(UTC) - recorded).total_seconds())
        trouble, integrity = integrity_health(self.system.sealer.watch)
        return Probe(head, views, oldest, trouble, integrity, self._unwritable())

    def _unwritable(self) -> str | None:
        """A SQLite file or folder the process may not write (a read-only mount, permissions): every
        write would fail, while reads go on."""
        database = self.system.settings.database
        if database.kind != "sqlite" or database.path is None:
            return None
        path = database.path.resolve()
        for place in (path, path.parent):
            if place.exists() and not os.access(place, os.W_OK):
                return f"the event store is read-only: {place} cannot be written"
        return None

    def _start(self) -> concurrent.futures.Future[Probe]:
        with self._lock:
            if self._running is None or self._running.done():
                self._running = self._pool.submit(self._probe)
            return self._running

    async def answer(self) -> Response:
        started = time.monotonic()
        problems: list[str] = []
        body: dict[str, Any] = {}
        try:
            probe = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(self._start())), self.limits.timeout)
        except TimeoutError:
            problems.append(f"the event store did not answer within {self.limits.timeout:g} s")
        except Exception as error:  # noqa: BLE001 - the store's failure is the answer here
            kind = fault_of(error) or "UNAVAILABLE"
            problems.append(f"the event store is unreachable ({kind}): {' '.join(str(error).split())[:200]}")
        else:
            body = {"head": probe.head, "views": probe.views}
            behind = probe.head - probe.views
            waited = probe.oldest_waiting or 0.0
            body["lag_seconds"] = round(waited, 3)
            if behind > self.limits.lag_events or waited > self.limits.lag_seconds:
                problems.append(
                    f"the views have stayed {behind} events behind the log for {waited:.0f} s "
                    f"(allowed: {self.limits.lag_events} events, {self.limits.lag_seconds:g} s)"
                )
            problems += [probe.integrity_problem] if probe.integrity_problem else []
            problems += [probe.unwritable] if probe.unwritable else []
            body["integrity"] = probe.integrity
        refusal = self.system.app.refusals.last
        if refusal is not None:
            ago = time.monotonic() - refusal.at
            problems.append(
                f"{refusal.message}: the last write was refused {ago:.0f} s ago and none has been saved since"
            )
        runner = self.system.runner
        if runner is not None and runner.error is not None:
            problems.append("the projector's last batch failed; it is being retried")
        body = {"ok": not problems, **body, "problems": problems}
        body["answered_in_ms"] = round((time.monotonic() - started) * 1000, 1)
        return JSONResponse(body, status_code=503 if problems else 200)
