"""One command's transaction against the event store: decide, save, retry, replay, and an answer that tells the truth.

The application's commands say what to decide; this module carries it out. It holds everything
that depends on the store: retries on a concurrent write, idempotency records and their replays,
a bound on how long a command may wait for the store, and the translation of store failures
(busy, unavailable, timed out, read-only, full) into typed errors that say whether anything may
have been appended. Several commands can share one transaction (`batch`), e.g. a sheet import.

Commands from concurrent callers go through one writer thread: those that queue while a commit is
in flight are decided one after another on the same state and saved together, in one transaction
(group commit). Each keeps its own checks and idempotency record; one that is refused is left out
and the rest decided again without it; each caller is answered Accepted only after the commit.
"""

from __future__ import annotations

import copy
import errno
import functools
import logging
import queue
import random
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import ConnectionUnavailableError, IntegrityError, PersistenceError, Recording

from rectify import idempotency
from rectify import validation as v
from rectify.access import Actor, authorise_role
from rectify.caching import BoundedCache, aggregate_bytes
from rectify.domain.errors import Conflict, InvalidInput, StoreFault
from rectify.persistence import position_of
from rectify.sqlite_lock import sqlite_write_lock

if TYPE_CHECKING:
    from rectify.application import RectifyApplication

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., "Receipt"])
T = TypeVar("T")
Decision = Callable[[], tuple[list[Aggregate], UUID]]


@dataclass(frozen=True)
class Receipt:
    """What a command produced: the log position to read one's own write at, and the new entity.

    Inside a batch the position is 0 until the batch commits; the batch's receipts carry it then.
    """

    position: int
    entity_id: UUID
    replayed: bool = False  # true only when an earlier request under the same key is answered again
    secret: str | None = None  # an issued token's secret, shown once
    sha256: str | None = None  # a published notice's digest
    views_caught_up: bool = True  # whether the views included this write when it was answered
    own_position: int = 0  # of the command's last event other than its idempotency record (0: none)


def command(name: str) -> Callable[[F], F]:
    """Marks an application method as the command `name`; refuses a role that may never give it."""

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def checked(self: RectifyApplication, actor: Actor, /, **kwargs: Any) -> Receipt:
            authorise_role(actor, name)
            try:
                return method(self, actor, **kwargs)
            except StoreFault as fault:
                self.refusals.refused(fault)
                raise

        checked.command_name = name  # type: ignore[attr-defined] # a function takes attributes; the wrapper's declared type lists none
        return checked  # type: ignore[return-value] # the wrapper keeps the method's call signature

    return decorate


# -- what a store failure means ---------------------------------------------------------------

READ_ONLY, DISK_FULL, UNAVAILABLE, TIMED_OUT, BUSY = "READ_ONLY", "DISK_FULL", "UNAVAILABLE", "TIMED_OUT", "BUSY"

_SAID = {
    READ_ONLY: "the event store is read-only",
    DISK_FULL: "the event store's disk is full",
    UNAVAILABLE: "the event store is unavailable",
    TIMED_OUT: "the event store did not answer in time",
}


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def fault_of(error: BaseException) -> str | None:
    """What kind of store failure an exception is (READ_ONLY, DISK_FULL, BUSY, TIMED_OUT,
    UNAVAILABLE), or None when it is not a store failure rectify knows."""
    from psycopg import errors as pg
    from psycopg_pool import PoolTimeout

    for cause in _chain(error):
        if isinstance(cause, sqlite3.OperationalError):
            text = str(cause).lower()
            if "readonly" in text or "read-only" in text:
                return READ_ONLY
            if "disk is full" in text or "disk i/o error" in text:
                return DISK_FULL
            if "locked" in text or "busy" in text:
                return BUSY
            if "unable to open" in text:
                return UNAVAILABLE
        if isinstance(cause, OSError) and not isinstance(cause, TimeoutError):
            if cause.errno == errno.ENOSPC:
                return DISK_FULL
            if cause.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                return READ_ONLY
        if isinstance(cause, pg.DiskFull):
            return DISK_FULL
        if isinstance(cause, pg.ReadOnlySqlTransaction):
            return READ_ONLY
        if isinstance(cause, (pg.QueryCanceled, pg.LockNotAvailable)):
            return TIMED_OUT
        if isinstance(cause, PoolTimeout):
            return BUSY  # every pooled connection was taken (or none could be made) in time
        if isinstance(cause, ConnectionUnavailableError):
            return BUSY  # the library's pool gave no connection in time
        if isinstance(cause, pg.OperationalError):
            return UNAVAILABLE
    if isinstance(error, PersistenceError):
        return UNAVAILABLE
    return None


