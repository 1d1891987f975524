"""The change feed: tells async subscribers that the log grew or the views advanced, and the token
cache that a token was revoked.

Signals come from this process (its application's saves, its projection runner) and, on
PostgreSQL, from other processes through LISTEN/NOTIFY: the events table's channel (the log
grew) and the views' channel (a runner somewhere committed a batch). On SQLite without a runner
in this process, the views' position and the log's head are polled.

Each time the log grows the feed looks for tokens revoked since it last looked (AccessToken.Revoked
events) and tells its revocation listeners first, before any subscriber hears of the growth: the
token cache forgets the token, and a subscription woken by the signal checks its token again and
finds it revoked. So a revocation takes effect in every process as soon as it is heard.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic
from starlette.concurrency import run_in_threadpool

from rectify.application import RectifyApplication
from rectify.domain.token import AccessToken
from rectify.projections.runner import Advance, Runner
from rectify.projections.store import PostgresViewStore, ViewStore

log = logging.getLogger(__name__)

REVOKED = get_topic(AccessToken.Revoked)


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
    def __init__(
        self,
        app: RectifyApplication,
        store: ViewStore,
        runner: Runner | None = None,
        *,
        poll_interval: float = 0.2,
    ) -> None:
        self.app = app
        self.store = store
        self.runner = runner
        self.poll_interval = poll_interval
        self.position = store.tracking_position()  # of the views, as last heard
        #: Called with the ids of tokens revoked since the last call (in whichever thread heard of them).
        self.revocation_listeners: list[Callable[[frozenset[UUID]], None]] = []
        self._checked = app.head()  # revocations up to here are known
        self._checking = threading.Lock()
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Signal]]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> Feed:
        if self.runner is not None:
            self.runner.listeners.append(self._on_advance)
        self.app.saved_listeners.append(self._on_saved)
        if isinstance(self.store, PostgresViewStore):
            self._spawn(self._listen)
        elif self.runner is None:
            self._spawn(self._poll)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self.runner is not None and self._on_advance in self.runner.listeners:
            self.runner.listeners.remove(self._on_advance)
        if self._on_saved in self.app.saved_listeners:
            self.app.saved_listeners.remove(self._on_saved)
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
        if self.position >= position:  # folded while the command's answer came back
            return True
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
                    stored = await run_in_threadpool(self.store.tracking_position)
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

    def look_for_revocations(self, head: int | None = None) -> None:
        """Tells the revocation listeners of tokens revoked in the log since the last look (up to
        `head`, when the caller knows where the log has grown to)."""
        with self._checking:
            if head is None:
                head = self.app.head()
            if head <= self._checked:
                return
            revoked: set[UUID] = set()
            after = self._checked
            while True:
                found = self.app.recorder.select_notifications(
                    start=after, limit=500, stop=head, topics=(REVOKED,), inclusive_of_start=False
                )
                revoked.update(n.originator_id for n in found)  # type: ignore[misc] # our ids are UUIDs; the library allows str too
                if len(found) < 500:
                    break
                after = found[-1].id
            self._checked = head
        if revoked:
            for listener in list(self.revocation_listeners):
                listener(frozenset(revoked))

    def _grew(self, head: int | None = None) -> None:
        """The log grew: revocations first, so that whoever the signal wakes sees them."""
        try:
            self.look_for_revocations(head)
        except Exception:  # noqa: BLE001 - the next growth looks again from the same position
            log.exception("looking for revoked tokens failed")

    def _on_advance(self, advance: Advance) -> None:
        if not self._heard_in(advance):
            self._grew(advance.position)
        self.publish(Signal(True, advance.position, advance.scopes))

    def _heard_in(self, advance: Advance) -> bool:
        """Takes the revocations from the runner's batch, which read the notifications anyway, when it
        covers every event not yet looked at; False when the log must be asked."""
        with self._checking:
            if advance.start > self._checked:
                return False
            self._checked = max(self._checked, advance.position)
        if advance.revoked:
            for listener in list(self.revocation_listeners):
                listener(advance.revoked)
        return True

    def _on_saved(self, position: int) -> None:
        with self._lock:
            heard_by_no_one = not self._subscribers
        # In the saving thread, before the command is answered: with a runner in this process and no
        # subscriber to signal, the look waits for the runner's batch (_on_advance), which the command's
        # answer waits for too, instead of asking the log once more per write.
        if not (heard_by_no_one and self.runner is not None):
            self._grew(position)
        self.publish(Signal(False, position))

    def _spawn(self, target: Any) -> None:
        thread = threading.Thread(target=target, name=f"rectify-feed-{target.__name__}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _poll(self) -> None:
        """SQLite without a runner here: another process writes and projects; watch both positions."""
        head = self.app.head()
        while not self._stop.wait(self.poll_interval):
            try:
                position = self.store.tracking_position()
                grown = self.app.head()
            except Exception:  # noqa: BLE001 - keep polling; the next attempt may succeed
                log.exception("polling the log and the views' position failed")
                continue
            if grown > head:
                head = grown
                self._grew()
                self.publish(Signal(False, grown))
            if position > self.position:
                self.publish(Signal(True, position))

    def _listen(self) -> None:
        from eventsourcing.postgres import PostgresApplicationRecorder  # psycopg, only where PostgreSQL is used

        from rectify.persistence import own_backends

        store, recorder = self.store, self.app.recorder
        assert isinstance(store, PostgresViewStore) and isinstance(recorder, PostgresApplicationRecorder)
        events_channel = recorder.channel_name
        own = own_backends(recorder)

        def heard(channel: str, payload: str, pid: int) -> None:
            if channel == store.channel:
                self.publish(parse_views_payload(payload))
            elif pid not in own:  # this process's own saves are heard of as they are made (_on_saved)
                self._grew()
                self.publish(Signal(False, 0))

        store.listen([events_channel, store.channel], heard, self._stop, listening=self._grew)


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
