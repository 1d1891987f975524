"""Verification: the tree recomputed from the stored bytes, against the stored leaves and the signed heads.

The signed tree heads are what an attacker with write access to the database cannot forge; the stored
leaves beside the events are what lets verification say *where* and *what*: at the first position where
the log and its leaves part, it looks around (where else an event or its bytes were sealed, what the
aggregate's history still holds) and names the kind of damage — edited, swapped, missing, inserted,
reordered — in words. Events and leaf hashes rewritten together, consistently, are caught by the first
tree head after them, which narrows the damage to the positions between two heads.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from hashlib import sha256
from itertools import islice
from uuid import UUID

from rectify.integrity.keys import Checkpoint, PublicKey
from rectify.integrity.leaves import (
    Leaf,
    StoredEvent,
    Undecodable,
    actor_digest,
    leaf_hash_of,
    record_facts,
    recorded_at_text,
)
from rectify.integrity.merkle import EMPTY_ROOT, Frontier
from rectify.integrity.store import LogStore, Reader, SealState
from rectify.projections.fold import paused_garbage_collection


@dataclass(frozen=True)
class Problem:
    """The first bad position, and what is wrong there."""

    position: int
    kind: str  # edited, swapped, missing, inserted, reordered, replaced, rewritten, forged head, ...
    detail: str

    def __str__(self) -> str:
        return f"position {self.position}: {self.kind}: {self.detail}"


@dataclass
class Report:
    """What a verification read and found."""

    from_position: int = 0
    events: int = 0  # events whose leaves were recomputed from their stored bytes
    size: int = 0  # leaves in the tree (sealed events)
    root: bytes = EMPTY_ROOT
    sealed_position: int = 0  # the last sealed position
    head: int = 0  # the last position of the log
    unsealed: int = 0  # events after the last sealed position (the tail the sealer has not reached)
    checkpoints: int = 0
    signatures: int = 0  # heads whose signature verified with the key given
    unsigned: int = 0
    key: str | None = None  # the fingerprint of the key signatures were checked with
    origin: str | None = None
    problem: Problem | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None


def describe(event: StoredEvent) -> str:
    return f"{event.type} (version {event.version} of {_aggregate(event.aggregate_id)})"


def describe_leaf(leaf: Leaf) -> str:
    return f"version {leaf.version} of {_aggregate(leaf.aggregate_id)}"


def _aggregate(raw: bytes) -> str:
    return f"aggregate {UUID(bytes=raw)}" if len(raw) == 16 else "an aggregate whose id is not a UUID"


class HeadCheck:
    """Grows the tree leaf by leaf and holds it against every tree head at that head's size: root, last
    position, origin and (given the public key) signature."""

    def __init__(self, checkpoints: Iterable[Checkpoint], key: PublicKey | None, origin: str, report: Report) -> None:
        self.pending = deque(sorted(checkpoints, key=lambda c: c.head.size))
        self.key = key
        self.origin = origin
        self.report = report
        self.frontier = Frontier()
        self.covered = 0  # the last position a good head covers
        report.checkpoints = len(self.pending)
        report.key = key.fingerprint if key else None

    def start(self) -> Problem | None:
        return self._heads_at(0)

    def add(self, leaf_hash: bytes, position: int) -> Problem | None:
        self.frontier.append(leaf_hash)
        return self._heads_at(position) if self.pending and self.pending[0].head.size == self.frontier.size else None

    def _heads_at(self, position: int) -> Problem | None:
        while self.pending and self.pending[0].head.size == self.frontier.size:
            problem = self._check(self.pending.popleft(), position)
            if problem:
                return problem
        return None

    def _check(self, checkpoint: Checkpoint, position: int) -> Problem | None:
        head = checkpoint.head
        named = f"the tree head of size {head.size} (written {head.signed_at})"
        if self.key is not None and checkpoint.signed:
            if checkpoint.key_fingerprint != self.key.fingerprint:
                return Problem(
                    head.position, "forged head", f"{named} is signed by another key ({checkpoint.key_fingerprint})"
                )
            if not self.key.verifies(checkpoint):
                return Problem(
                    head.position,
                    "forged head",
                    f"the signature of {named} does not verify with {self.key.fingerprint}",
                )
            self.report.signatures += 1
        elif not checkpoint.signed:
            self.report.unsigned += 1
        if head.origin != self.origin:
            return Problem(head.position, "forged head", f"{named} belongs to another log ({head.origin!r})")
        if head.root != self.frontier.root():
            return Problem(
                self.covered + 1,
                "rewritten",
                f"the log between positions {self.covered + 1} and {position} does not give {named}: events "
                "were rewritten together with their leaf hashes",
            )
        if head.position != position:
            return Problem(position, "forged head", f"{named} says its last leaf is at position {head.position}")
        self.covered = position
        return None

    def finish(self, sealed_position: int) -> Problem | None:
        """Heads beyond the end of the tree: sealed events (and their leaves) were removed at the end."""
        if not self.pending:
            return None
        head = self.pending[0].head
        return Problem(
            sealed_position + 1,
            "missing",
            f"the tree head of size {head.size} covers positions up to {head.position}, but the sealed log ends at "
            f"size {self.frontier.size} (position {sealed_position}): events were removed from the end",
        )


def verify_store(store: LogStore, *, key: PublicKey | None = None, from_position: int = 0) -> Report:
    """Verifies the log of a store in one snapshot (safe while the server appends)."""
    with store.snapshot() as reader, paused_garbage_collection():  # many objects, no cycles: as in a rebuild
        return _StoreVerification(reader, key, from_position).run()


class _StoreVerification:
    def __init__(self, reader: Reader, key: PublicKey | None, from_position: int) -> None:
        self.reader = reader
        self.key = key
        self.report = Report(from_position=from_position)
        self.suspect: StoredEvent | None = None  # bytes as sealed, yet another leaf hash

    def run(self) -> Report:
        report, reader = self.report, self.reader
        report.head = reader.head()
        seal = reader.seal_state()
        if seal is None:
            report.problem = self._tail(reader.events(0))
            return report
        report.origin = seal.origin
        heads = HeadCheck(reader.checkpoints(), self.key, seal.origin, report)
        report.problem = (
            heads.start()
            or self._sealed(heads, seal.size)
            or heads.finish(report.sealed_position)
            or self._seal_agrees(heads, seal)
            or self._tail(reader.events(report.sealed_position))
        )
        report.size, report.root = heads.frontier.size, heads.frontier.root()
        if self.key is not None and report.checkpoints and not report.signatures:
            report.notes.append(f"no tree head is signed by {self.key.fingerprint}")
        return report

    def _sealed(self, heads: HeadCheck, size: int) -> Problem | None:
        """The sealed part of the log, leaf by leaf; below --from the stored leaf hashes stand in for the
        events (still held against every head)."""
        start = self.report.from_position
        first = self.reader.first_leaf_at_or_after(start, size) if start > 1 else 0
        events = self.reader.events(max(start - 1, 0))
        event = next(events, None)
        expected, previous = 0, 0
        for leaf in self.reader.leaves(0):
            self.report.sealed_position = previous
            if leaf.leaf_index != expected:
                return Problem(
                    previous + 1, "leaves altered", f"leaf {expected} is missing from the stored leaf hashes"
                )
            if leaf.position <= previous:
                return Problem(leaf.position, "leaves altered", "the stored leaves are not in position order")
            if leaf.leaf_index < first:
                computed = leaf.hash
            else:
                if event is not None and event.position < leaf.position:
                    return self._suspicion(heads) or self._between(event, previous, leaf)
                if event is None or event.position > leaf.position:
                    return self._suspicion(heads) or self._missing(leaf)
                outcome = self._leaf_of(event, leaf)
                if isinstance(outcome, Problem):
                    return self._suspicion(heads) or outcome
                computed = outcome
                self.report.events += 1
                event = next(events, None)
            problem = heads.add(computed, leaf.position)
            if problem:
                return self._suspicion(heads, problem) or problem
            if self.suspect is not None and heads.covered >= self.suspect.position:
                return self._suspicion(heads)  # a good head covers it: the leaf hash was what changed
            expected, previous = expected + 1, leaf.position
        self.report.sealed_position = previous
        if expected != size:
            return Problem(
                previous + 1,
                "missing",
                f"the seal counts {size} sealed events, but the stored leaf hashes stop at {expected} (position "
                f"{previous}): leaves were removed",
            )
        return self._suspicion(heads)

    def _seal_agrees(self, heads: HeadCheck, seal: SealState) -> Problem | None:
        if heads.frontier != seal.frontier or seal.position != self.report.sealed_position:
            return Problem(
                self.report.sealed_position,
                "leaves altered",
                "the seal's tracking row does not match the tree its leaves make",
            )
        return None

    def _tail(self, events: Iterator[StoredEvent]) -> Problem | None:
        """Events after the last sealed position: not covered yet, but they must at least decode."""
        for event in events:
            try:
                record_facts(event.state)
            except Undecodable as error:
                return Problem(event.position, "undecodable", f"{describe(event)} is not sealed yet, and {error}")
            self.report.unsealed += 1
        return None

    # -- one leaf ----------------------------------------------------------------------------------

    def _leaf_of(self, event: StoredEvent, leaf: Leaf) -> bytes | Problem:
        """The leaf hash recomputed from the stored event, or what differs from what was sealed."""
        if event.aggregate_id != leaf.aggregate_id or event.version != leaf.version:
            return self._other_event(event, leaf)
        digest = sha256(event.state).digest()
        if digest != leaf.state_digest:
            return self._changed_bytes(event, leaf, digest)
        # The bytes are the sealed ones, so the record time in them is the one sealed: no need to decode.
        computed = leaf_hash_of(
            event.position, event.aggregate_id, event.version, leaf.recorded_at, event.topic, digest
        )
        if computed != leaf.hash and self.suspect is None:
            # The topic was changed, or the stored leaf hash was: the next head tells which.
            self.suspect = event
        return computed

    def _suspicion(self, heads: HeadCheck, problem: Problem | None = None) -> Problem | None:
        """What a leaf hash that differs over unchanged bytes meant, once the next head has spoken."""
        event = self.suspect
        if event is None:
            return None
        if problem is None and heads.covered >= event.position:
            return Problem(
                event.position, "leaves altered", f"the stored leaf hash of {describe(event)} was changed; the "
                "event itself still matches the signed tree head"
            )  # fmt: skip
        if problem is not None and problem.kind == "rewritten":
            return Problem(
                event.position, "edited", f"the topic of {describe(event)} was changed (now {event.topic!r})"
            )
        return Problem(
            event.position, "edited", f"the topic (now {event.topic!r}) or the stored leaf hash of {describe(event)} "
            "was changed"
        )  # fmt: skip

    def _changed_bytes(self, event: StoredEvent, leaf: Leaf, digest: bytes) -> Problem:
        elsewhere = [p for p in self.reader.leaves_with_state(digest) if p != event.position]
        if elsewhere:
            return Problem(
                event.position,
                "swapped",
                f"the stored bytes of {describe(event)} are those sealed at position {elsewhere[0]}",
            )
        try:
            recorded_at, actor = record_facts(event.state)
        except Undecodable as error:
            return Problem(event.position, "edited", f"the stored bytes of {describe(event)} were changed: {error}")
        changes = []
        if recorded_at != leaf.recorded_at:
            changes.append(
                f"its record time (sealed {recorded_at_text(leaf.recorded_at)}, now {recorded_at_text(recorded_at)})"
            )
        if actor_digest(actor) != leaf.actor_digest:
            changes.append(f"its actor (now {actor!r})")
        what = " and ".join(changes) if changes else "its payload bytes"
        return Problem(event.position, "edited", f"{what} changed in {describe(event)}")

    def _other_event(self, event: StoredEvent, leaf: Leaf) -> Problem:
        """The position holds another event than the one sealed there."""
        position = event.position
        sealed_at = [p for p in self.reader.leaves_of_event(event.aggregate_id, event.version) if p != position]
        now_at = [p for p in self.reader.positions_of_event(leaf.aggregate_id, leaf.version) if p != position]
        here = f"the event sealed here ({describe_leaf(leaf)})"
        if sealed_at and now_at:
            return Problem(
                position, "reordered", f"it holds {describe(event)}, sealed at position {sealed_at[0]}; {here} "
                f"now stands at position {now_at[0]}"
            )  # fmt: skip
        if sealed_at:
            return Problem(
                position, "missing", f"{here} is gone, and the events after it moved up: this position holds "
                f"{describe(event)}, sealed at position {sealed_at[0]}"
            )  # fmt: skip
        if now_at:
            return Problem(
                position, "inserted", f"it holds {describe(event)}, which was never sealed; {here} now stands at "
                f"position {now_at[0]}"
            )  # fmt: skip
        return Problem(position, "replaced", f"it holds {describe(event)}, which was never sealed, instead of {here}")

    def _between(self, event: StoredEvent, previous: int, leaf: Leaf) -> Problem:
        """An event at a position where nothing was sealed, inside the sealed part of the log."""
        sealed_at = [p for p in self.reader.leaves_of_event(event.aggregate_id, event.version) if p != event.position]
        if sealed_at:
            return Problem(
                event.position, "reordered", f"it holds {describe(event)}, sealed at position {sealed_at[0]}, where "
                "no event was sealed"
            )  # fmt: skip
        return Problem(
            event.position, "inserted", f"{describe(event)} was never sealed, yet stands between the sealed positions "
            f"{previous} and {leaf.position}"
        )  # fmt: skip

    def _missing(self, leaf: Leaf) -> Problem:
        """No event stands where this one was sealed."""
        now_at = self.reader.positions_of_event(leaf.aggregate_id, leaf.version)
        if now_at:
            return Problem(leaf.position, "reordered", f"the event sealed here ({describe_leaf(leaf)}) now stands at "
                           f"position {now_at[0]}")  # fmt: skip
        last = self.reader.last_version(leaf.aggregate_id)
        name = _aggregate(leaf.aggregate_id)
        if last is None:
            detail = f"version {leaf.version} of {name} was deleted, and with it every event of that aggregate"
        elif last < leaf.version:
            detail = f"the last event of {name} (version {leaf.version}) was deleted: its history now ends at {last}"
        else:
            detail = (
                f"version {leaf.version} of {name} was deleted from the middle of its history (it goes on to {last})"
            )
        return Problem(leaf.position, "missing", detail)


def verify_tail(store: LogStore, *, window: int = 1000) -> Problem | None:
    """The log's tail, cheaply: the last `window` sealed events recomputed from their stored bytes against their
    leaves (an edit, a deletion, an insertion or a reordering among them is named as `rectify verify` names it),
    the last head against the seal's frontier, and the events not sealed yet decoding. What a running server
    checks now and then; `rectify verify` checks the whole log against every signed head."""
    with store.snapshot() as reader:
        seal = reader.seal_state()
        check = _StoreVerification(reader, None, 0)
        if seal is None:  # never sealed: the last events must at least decode
            return check._tail(islice(reader.events(max(0, reader.head() - window)), window))
        if seal.frontier is None:
            return Problem(seal.position, "leaves altered", "the seal's tracking row is damaged")
        start = max(0, seal.size - window)
        before = reader.leaf(start - 1) if start else None
        previous = before.position if before else 0
        events = reader.events(previous)
        event = next(events, None)
        expected = start
        for leaf in reader.leaves(start):
            if leaf.leaf_index != expected:
                return Problem(
                    previous + 1, "leaves altered", f"leaf {expected} is missing from the stored leaf hashes"
                )
            if event is not None and event.position < leaf.position:
                return check._between(event, previous, leaf)
            if event is None or event.position > leaf.position:
                return check._missing(leaf)
            outcome = check._leaf_of(event, leaf)
            if isinstance(outcome, Problem):
                return outcome
            if outcome != leaf.hash:
                return Problem(
                    event.position, "edited", f"the topic (now {event.topic!r}) or the stored leaf hash of "
                    f"{describe(event)} was changed"
                )  # fmt: skip
            expected, previous = expected + 1, leaf.position
            event = next(events, None)
        if expected != seal.size:
            return Problem(previous + 1, "missing", f"the seal counts {seal.size} sealed events, the leaves {expected}")
        last = reader.last_checkpoint()
        if last is not None and last.head.size == seal.size and last.head.root != seal.frontier.root():
            return Problem(seal.position, "rewritten", "the last tree head does not match the sealed tree")
        return check._tail(islice(reader.events(seal.position), window))  # a stuck sealer's tail: its first events
