"""The sealer: the one sequential writer of the log's leaves and tree heads, following the log.

It follows the log the way the projector does, with tracking of its own (`rectify_seal`): it reads the
events after the last sealed position, computes their leaves and commits them, with the new frontier and
any tree head that falls due, in one transaction that first locks the tracking row. Two sealers (the API
process and a worker) therefore never both seal an event: the second finds the tracking moved and reads
again.

Chosen over sealing inside each append's own transaction because it leaves the write path (which another
part of rectify owns) untouched and keeps appends as fast as they were. What it means: an event is sealed
shortly after it is committed (the next pass of the runner: a poll interval on SQLite, a NOTIFY on
PostgreSQL), not in the same instant. Until then it is in the log's unsealed tail: `rectify verify` lists
it as such and checks that it decodes, but an edit made to it before it was sealed cannot be told from the
original. A publication (later) asks for a checkpoint, which seals up to the head first.

A tree head is written every `every_events` leaves and, when leaves were added since the last one, once
`every_seconds` have passed; `checkpoint()` writes one on demand. Heads are signed when a key is given;
without one they are written unsigned, and the sealer says so once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from rectify.integrity.keys import Checkpoint, SigningKey, TreeHead
from rectify.integrity.leaves import StoredEvent, Undecodable, seal_all
from rectify.integrity.merkle import Frontier, Subtrees, root_of
from rectify.integrity.store import LogStore, SealState, frontier_of, open_log_store
from rectify.integrity.watch import TailWatch
from rectify.projections.fold import paused_garbage_collection
from rectify.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sealed:
    """What one call sealed: the tree it left, and the heads it wrote."""

    leaves: int
    size: int
    position: int
    root: bytes
    checkpoints: tuple[Checkpoint, ...]


class Unsealable(Exception):
    """An event the sealer cannot seal (its bytes do not decode); the log's tail stays unsealed."""

    def __init__(self, position: int, reason: str) -> None:
        super().__init__(f"position {position} cannot be sealed: {reason}")
        self.position = position
        self.reason = reason