@dataclass(frozen=True)
class Refusal:
    reason: str  # READ_ONLY or DISK_FULL
    message: str
    at: float  # time.monotonic() of the refusal


class Refusals:
    """The store's last lasting refusal of a write (read-only, disk full), until a write is saved again:
    /health reports it, since a store can answer reads while it takes no writes."""

    LASTING = (READ_ONLY, DISK_FULL)

    def __init__(self) -> None:
        self.last: Refusal | None = None

    def refused(self, fault: StoreFault) -> None:
        if fault.reason in self.LASTING:
            self.last = Refusal(fault.reason, _SAID[fault.reason], time.monotonic())

    def saved(self) -> None:
        self.last = None


def store_was_busy(error: Exception) -> bool:
    """Whether a command failed because the store was busy: SQLite's write lock or a pooled
    PostgreSQL connection was not had in time."""
    return fault_of(error) == BUSY


# -- batches ----------------------------------------------------------------------------------


@dataclass
class _Step:
    receipt: Receipt
    events: list[Any]  # the command's own events (not its idempotency record)


@dataclass
class Batch:
    """Commands whose events are saved together, in one transaction, when the batch ends."""

    loaded: dict[UUID, Aggregate] = field(default_factory=dict)  # in the order first touched
    records: dict[UUID, tuple[str, UUID]] = field(default_factory=dict)  # key record → fingerprint, entity
    steps: list[_Step] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)  # after the commit, one per command, in order
    attributed: dict[UUID, int] = field(default_factory=dict)  # aggregate → its pending events owned by steps
    absent: frozenset[UUID] = frozenset()  # ids the store had no events of when the batch began


@dataclass
class _Queued:
    """A command waiting for the writer thread, and where its answer goes."""

    command: str
    actor: Actor
    record_id: UUID | None
    fingerprint: str | None
    decide: Decision
    progress: _Progress
    answer: Future[Receipt] = field(default_factory=Future)

    def attempt_alone(self, work: UnitOfWork) -> Receipt:
        return work._attempt(self.command, self.actor, self.record_id, self.fingerprint, self.decide, self.progress)


