"""Keeping the views current: catch-up in batches, live updates, and rebuilds from zero.

On PostgreSQL the runner wakes on the events table's NOTIFY; on SQLite (whose recorder in
eventsourcing 9.5 cannot subscribe) it polls the notification log, and in-process writes wake it
at once. Each batch of view changes commits together with its tracking position.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Notification

from rectify.application import RectifyApplication
from rectify.caching import BoundedCache
from rectify.projections.fold import Fold, State, paused_garbage_collection, scope_of
from rectify.projections.store import HISTORY_CHUNK, PostgresViewStore, ViewStore

log = logging.getLogger(__name__)
FOLLOW_INTERVAL = 0.2  # seconds between the followers' passes, at least
#: What a folded aggregate is charged in the cache: a base, and per event folded into it (about what a
#: decoded activity weighs, the commonest event of a long history).
STATE_BYTES = 2048
EVENT_BYTES = 512
MAX_BACKOFF = 1.0  # seconds between tries of a failing batch, at most: the views catch up soon after an outage


@dataclass(frozen=True)
class Advance:
    """One committed batch: the views reached `position`; these rounds (and units) changed."""

    generation: int
    position: int
    scopes: frozenset[UUID]


class Projector:
    """Folds the application's log into a ViewStore, exactly once per event.

    A batch starts from the aggregates as they were before it: kept from earlier batches in a
    small cache, or else loaded from the event store at the right version.
    """

    def __init__(
        self, app: RectifyApplication, store: ViewStore, *, batch_size: int = 1000, cache_bytes: int = 64 * 1024**2
    ) -> None:
        self.app = app
        self.store = store
        self.batch_size = batch_size
        # Aggregates as the last batch left them, keyed by (generation, uuid.int), charged by their
        # version: a folded aggregate grows with its events (a finding's activities), and a count of
        # entries bounds nothing when one finding holds thousands of them.
        self._cache: BoundedCache[tuple[int, int], State] = BoundedCache(cache_bytes)
        self._lock = threading.Lock()

    def _notifications(self, after: int, limit: int) -> list[Notification]:
        return list(self.app.recorder.select_notifications(start=after, limit=limit, inclusive_of_start=False))

    def step(self, generation: int | None = None) -> Advance | None:
        """Processes the next batch into the live (or given) generation; None when there is nothing new.

        The batch is read and folded before the views' write lock is taken, and committed only if
        the tracking position has not moved meanwhile (else it is folded again). Holding that lock
        while asking the event store for a connection would invert the lock order of a save, which
        takes the store's writer connection first and the database's write lock second: on SQLite
        the two waited on each other until a pool timeout broke the tie.
        """
        with self._lock:
            while True:
                with self.store.reading() as cursor:
                    target = generation if generation is not None else self.store._live_generation(cursor)
                    assert target is not None, "set the store up first"
                    position = self.store.position_of(cursor, target)
                notifications = self._notifications(position, self.batch_size)
                if not notifications:
                    return None
                before = Fold.needs(notifications)
                with self.store.reading() as cursor:
                    last_chunks = self.store.load_last_chunks(cursor, target, before)
                fold = Fold(self._states(target, before, last_chunks), position=position)
                fold.apply_all(notifications, self.app.mapper)
                scopes = frozenset(scope_of(fold.states[i].aggregate) for i in fold.changes.aggregates)
                with self.store.writing() as cursor:
                    moved = self.store.lock_tracking(cursor, target) != position or (
                        generation is None and self.store._live_generation(cursor) != target
                    )
                    if not moved:
                        self.store.write_changes(cursor, target, fold, last_chunks)
                        self.store.set_tracking(cursor, target, fold.position)
                        if generation is None:
                            self.store.announce(cursor, target, fold.position, scopes)
                if not moved:
                    break
                # Another process folded these events first: fold again from what it wrote. The
                # aggregates this attempt changed were taken out of the cache; the rest stay valid.
        self._remember(target, fold)
        return Advance(target, fold.position, scopes)

    def _states(self, generation: int, before: dict[UUID, int], last_chunks: dict[UUID, list[int]]) -> dict[int, State]:
        """The aggregates at the versions the batch starts from (`last_chunks`: the history-index chunk
        holding each one's position at that version)."""
        states: dict[int, State] = {}
        for identifier, version in before.items():
            if version == 0:
                continue  # created in this batch
            cached = self._cache.get((generation, identifier.int))
            self._cache.discard((generation, identifier.int))  # taken out: the fold changes it in place
            if cached is not None and cached.aggregate.version == version:
                states[identifier.int] = cached
                continue
            aggregate: Aggregate = self.app.repository.get(identifier, version=version)
            states[identifier.int] = State(aggregate, last_chunks[identifier][(version - 1) % HISTORY_CHUNK])
        return states

    def _remember(self, generation: int, fold: Fold) -> None:
        """After a commit, keeps the batch's aggregates for the next batches (a rebuilt generation's
        keys differ, so those of the one before it age out)."""
        for identifier, state in fold.states.items():
            self._cache.put((generation, identifier), state, STATE_BYTES + EVENT_BYTES * state.aggregate.version)

    def catch_up(self, generation: int | None = None, on_advance: Callable[[Advance], None] | None = None) -> int:
        """Processes batches until the views reach the head of the log; returns the position reached."""
        reached = None
        while (advance := self.step(generation)) is not None:
            reached = advance
            if on_advance:
                on_advance(advance)
        return reached.position if reached else self.store.tracking_position()

    def rebuild(self, *, batch_size: int = 10_000, progress: Callable[[int], None] | None = None) -> int:
        """Rebuilds every view from zero into a fresh generation, then swaps it in; returns the generation.

        The log is read and folded in batches; the folded state is then written in bulk, the
        events appended meanwhile are caught up, and the new views replace the old in one commit.
        """
        generation = self.store.new_generation()
        fold = Fold()
        position = 0
        with paused_garbage_collection():
            while notifications := self._notifications(position, batch_size):
                fold.apply_all(notifications, self.app.mapper)
                position = notifications[-1].id
                if progress:
                    progress(position)
            with self.store.writing(durable=False) as cursor:
                self.store.write_all(cursor, generation, fold)
        self.store.finish_generation(generation, fold.position)
        self.catch_up(generation)  # what was appended while we rebuilt
        self.store.swap_in(generation)
        return generation


class Runner:
    """A thread that keeps the live views current and tells listeners of each committed batch."""

    def __init__(self, projector: Projector, *, poll_interval: float = 0.1) -> None:
        self.projector = projector
        self.poll_interval = poll_interval
        self.listeners: list[Callable[[Advance], None]] = []
        # Others following the log after each pass (the sealer), in a thread of their own: their
        # commits do not hold up the views, and so the answers to commands.
        self.followers: list[Callable[[], object]] = []
        self._follow = threading.Event()
        self._follower_thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener_thread: threading.Thread | None = None
        self._position = 0
        self._advanced = threading.Condition()
        projector.app.saved_listeners.append(self.wake)

    def wake(self, _position: int | None = None) -> None:
        self._wake.set()

    def start(self) -> Runner:
        self.projector.store.setup()
        self._position = self.projector.store.tracking_position()
        self._thread = threading.Thread(target=self._run, name="rectify-projector", daemon=True)
        self._thread.start()
        self._follower_thread = threading.Thread(target=self._run_followers, name="rectify-followers", daemon=True)
        self._follower_thread.start()
        if isinstance(self.projector.store, PostgresViewStore):
            self._listener_thread = threading.Thread(target=self._listen, name="rectify-listen", daemon=True)
            self._listener_thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._follow.set()
        if self._thread:
            self._thread.join(timeout=10)
        if self._follower_thread:
            self._follower_thread.join(timeout=10)
        if self.wake in self.projector.app.saved_listeners:
            self.projector.app.saved_listeners.remove(self.wake)

    def wait_for(self, position: int, timeout: float = 5.0) -> bool:
        """Blocks until the views reach `position` (read-your-writes); False on timeout.

        Another process's runner may fold the batch first (they share the tracking row), so the
        stored tracking position is also read while waiting, not only this runner's own advances.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._advanced:
                if self._position >= position:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.error is not None:
                    return False
                self._advanced.wait(min(remaining, 0.05))
                if self._position >= position:
                    return True
            stored = self.projector.store.tracking_position()
            with self._advanced:
                self._position = max(self._position, stored)

    @property
    def position(self) -> int:
        return self._position

    def _publish(self, advance: Advance) -> None:
        # Listeners first: whoever waits for this position may rely on what they record (caches).
        for listener in list(self.listeners):
            try:
                listener(advance)
            except Exception:  # a listener's failure must not stop the views
                log.exception("view listener failed")
        with self._advanced:
            self._position = max(self._position, advance.position)
            self._advanced.notify_all()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self.projector.catch_up(on_advance=self._publish)
                self._follow.set()
                failures = 0
            except Exception as error:  # noqa: BLE001 - kept for wait_for and retried with backoff
                failures += 1
                self.error = error
                if failures == 1:
                    log.exception("projection batch failed (attempt %d)", failures)
                else:  # the same failure again, retried: one line each (a damaged store is not mended by retries)
                    log.error("projection batch failed (attempt %d): %s", failures, " ".join(str(error).split())[:200])
                if self._stop.wait(min(MAX_BACKOFF, 0.1 * 2**failures)):  # back soon after an outage
                    return
                continue
            self.error = None
            self._wake.wait(self.poll_interval)
            self._wake.clear()

    def _run_followers(self) -> None:
        failures = 0
        while not self._stop.is_set():
            self._follow.wait()
            self._follow.clear()
            if self._stop.is_set():
                return
            try:
                for follow in self.followers:
                    follow()
                failures = 0
                # Each pass takes everything up to the head: under a stream of writes, one pass per
                # FOLLOW_INTERVAL (one commit of the sealer) instead of one per write.
                if self._stop.wait(FOLLOW_INTERVAL):
                    return
            except Exception:  # noqa: BLE001 - logged and tried again, as the projector's batches are
                failures += 1
                log.exception("a follower of the log failed (attempt %d)", failures)
                self._follow.set()
                if self._stop.wait(min(MAX_BACKOFF, 0.1 * 2**failures)):
                    return

    def _listen(self) -> None:
        """Wakes the runner on the events table's NOTIFY (PostgreSQL)."""
        from eventsourcing.postgres import PostgresApplicationRecorder  # psycopg, only where PostgreSQL is used

        store, recorder = self.projector.store, self.projector.app.recorder
        assert isinstance(store, PostgresViewStore) and isinstance(recorder, PostgresApplicationRecorder)
        channel = recorder.channel_name
        store.listen([channel], lambda _channel, _payload: self._wake.set(), self._stop, listening=self._wake.set)
