"""The change feed: tells async subscribers that the log grew or the views advanced.

Signals come from this process (its application's saves, its projection runner) and, on
PostgreSQL, from other processes through LISTEN/NOTIFY: the events table's channel (the log
grew) and the views' channel (a runner somewhere committed a batch). On SQLite without a runner
in this process, the views' position is polled.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool

from rectify.bootstrap import System
from rectify.projections.runner import Advance
from rectify.projections.store import PostgresViewStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Signal:
    """The views reached `position` (scopes: the rounds and units that changed; None: unknown),
    or, with views=False, the log grew to at least `position` (0: unknown)."""

    views: bool
    position: int
    scopes: frozenset[UUID] | None = None

    def touches(self, scope: UUID) -> bool:
        return self.scopes is None or scope in self.scopes


class Feed:
    def __init__(self, system: System, *, poll_interval: float = 0.2) -> None:
        self.system = system
        self.poll_interval = poll_interval
        self.position = system.store.tracking_position()  # of the views, as last heard
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Signal]]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> Feed:
        if self.system.runner is not None:
            self.system.runner.listeners.append(self._on_advance)
        self.system.app.saved_listeners.append(self._on_saved)
        if isinstance(self.system.store, PostgresViewStore):
            self._spawn(self._listen)
        elif self.system.runner is None:
            self._spawn(self._poll)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self.system.runner is not None and self._on_advance in self.system.runner.listeners:
            self.system.runner.listeners.remove(self._on_advance)
        if self._on_saved in self.system.app.saved_listeners:
            self.system.app.saved_listeners.remove(self._on_saved)
        for thread in self._threads:
            thread.join(timeout=5)

    def signals(self, max_backlog: int = 256) -> Signals:
        """Signals from this call on, for one subscriber (call from its event loop; close with aclose()).

        The subscriber is registered here, not at its first iteration: a subscription reads the
        current state after this call, so whatever is committed after that read is still signalled.
        """
        return Signals(self, max_backlog)

    async def reached(self, position: int, timeout: float) -> bool:
        """Waits until the views include `position`, whichever process projected it; False on timeout.

        Read-your-writes for a command. Another process's runner may fold the event first: on
        PostgreSQL its announcement reaches this feed; on SQLite nothing announces it, so the
        views' position is also read now and then while waiting.
        """
        deadline = asyncio.get_running_loop().time() + timeout
        signals = self.signals()
        try:
            while self.position < position:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    return False
                try:
                    async with asyncio.timeout(min(remaining, self.poll_interval)):
                        await anext(signals)
                except TimeoutError:
                    stored = await run_in_threadpool(self.system.store.tracking_position)
                    self.position = max(self.position, stored)
            return True
        finally:
            await signals.aclose()

    def _register(self, entry: tuple[asyncio.AbstractEventLoop, asyncio.Queue[Signal]]) -> None:
        with self._lock:
            self._subscribers.add(entry)

    def _unregister(self, entry: tuple[asyncio.AbstractEventLoop, asyncio.Queue[Signal]]) -> None:
        with self._lock:
            self._subscribers.discard(entry)

    # -- sources (any thread) -----------------------------------------------------------------

    def publish(self, signal: Signal) -> None:
        if signal.views:
            self.position = max(self.position, signal.position)
        with self._lock:
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            try:
                loop.call_soon_threadsafe(_offer, queue, signal)
            except RuntimeError:  # that subscriber's loop is closed
                pass

    def _on_advance(self, advance: Advance) -> None:
        self.publish(Signal(True, advance.position, advance.scopes))

    def _on_saved(self, position: int) -> None:
        self.publish(Signal(False, position))

    def _spawn(self, target: Any) -> None:
        thread = threading.Thread(target=target, name=f"rectify-feed-{target.__name__}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_interval):
            try:
                position = self.system.store.tracking_position()
            except Exception:  # noqa: BLE001 - keep polling; the next attempt may succeed
                log.exception("polling the views' position failed")
                continue
            if position > self.position:
                self.publish(Signal(True, position))
                self.publish(Signal(False, position))

    def _listen(self) -> None:
        import psycopg

        store = self.system.store
        assert isinstance(store, PostgresViewStore)
        events_channel = self.system.app.recorder.channel_name  # type: ignore[attr-defined] # on PostgreSQL (asserted above) the library's recorder has it
        while not self._stop.is_set():
            try:
                with psycopg.connect(store.database.psycopg_conninfo(), autocommit=True) as conn:
                    conn.execute(f'LISTEN "{events_channel}"')
                    conn.execute(f'LISTEN "{store.channel}"')
                    while not self._stop.is_set():
                        for notice in conn.notifies(timeout=1.0, stop_after=1):
                            if notice.channel == store.channel:
                                self.publish(parse_views_payload(notice.payload))
                            else:
                                self.publish(Signal(False, 0))
            except Exception:  # noqa: BLE001 - reconnect
                log.exception("feed LISTEN connection lost; reconnecting")
                self._stop.wait(1.0)


class Signals:
    """One subscriber's signals; a slow one gets a catch-all signal instead of many."""

    def __init__(self, feed: Feed, max_backlog: int) -> None:
        self._feed = feed
        self._queue: asyncio.Queue[Signal] = asyncio.Queue(maxsize=max_backlog)
        self._entry = (asyncio.get_running_loop(), self._queue)
        feed._register(self._entry)

    def __aiter__(self) -> AsyncIterator[Signal]:
        return self

    async def __anext__(self) -> Signal:
        return await self._queue.get()

    async def aclose(self) -> None:
        self._feed._unregister(self._entry)


def parse_views_payload(payload: str) -> Signal:
    """`generation:position[:scope,scope…]` as announced by the view store."""
    parts = payload.split(":", 2)
    scopes = frozenset(UUID(s) for s in parts[2].split(",") if s) if len(parts) == 3 and parts[2] != "*" else None
    return Signal(True, int(parts[1]), scopes)


def _offer(queue: asyncio.Queue[Signal], signal: Signal) -> None:
    try:
        queue.put_nowait(signal)
    except asyncio.QueueFull:
        # Too far behind: replace the backlog with one signal that says "anything may have changed".
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(Signal(True, signal.position, None))  # views and log alike: anything may have changed