class UnitOfWork:
    """Carries out the application's commands against its event store."""

    max_attempts = 8
    max_group = 64  # commands saved together at most: bounds a group's transaction and its redo on a refusal

    def __init__(
        self, app: Application[UUID], *, deadline: float | None = 5.0, cache_bytes: int = 64 * 1024**2
    ) -> None:
        self.app = app
        self.deadline = deadline  # seconds a command may wait for the store (None: no bound)
        # Aggregates as last read or saved, charged as caching.aggregate_bytes weighs them: a command
        # reads only the events after the kept version, so its cost does not grow with history.
        self.cache: BoundedCache[UUID, Aggregate] = BoundedCache(cache_bytes)  # commands get copies, never these
        self._local = threading.local()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        # One writer at a time in this process: the store serialises appends anyway (SQLite's write
        # lock, the events table's lock on PostgreSQL), so this costs no throughput, and writers of
        # one hot aggregate queue here instead of colliding and retrying. Those that queue while a
        # commit is in flight share the next one.
        self._writer = threading.Lock()
        self._queue: queue.SimpleQueue[_Queued | None] = queue.SimpleQueue()
        self._writer_thread: threading.Thread | None = None
        self._sqlite_path: str | None = app.env.get("SQLITE_DBNAME") if self._local_store() else None

    def close(self) -> None:
        with self._pool_lock:
            thread, self._writer_thread = self._writer_thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=5)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    # -- reading aggregates --------------------------------------------------------------------

    def get(self, aggregate_id: UUID) -> Aggregate:
        """The aggregate as the current command sees it (in a batch, with the batch's changes)."""
        batch = self._batch()
        if batch is not None and aggregate_id in batch.loaded:
            return batch.loaded[aggregate_id]
        aggregate = self._load(aggregate_id)
        if batch is not None:
            batch.loaded[aggregate_id] = aggregate
        return aggregate

    def _load(self, aggregate_id: UUID) -> Aggregate:
        """A private copy of the aggregate at the head of its history: the kept one brought up to date
        with the events after it (usually none), else folded from all its events."""
        kept = self.cache.get(aggregate_id)
        aggregate: Any = _copy(kept) if kept is not None else None
        recorder, mapper = self.app.recorder, self.app.mapper
        newer = recorder.select_events(aggregate_id, gt=aggregate.version) if kept is not None else None
        if newer is None:
            newer = recorder.select_events(aggregate_id)
            if not newer:
                raise AggregateNotFoundError(aggregate_id)
        for stored in newer:
            event: Any = mapper.to_domain_event(stored)
            aggregate = event.mutate(aggregate)
        if newer:
            self.cache.put(aggregate_id, _copy(aggregate), aggregate_bytes(aggregate))
        return aggregate

    def _keep_saved(self, aggregates: list[Aggregate], recordings: Any) -> None:
        """Keeps the aggregates as saved, so that the next command on one reads nothing but later events."""
        added = Counter(recording.notification.originator_id for recording in recordings)  # events saved
        for aggregate in aggregates:
            count = added[aggregate.id]
            if isinstance(aggregate, idempotency.CommandRecord) or not count:
                continue
            if aggregate.version != count:  # not created by this save: kept only if what is kept is its prefix
                kept = self.cache.get(aggregate.id)
                if kept is None or kept.version != aggregate.version - count:
                    self.cache.discard(aggregate.id)
                    continue
            self.cache.put(aggregate.id, _copy(aggregate), aggregate_bytes(aggregate))

    def exists(self, aggregate_id: UUID) -> bool:
        batch = self._batch()
        if (batch is not None and aggregate_id in batch.loaded) or aggregate_id in self.cache:
            return True
        if batch is not None and aggregate_id in batch.absent:
            return False  # a concurrent writer's creating it since fails the batch's save, which is then redone
        return aggregate_id in self.app.repository

    # -- one command -----------------------------------------------------------------------------

    def execute(
        self, command: str, actor: Actor, key: str | None, request: dict[str, Any], decide: Decision
    ) -> Receipt:
        """Decides and saves, retrying on a concurrent write; a known idempotency key replays.

        Raises Conflict when the store stayed busy, StoreFault when it failed otherwise (saying
        whether the events may have been appended), and the domain's errors as they come.
        """
        record_id = fingerprint = None
        if key is not None:
            key = v.text("idempotency_key", key, max_length=200)
            record_id = idempotency.record_id(str(actor), key)
            fingerprint = idempotency.fingerprint(command, request)
        batch = self._batch()
        if batch is not None:
            return self._in_batch(batch, command, actor, record_id, fingerprint, decide)
        queued = _Queued(command, actor, record_id, fingerprint, decide, _Progress())
        if threading.current_thread() is self._writer_thread:  # a decision that gives a command of its own
            return queued.attempt_alone(self)
        self._start_writer()
        self._queue.put(queued)
        try:
            return queued.answer.result(timeout=self.deadline)
        except FutureTimeout:
            queued.answer.add_done_callback(_log_late)
            saving = queued.progress.abandon()  # from now on the writer will not begin its save
            raise self._fault(command, TIMED_OUT, appended=None if saving else False) from None

    # -- the writer thread: group commit ----------------------------------------------------------

    def _start_writer(self) -> None:
        with self._pool_lock:
            if self._writer_thread is None:
                self._writer_thread = threading.Thread(target=self._write, name="rectify-writer", daemon=True)
                self._writer_thread.start()

    def _write(self) -> None:
        """Takes the queued commands, all that queued meanwhile at once, until closed."""
        while (first := self._queue.get()) is not None:
            group = [first]
            while len(group) < self.max_group:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # closing: carry out what came before it, then stop
                    break
                group.append(more)
            live = [q for q in group if q.answer.set_running_or_notify_cancel() and not q.progress.abandoned]
            for q in group:
                if q not in live and not q.answer.done():
                    q.answer.set_exception(_Abandoned())
            try:
                with self._writer:
                    self._commit(live)
            except BaseException as error:  # noqa: BLE001 - every caller gets an answer; the writer goes on
                for q in live:
                    if not q.answer.done():
                        q.answer.set_exception(error)

    def _commit(self, group: list[_Queued]) -> None:
        """Carries out the group's commands, in one transaction where it can; answers each caller."""
        while len(group) > 1:
            with self._batch_scope() as batch:
                refused = self._decide_together(batch, group)
            if refused is not None:
                # Its changes may be half made on state the others share: decide them again without it.
                group = [q for q in group if q is not refused]
                continue
            if self._save_together(batch, group):
                return
            break  # another process wrote one of these aggregates meanwhile: one at a time, with retries
        for q in group:
            _settle(q, functools.partial(q.attempt_alone, self))

    def _decide_together(self, batch: Batch, group: list[_Queued]) -> _Queued | None:
        """Decides each command on the state the ones before it left; the first refused is answered
        and returned (its checks and idempotency are its own: `_in_batch`, as in a batch)."""
        for q in group:
            try:
                self._in_batch(batch, q.command, q.actor, q.record_id, q.fingerprint, q.decide)
            except Exception as error:
                reason = None if isinstance(error, (StoreFault, Conflict)) else fault_of(error)
                q.answer.set_exception(self._fault(q.command, reason, appended=False) if reason else error)
                return q
        for q in group:
            try:
                q.progress.begin_saving()
            except _Abandoned as error:  # its caller was answered that nothing was appended
                q.answer.set_exception(error)
                return q
        return None

    def _save_together(self, batch: Batch, group: list[_Queued]) -> bool:
        """Saves the group's decisions in one transaction and answers each caller; False when a
        concurrent write from elsewhere clashed and nothing was appended."""
        aggregates = [a for a in batch.loaded.values() if a.pending_events]
        pending = [event for a in aggregates for event in a.pending_events]
        recordings: list[Recording[UUID]] | None = None
        if pending:
            try:
                recordings = self._save(aggregates)
            except IntegrityError:
                if not self._stored_as_is(pending[0]):
                    return False
            except Exception as error:
                reason = fault_of(error)
                try:
                    stored: bool | None = self._stored_as_is(pending[0])
                except Exception:
                    stored = None  # the store cannot tell now
                if not stored:
                    rolled_back = reason in (READ_ONLY, DISK_FULL) or self._local_store()
                    appended = False if stored is False and rolled_back else None
                    for q in group:
                        q.answer.set_exception(self._fault(q.command, reason, appended=appended) if reason else error)
                    return True
                log.warning("a group's save failed (%s), but its events are in the log", reason)
            else:
                self._keep_saved(aggregates, recordings)
        head = (
            max(r.notification.id for r in recordings) if recordings else self.app.recorder.max_notification_id() or 0
        )
        for q, step in zip(group, batch.steps, strict=True):
            q.answer.set_result(_placed_step(step, recordings, head))
        return True

    def _attempt(
        self,
        command: str,
        actor: Actor,
        record_id: UUID | None,
        fingerprint: str | None,
        decide: Decision,
        progress: _Progress,
    ) -> Receipt:
        try:
            if record_id is not None and (prior := self._replay(record_id, fingerprint)) is not None:
                return prior
            for attempt in range(self.max_attempts):
                aggregates, entity_id = decide()
                if record_id is not None:
                    assert fingerprint is not None
                    aggregates.append(self._record(record_id, actor, command, fingerprint, entity_id))
                pending = [event for aggregate in aggregates for event in aggregate.pending_events]
                progress.begin_saving()  # raises if the caller was answered TIMED_OUT meanwhile
                try:
                    recordings = self._save(aggregates)
                except IntegrityError:
                    progress.saving = False
                    if pending and self._stored_as_is(pending[0]):
                        # The library's own retry of a PostgreSQL insert found this very save
                        # committed by its earlier try, whose answer was lost: it is ours, not a replay.
                        return Receipt(position=self.app.recorder.max_notification_id() or 0, entity_id=entity_id)
                    if record_id is not None and (prior := self._replay(record_id, fingerprint)) is not None:
                        return prior
                    time.sleep(random.uniform(0, 0.005 * 2**attempt))
                    continue
                except Exception as error:
                    return self._after_failed_save(command, error, pending, entity_id)
                own = [r.notification.id for r in recordings if not isinstance(r.domain_event, _RECORDED)]
                self._keep_saved(aggregates, recordings)
                return Receipt(
                    position=max(r.notification.id for r in recordings),
                    entity_id=entity_id,
                    own_position=max(own, default=0),
                )
        except (StoreFault, Conflict):
            raise
        except Exception as error:
            # Before the save (loading, replaying): nothing can have been appended.
            if progress.saving or isinstance(error, _Abandoned):
                raise
            reason = fault_of(error)
            if reason is None:
                raise
            raise self._fault(command, reason, appended=False) from error
        raise Conflict(
            f"{command}: the record kept changing under concurrent writes and nothing was appended; "
            f"tried {self.max_attempts} times"
        )

    def _after_failed_save(self, command: str, error: Exception, pending: list[Any], entity_id: UUID) -> Receipt:
        """A save failed: find out, if the store lets us, whether it was appended all the same."""
        reason = fault_of(error)
        if reason is None:
            raise error
        try:
            stored: bool | None = bool(pending) and self._stored_as_is(pending[0])
        except Exception:
            stored = None  # the store cannot tell now
        if stored:
            log.warning("%s: the save failed (%s), but its events are in the log", command, reason)
            return Receipt(position=self.app.recorder.max_notification_id() or 0, entity_id=entity_id)
        # SQLite fails locally and rolls back at once, and a full or read-only PostgreSQL rolls the
        # transaction back; a connection lost during a PostgreSQL commit may still be committing.
        rolled_back = reason in (READ_ONLY, DISK_FULL) or self._local_store()
        raise self._fault(command, reason, appended=False if stored is False and rolled_back else None) from error

    def _fault(self, command: str, reason: str, *, appended: bool | None) -> Exception:
        if reason == BUSY and appended is False:
            return Conflict(
                f"{command}: the event store stayed busy and nothing was appended; send it again "
                "(with the same idempotency key it cannot be carried out twice)"
            )
        if appended is False:
            outcome = "nothing was appended; send it again when the store is back"
        else:
            outcome = (
                "it may have been appended; send it again with the same idempotency key, "
                "which cannot carry it out twice"
            )
        if reason == BUSY:
            reason = TIMED_OUT
        return StoreFault(reason, f"{command}: {_SAID[reason]}; {outcome}", may_have_appended=appended is not False)

    def _bounded(self, command: str, progress: _Progress, work: Callable[[], T]) -> T:
        """Runs `work` for at most the store deadline; past it, answers TIMED_OUT (the work goes on
        in its thread and may still append: the answer says so when the save had begun)."""
        if self.deadline is None:
            return work()
        future = self._executor().submit(work)
        try:
            return future.result(timeout=self.deadline)
        except FutureTimeout:
            future.add_done_callback(_log_late)
            saving = progress.abandon()  # from now on the work will not begin a save
            raise self._fault(command, TIMED_OUT, appended=None if saving else False) from None

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=48, thread_name_prefix="rectify-store")
            return self._pool

    # -- several commands, one transaction -------------------------------------------------------

    @contextmanager
    def _batch_scope(self) -> Iterator[Batch]:
        if self._batch() is not None:
            raise RuntimeError("batches do not nest")
        batch = Batch()
        self._local.batch = batch
        try:
            yield batch
        finally:
            self._local.batch = None

    def batch(self, work: Callable[[], T], *, creating: Collection[UUID] = ()) -> tuple[T, list[Receipt]]:
        """Runs `work`, whose commands are decided as usual (same checks, same idempotency) but
        saved together in one transaction when it returns; their receipts, with positions, come
        back in order. Nothing is appended if `work` raises. On a concurrent write the whole work
        is done again on the new state. `creating`: ids of aggregates the work means to create,
        whose absence the store is asked about once, up front, rather than by each command."""
        from rectify.persistence import unrecorded

        for attempt in range(self.max_attempts):
            with self._batch_scope() as batch:
                batch.absent = unrecorded(self.app.recorder, creating)
                result = work()
            aggregates = [a for a in batch.loaded.values() if a.pending_events]
            pending = [event for a in aggregates for event in a.pending_events]
            if not pending:
                return result, [step.receipt for step in batch.steps]
            progress = _Progress(saving=True)
            try:
                recordings = self._bounded("import", progress, functools.partial(self._save, aggregates))
            except IntegrityError:
                if self._stored_as_is(pending[0]):
                    return result, self._placed(batch, None)
                time.sleep(random.uniform(0, 0.005 * 2**attempt))
                continue
            except (StoreFault, Conflict):
                raise
            except Exception as error:
                self._after_failed_save("import", error, pending, UUID(int=0))
                return result, self._placed(batch, None)
            self._keep_saved(aggregates, recordings)
            return result, self._placed(batch, recordings)
        raise Conflict(
            f"import: the record kept changing under concurrent writes and nothing was appended; "
            f"tried {self.max_attempts} times"
        )

    def _save(self, aggregates: list[Aggregate]) -> list[Recording[UUID]]:
        """Saves in one transaction; on SQLite in turn with this process's other writers of the file
        (the views, the integrity tables), so that none waits in SQLite's busy handler."""
        if self._sqlite_path is None:
            return list(self.app.save(*aggregates))
        lock = sqlite_write_lock(self._sqlite_path)
        if not lock.acquire(timeout=-1 if self.deadline is None else self.deadline):
            raise sqlite3.OperationalError("database is locked: another writer in this process held it too long")
        try:
            return list(self.app.save(*aggregates))
        finally:
            lock.release()

    def _placed(self, batch: Batch, recordings: list[Recording[UUID]] | None) -> list[Receipt]:
        head = self.app.recorder.max_notification_id() or 0
        # Each event's log position, looked up by the event itself: a batch of thousands of steps
        # must not scan every recording for every step.
        positions = {id(r.domain_event): r.notification.id for r in recordings or ()}
        return [
            replace(step.receipt, position=max(positions[id(e)] for e in step.events) if recordings else head)
            if step.events
            else replace(step.receipt, position=head)
            for step in batch.steps
        ]

    def _in_batch(
        self,
        batch: Batch,
        command: str,
        actor: Actor,
        record_id: UUID | None,
        fingerprint: str | None,
        decide: Decision,
    ) -> Receipt:
        if record_id is not None:
            if record_id in batch.records:
                earlier, entity_id = batch.records[record_id]
                if earlier != fingerprint:
                    raise InvalidInput("idempotency_key", f"was already used for a different {command} request")
                return self._step(batch, Receipt(position=0, entity_id=entity_id, replayed=True), [])
            if (prior := self._replay(record_id, fingerprint)) is not None:
                return self._step(batch, prior, [])
        aggregates, entity_id = decide()
        events = []
        for aggregate in aggregates:
            batch.loaded.setdefault(aggregate.id, aggregate)
            events.extend(aggregate.pending_events[batch.attributed.get(aggregate.id, 0) :])
            batch.attributed[aggregate.id] = len(aggregate.pending_events)
        if record_id is not None:
            assert fingerprint is not None
            record = self._record(record_id, actor, command, fingerprint, entity_id)
            batch.loaded[record_id] = record
            batch.records[record_id] = (fingerprint, entity_id)
            events.extend(record.pending_events)
        return self._step(batch, Receipt(position=0, entity_id=entity_id), events)

    @staticmethod
    def _step(batch: Batch, receipt: Receipt, events: list[Any]) -> Receipt:
        batch.steps.append(_Step(receipt, events))
        return receipt

    def _local_store(self) -> bool:
        """SQLite: a save that failed was rolled back before the failure was raised (no retries)."""
        from eventsourcing.sqlite import SQLiteApplicationRecorder

        return isinstance(self.app.recorder, SQLiteApplicationRecorder)

    def _batch(self) -> Batch | None:
        return getattr(self._local, "batch", None)

    # -- idempotency ----------------------------------------------------------------------------

    @staticmethod
    def _record(record_id: UUID, actor: Actor, command: str, fingerprint: str, entity_id: UUID) -> Aggregate:
        return idempotency.CommandRecord.record(
            record_id=record_id, actor=str(actor), command=command, fingerprint=fingerprint, entity_id=entity_id
        )

    def _stored_as_is(self, event: Any) -> bool:
        """Whether the log holds this very event (same aggregate, version, type, time and payload),
        not another writer's event at its version."""
        ours = self.app.mapper.to_stored_event(event)
        found = self.app.recorder.select_events(ours.originator_id, gt=ours.originator_version - 1, limit=1)
        return bool(found) and (found[0].originator_version, found[0].topic, found[0].state) == (
            ours.originator_version,
            ours.topic,
            ours.state,
        )

    def _replay(self, record_id: UUID, fingerprint: str | None) -> Receipt | None:
        try:
            record: idempotency.CommandRecord = self.app.repository.get(record_id)
        except AggregateNotFoundError:
            return None
        if record.fingerprint != fingerprint:
            raise InvalidInput("idempotency_key", f"was already used for a different {record.command} request")
        # The same position as the first answer: the record was the last event its command saved. (A store
        # this recorder cannot ask answers with the head, which holds the write too.)
        position = position_of(self.app.recorder, record_id) or self.app.recorder.max_notification_id() or 0
        return Receipt(position=position, entity_id=record.entity_id, replayed=True)