class Sealer:
    """Seals the log into the Merkle tree beside it and writes its tree heads."""

    def __init__(
        self,
        store: LogStore,
        *,
        key: SigningKey | None = None,
        every_events: int = 1000,
        every_seconds: float = 60.0,
        batch_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.key = key
        self.every_events = every_events
        self.every_seconds = every_seconds
        self.batch_size = batch_size
        self.clock = clock
        self.error: BaseException | None = None  # the last failure of `follow`, for whoever watches health
        self._set_up = False
        self._warned_unsigned = False
        self._reported: int | None = None
        self.subtrees = Subtrees()  # kept subtree roots, for proofs (they never change as the log grows)
        self.watch = TailWatch(store)  # the tail verified now and then as the sealer follows the log (/health)

    def close(self) -> None:
        self.store.close()

    def setup(self) -> None:
        if not self._set_up:
            self.store.setup()
            self._set_up = True

    # -- the runner's hook -----------------------------------------------------------------------

    def follow(self) -> None:
        """Seals what was appended since the last call. Never raises: a failure is logged and kept in
        `error`, and the views keep moving whatever happens here."""
        try:
            self.seal()
            self.error = None
            self.watch.maybe_check()
        except Unsealable as error:
            self.error = error
            if self._reported != error.position:  # once per stuck position, not once per poll
                self._reported = error.position
                log.error("the log cannot be sealed past position %d: %s", error.position, error.reason)
        except Exception as error:  # noqa: BLE001 - the runner must go on folding views; retried next pass
            self.error = error
            log.exception("sealing failed; will try again")

    # -- sealing ----------------------------------------------------------------------------------

    def seal(self, *, until: int | None = None) -> Sealed:
        """Seals every event up to the head (or up to position `until`), writing the heads that fall due.

        Raises Unsealable when an event's bytes do not decode; the events before it are sealed first.
        """
        self.setup()
        added: list[Checkpoint] = []
        count = 0
        while True:
            leaves, checkpoints, stuck, state = self._step(until)
            count += leaves
            added.extend(checkpoints)
            if stuck is not None:
                raise stuck
            if leaves == 0:
                return Sealed(count, state.size, state.position, frontier_of(state).root(), tuple(added))

    def checkpoint(self) -> Checkpoint:
        """Seals up to the head, then returns a tree head at that size: the one already written at it,
        or a new one made now."""
        self.seal()
        while True:
            with self.store.snapshot() as reader:
                state = reader.seal_state()
                last = reader.last_checkpoint()
            assert state is not None
            if last is not None and last.head.size == state.size:
                return last
            made = self._head(state.origin, frontier_of(state), state.position)
            with self.store.writing() as writer:
                current = writer.lock_seal()
                if current.size != state.size:
                    continue  # sealed further meanwhile: make the head at the new size
                writer.insert_checkpoints([made])
            return made

    def head_at(self, position: int) -> Checkpoint:
        """The tree head at a log position: the head of the tree of every event up to it, sealed first if
        it was not yet. A head already written at that size is the one returned; otherwise one is made now
        (signed when a key is set) and written beside the others. A publication records it.

        Raises Unsealable when an event up to `position` cannot be sealed: nothing can vouch for it."""
        self.seal(until=position)
        while True:
            with self.store.snapshot() as reader:
                state = reader.seal_state()
                assert state is not None
                size = reader.first_leaf_at_or_after(position + 1, state.size)
                existing = reader.checkpoint_at(size)
                if existing is not None:
                    return existing
                if size == state.size:
                    root, last = frontier_of(state).root(), state.position
                else:
                    root = root_of(reader.leaf_hashes(size))
                    found = reader.leaf(size - 1) if size else None
                    last = found.position if found else 0
            made = self._sign(TreeHead(origin=state.origin, size=size, position=last, root=root, signed_at=self._now()))
            with self.store.writing() as writer:
                writer.lock_seal()
                if writer.checkpoint_at(size) is not None:
                    continue  # written meanwhile (a periodic head, or another publication): take that one
                writer.insert_checkpoints([made])
            return made

    def recorded_head_at(self, position: int) -> Checkpoint | None:
        """The tree head written at the size of the tree up to `position`, if one was; writes nothing."""
        self.setup()
        with self.store.snapshot() as reader:
            state = reader.seal_state()
            if state is None:
                return None
            return reader.checkpoint_at(reader.first_leaf_at_or_after(position + 1, state.size))

    def _step(self, until: int | None) -> tuple[int, list[Checkpoint], Unsealable | None, SealState]:
        """One batch: read and hash outside the lock, then commit if nobody sealed meanwhile.

        The cyclic collector waits meanwhile, as in a rebuild: a batch makes many objects, no cycles."""
        with paused_garbage_collection():
            return self._batch(until)

    def _batch(self, until: int | None) -> tuple[int, list[Checkpoint], Unsealable | None, SealState]:
        while True:
            with self.store.snapshot() as reader:
                state = reader.seal_state()
                assert state is not None, "set the integrity tables up first"
                last = reader.last_checkpoint()
                events: list[StoredEvent] = []
                for event in reader.events(state.position, batch=self.batch_size):
                    if until is not None and event.position > until:
                        break
                    events.append(event)
                    if len(events) >= self.batch_size:
                        break
            frontier = frontier_of(state).copy()
            stuck: Unsealable | None = None
            try:
                leaves = seal_all(frontier.size, events)
            except Undecodable as error:
                leaves = error.leaves
                stuck = Unsealable(events[len(leaves)].position, str(error))
            checkpoints: list[Checkpoint] = []
            last_size = last.head.size if last else 0
            last_time = _seconds(last.head.signed_at) if last else None
            for leaf in leaves:
                frontier.append(leaf.hash)
                if frontier.size - last_size >= self.every_events:
                    checkpoints.append(self._head(state.origin, frontier, leaf.position))
                    last_size, last_time = frontier.size, self.clock()
            due = last_time is None or self.clock() - last_time >= self.every_seconds
            if frontier.size > last_size and due:
                position = leaves[-1].position if leaves else state.position
                checkpoints.append(self._head(state.origin, frontier, position))
            if not leaves and not checkpoints:
                return 0, [], stuck, state
            new_state = SealState(
                state.origin, frontier.size, leaves[-1].position if leaves else state.position, frontier
            )
            with self.store.writing() as writer:
                current = writer.lock_seal()
                if (current.size, current.position) != (state.size, state.position):
                    continue  # another sealer committed first: read again from where it got to
                writer.insert_leaves(leaves)
                writer.insert_checkpoints(checkpoints)
                writer.save_seal(new_state)
            return len(leaves), checkpoints, stuck, new_state

    def _now(self) -> str:
        return datetime.fromtimestamp(self.clock(), UTC).isoformat(timespec="microseconds")

    def _head(self, origin: str, frontier: Frontier, position: int) -> Checkpoint:
        return self._sign(
            TreeHead(origin=origin, size=frontier.size, position=position, root=frontier.root(), signed_at=self._now())
        )

    def _sign(self, head: TreeHead) -> Checkpoint:
        if self.key is not None:
            return self.key.sign(head)
        if not self._warned_unsigned:
            self._warned_unsigned = True
            log.warning(
                "tree heads are written unsigned: RECTIFY_SIGNING_KEY names no key (make one with `rectify keygen`)"
            )
        return Checkpoint(head)


def _seconds(iso: str) -> float | None:
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None


def open_sealer(settings: Settings) -> Sealer:
    """The sealer of the configured store, signing with the configured key (if any)."""
    integrity = settings.integrity
    key = SigningKey.load(integrity.signing_key) if integrity.signing_key else None
    return Sealer(
        open_log_store(settings.database),
        key=key,
        every_events=integrity.checkpoint_events,
        every_seconds=integrity.checkpoint_seconds,
    )
