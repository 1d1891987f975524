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
from eventsourcing.utils import get_topic

from rectify.application import RectifyApplication
from rectify.caching import BoundedCache, aggregate_bytes
from rectify.domain.token import AccessToken
from rectify.eventlog import notifications_after
from rectify.projections.fold import Fold, State, paused_garbage_collection, scope_of
from rectify.projections.store import HISTORY_CHUNK, PostgresViewStore, ViewStore

log = logging.getLogger(__name__)
REVOKED = get_topic(AccessToken.Revoked)
FOLLOW_INTERVAL = 1.0  # seconds between the followers' passes, at least: a pass has a fixed cost of a dozen queries
MAX_BACKOFF = 1.0  # seconds between tries of a failing batch, at most: the views catch up soon after an outage


@dataclass(frozen=True)
class Advance:
    """One committed batch: the views reached `position`; these rounds (and units) changed."""

    generation: int
    position: int
    scopes: frozenset[UUID]
    #: The position the batch started after, and the tokens revoked in it (AccessToken.Revoked):
    #: whoever heard of revocations up to `start` knows them up to `position` without asking the log.
    start: int = 0
    revoked: frozenset[UUID] = frozenset()
    #: Whether the batch was full: then more may follow at once; else the views reached the head as read.
    full: bool = False


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
        self._cache: BoundedCache[tuple[int, int], tuple[State, list[int]]] = BoundedCache(cache_bytes)
        self._lock = threading.Lock()
        # What this projector committed last: the live generation and each generation's tracking
        # position. The next batch starts from them without reading the store; the write
        # transaction checks them under its lock, and a mismatch reads them again.
        self._live: int | None = None
        self._positions: dict[int, int] = {}

    def _notifications(self, after: int, limit: int) -> list[Notification]:
        return notifications_after(self.app.recorder, self.app.recent, after, limit)

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
                target, position = self._start_of(generation)
                notifications = self._notifications(position, self.batch_size)
                if not notifications:
                    return None
                before = Fold.needs(notifications)
                last_chunks = self._last_chunks(target, before)
                fold = Fold(self._states(target, before, last_chunks), position=position)
                fold.apply_all(notifications, self.app.mapper)
                scopes = frozenset(scope_of(fold.states[i].aggregate) for i in fold.changes.aggregates)
                with self.store.writing() as cursor:
                    stored, live = self.store.lock_tracking_status(cursor, target)
                    moved = stored != position or (generation is None and not live)
                    if not moved:
                        with self.store.pipelined(cursor):  # PostgreSQL: the batch's writes in one round trip
                            written = self.store.write_changes(cursor, target, fold, last_chunks)
                            self.store.set_tracking(cursor, target, fold.position)
                            if generation is None:
                                self.store.announce(cursor, target, fold.position, scopes)
                if not moved:
                    break
                # Another process folded these events first (or swapped in a rebuild): fold again
                # from what it wrote. The aggregates this attempt changed were taken out of the
                # cache; the rest stay valid.
                self._forget_positions()
            self._positions[target] = fold.position
            if generation is None:
                self._live = target
        revoked: frozenset[UUID] = frozenset(
            n.originator_id  # type: ignore[misc] # our ids are UUIDs; the library allows str too
            for n in notifications
            if n.topic == REVOKED
        )
        self._remember(target, fold, written)
        return Advance(target, fold.position, scopes, position, revoked, len(notifications) >= self.batch_size)

    def _start_of(self, generation: int | None) -> tuple[int, int]:
        """The generation a batch goes to and its tracking position: as this projector last
        committed them, or else as stored (one read)."""
        target = generation if generation is not None else self._live
        if target is not None and target in self._positions:
            return target, self._positions[target]
        with self.store.reading() as cursor:
            target = generation if generation is not None else self.store._live_generation(cursor)
            assert target is not None, "set the store up first"
            return target, self.store.position_of(cursor, target)

    def _forget_positions(self) -> None:
        self._live = None
        self._positions.clear()

    def _last_chunks(self, generation: int, before: dict[UUID, int]) -> dict[UUID, list[int]]:
        """Per aggregate the batch changes (at a version above 0), its last history-index chunk: from
        the cache when it holds the aggregate at that version, else read from the store."""
        found: dict[UUID, list[int]] = {}
        missing: dict[UUID, int] = {}
        for identifier, version in before.items():
            if version == 0:
                continue
            cached = self._cache.get((generation, identifier.int))
            if cached is not None and cached[0].aggregate.version == version:
                found[identifier] = cached[1]
            else:
                missing[identifier] = version
        if missing:
            with self.store.reading() as cursor:
                found.update(self.store.load_last_chunks(cursor, generation, missing))
        return found

    def _states(self, generation: int, before: dict[UUID, int], last_chunks: dict[UUID, list[int]]) -> dict[int, State]:
        """The aggregates at the versions the batch starts from (`last_chunks`: the history-index chunk
        holding each one's position at that version)."""
        states: dict[int, State] = {}
        for identifier, version in before.items():
            if version == 0:
                continue  # created in this batch
            cached = self._cache.get((generation, identifier.int))
            self._cache.discard((generation, identifier.int))  # taken out: the fold changes it in place
            if cached is not None and cached[0].aggregate.version == version:
                states[identifier.int] = cached[0]
                continue
            aggregate: Aggregate = self.app.repository.get(identifier, version=version)
            states[identifier.int] = State(aggregate, last_chunks[identifier][(version - 1) % HISTORY_CHUNK])
        return states

    def _remember(self, generation: int, fold: Fold, last_chunks: dict[UUID, list[int]]) -> None:
        """After a commit, keeps the batch's aggregates, each with its last history-index chunk as
        written, for the next batches (a rebuilt generation's keys differ, so those of the one before
        it age out)."""
        for identifier, state in fold.states.items():
            chunk = last_chunks.get(state.aggregate.id)
            if chunk is None:  # not changed by this batch: not written, and its chunk not known here
                continue
            self._cache.put((generation, identifier), (state, chunk), aggregate_bytes(state.aggregate))

    def catch_up(self, generation: int | None = None, on_advance: Callable[[Advance], None] | None = None) -> int:
        """Processes batches until the views reach the head of the log; returns the position reached."""
        reached = self.advance(generation, on_advance)
        return reached.position if reached else self.store.tracking_position()

    def advance(
        self, generation: int | None = None, on_advance: Callable[[Advance], None] | None = None
    ) -> Advance | None:
        """Processes batches until the views reach the head of the log; the last batch, None if there
        was nothing new (and then, unlike catch_up, no read of the position the views are at)."""
        reached = None
        while (advance := self.step(generation)) is not None:
            reached = advance
            if on_advance:
                on_advance(advance)
            if not advance.full:  # the head as read: no empty pass to find nothing more
                break
        return reached

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
        with self._lock:
            self._forget_positions()
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
                self.projector.advance(on_advance=self._publish)
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
        """Wakes the runner on the events table's NOTIFY (PostgreSQL) from another process: this one's
        saves wake it as they are made (saved_listeners), and a second pass would find nothing new
        only by asking the store."""
        from eventsourcing.postgres import PostgresApplicationRecorder  # psycopg, only where PostgreSQL is used

        from rectify.persistence import own_backends

        store, recorder = self.projector.store, self.projector.app.recorder
        assert isinstance(store, PostgresViewStore) and isinstance(recorder, PostgresApplicationRecorder)
        own = own_backends(recorder)

        def heard(_channel: str, _payload: str, pid: int) -> None:
            if pid not in own:
                self._wake.set()

        store.listen([recorder.channel_name], heard, self._stop, listening=self._wake.set)