_RECORDED = idempotency.CommandRecord.Recorded


class _Abandoned(Exception):
    """The caller was answered TIMED_OUT, nothing appended, before this work began its save."""


class _Progress:
    """Whether a command's save has begun, and whether its caller stopped waiting: the two are
    decided under one lock, so that a TIMED_OUT answer saying nothing was appended stays true."""

    def __init__(self, *, saving: bool = False) -> None:
        self.saving = saving
        self._abandoned = False
        self._lock = threading.Lock()

    @property
    def abandoned(self) -> bool:
        return self._abandoned

    def begin_saving(self) -> None:
        with self._lock:
            if self._abandoned:
                raise _Abandoned
            self.saving = True

    def abandon(self) -> bool:
        """Marks the work abandoned; whether its save had begun."""
        with self._lock:
            self._abandoned = True
            return self.saving


def _copy(aggregate: Any) -> Any:
    """A copy a command may change: the domain's state is immutable values (tuples, frozen
    dataclasses), rebound by its events, so a shallow copy with its own pending events will do."""
    fresh = copy.copy(aggregate)
    fresh.__dict__["_pending_events"] = []
    return fresh


def _settle(queued: _Queued, work: Callable[[], Receipt]) -> None:
    try:
        queued.answer.set_result(work())
    except Exception as error:  # noqa: BLE001 - the caller's answer
        queued.answer.set_exception(error)


def _placed_step(step: _Step, recordings: list[Recording[UUID]] | None, head: int) -> Receipt:
    """A grouped command's receipt once the group is saved: the positions of its own events; a replay
    (or a group the log shows committed after a lost answer) at the head."""
    if not step.events or recordings is None:
        return replace(step.receipt, position=head)
    ids = {id(event) for event in step.events}
    mine = [r for r in recordings if id(r.domain_event) in ids]
    own = [r.notification.id for r in mine if not isinstance(r.domain_event, _RECORDED)]
    return replace(step.receipt, position=max(r.notification.id for r in mine), own_position=max(own, default=0))


def _log_late(future: Any) -> None:
    error = future.exception()
    if error is not None:
        log.warning("a command that had timed out failed later: %s", error)
    else:
        log.warning("a command that had timed out was carried out later, at position %s", future.result().position)
