"""Where the views live: tables beside the events (SQLite file or PostgreSQL schema). All view SQL is here.

Beside the ledger, rounds and units, a generation keeps three indexes of the log: the history index
(where each event of an aggregate sits), the timeline (record times per chunk of positions) and the
audience index (per audience, the positions of the events it may see: positions shown to the public
or a unit move only on what they may see).

Views are kept in generations: `rectify_g{N}_*` tables and one row of `rectify_views` per generation
holding its tracking position. The runner writes a batch of view changes and the new position in one
transaction, so a crash never double-counts or skips an event. A rebuild fills a fresh generation and
makes it live in one small transaction: readers never see a half-built view.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import threading
from abc import ABC, abstractmethod
from array import array
from bisect import bisect_right, insort
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import chain, islice, zip_longest
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from rectify.caching import BoundedCache, activities_bytes
from rectify.domain import Finding
from rectify.domain.values import Activities, Activity
from rectify.projections.fold import (
    CHUNK,
    VIEW_FORMAT,
    AnAggregate,
    Fold,
    State,
    StateCodec,
    paused_garbage_collection,
    scope_of,
)
from rectify.projections.ledger import LedgerRow
from rectify.projections.progress import Scope
from rectify.settings import Database
from rectify.sqlite_lock import sqlite_write_lock
from rectify.sqlite_readers import SQLiteReaders

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

PREFIX = "rectify_"
META = f"{PREFIX}views"
TABLES = ("aggregates", "ledger", "activities", "history", "timeline", "audience")
BULK = 5000  # rows per statement when a rebuild writes everything
WAL_LIMIT = 64 * 1024 * 1024  # bytes an SQLite WAL is cut back to after a checkpoint
WAL_CHECKPOINT = 16 * 1024 * 1024  # bytes of WAL past which the view writer checkpoints and truncates
#: A finding's activities are stored in chunks of this many, apart from its ledger row: recording one
#: rewrites the last chunk only, so the bytes written per activity stay bounded as its history grows,
#: and a rebuild still writes one row for most findings (a district finding has a dozen or fewer).
ACTIVITY_CHUNK = 16
#: The history index keeps an aggregate's event positions in chunks of this many versions: a new
#: event rewrites the last chunk only (at most 512 bytes), however long the aggregate's history.
HISTORY_CHUNK = 64


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of at most `size` items (itertools.batched arrives with Python 3.12)."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def table(generation: int, name: str) -> str:
    return f"{PREFIX}g{generation}_{name}"


def place_key(place: Sequence[int]) -> str:
    """A text key that sorts like the place: (2, 4, 1) → 002.004.001."""
    return ".".join(f"{n:03d}" for n in place)


def pack(positions: Sequence[int]) -> bytes:
    """An aggregate's event positions (version n at index n-1) as little-endian 64-bit integers."""
    packed = array("q", positions)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def unpack(data: bytes) -> list[int]:
    packed = array("q")
    packed.frombytes(bytes(data))
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tolist()


def joined(rows: Iterable[tuple[str, int, bytes]]) -> dict[UUID, list[int]]:
    """Per aggregate, the positions of its history-index chunks (aggregate id, chunk, packed), in chunk order."""
    histories: dict[UUID, list[int]] = {}
    for identifier, _, packed in sorted(rows, key=lambda row: (row[0], int(row[1]))):
        histories.setdefault(UUID(identifier), []).extend(unpack(packed))
    return histories


def cut_at(histories: dict[UUID, list[int]], position: int) -> dict[UUID, tuple[int, list[int]]]:
    """Per aggregate with an event at or before `position`: its version then, and the positions of
    its events up to it."""
    found: dict[UUID, tuple[int, list[int]]] = {}
    for identifier, positions in histories.items():
        version = bisect_right(positions, position)
        if version:
            found[identifier] = (version, positions[:version])
    return found


def schema_statements(generation: int, blob: str) -> list[str]:
    g: Callable[[str], str] = lambda name: table(generation, name)  # noqa: E731
    return [
        # rounds and units, folded; findings live in the ledger (keys: see index_statements)
        f"CREATE TABLE IF NOT EXISTS {g('aggregates')} (id TEXT NOT NULL, kind TEXT NOT NULL, "
        f"version INTEGER NOT NULL, position BIGINT NOT NULL, state {blob} NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {g('ledger')} (finding_id TEXT NOT NULL, round_id TEXT NOT NULL, "
        "unit_id TEXT NOT NULL, place TEXT NOT NULL, department TEXT, status TEXT NOT NULL, "
        f"disclosure TEXT NOT NULL, position BIGINT NOT NULL, row {blob} NOT NULL)",
        # a finding's activities, ACTIVITY_CHUNK to a row (chunk n holds activities n*ACTIVITY_CHUNK…);
        # position: the finding's position when the chunk was last written, at most its row's position
        f"CREATE TABLE IF NOT EXISTS {g('activities')} (finding_id TEXT NOT NULL, chunk INTEGER NOT NULL, "
        f"position BIGINT NOT NULL, activities {blob} NOT NULL)",
        # the history index: where each event of an aggregate sits in the log, by version
        # (chunk n holds versions n*HISTORY_CHUNK+1…)
        f"CREATE TABLE IF NOT EXISTS {g('history')} (aggregate_id TEXT NOT NULL, scope_id TEXT NOT NULL, "
        f"chunk INTEGER NOT NULL, positions {blob} NOT NULL)",
        # record times per chunk of positions, to map a record time to a position
        f"CREATE TABLE IF NOT EXISTS {g('timeline')} (chunk BIGINT NOT NULL, first_position BIGINT NOT NULL, "
        "last_position BIGINT NOT NULL, earliest BIGINT NOT NULL, latest BIGINT NOT NULL)",
        # per audience (rectify.access.audience_of) and chunk of positions, the events it may see
        f"CREATE TABLE IF NOT EXISTS {g('audience')} (audience TEXT NOT NULL, chunk BIGINT NOT NULL, "
        f"positions {blob} NOT NULL)",
    ]


def index_statements(generation: int) -> list[str]:
    """Keys and indexes: made after a rebuild's bulk load, which is faster than keeping them up meanwhile.
    The unique keys are what the upserts of later batches conflict on."""
    g: Callable[[str], str] = lambda name: table(generation, name)  # noqa: E731
    return [
        f"CREATE UNIQUE INDEX IF NOT EXISTS {g('aggregates_key')} ON {g('aggregates')} (id)",
        f"CREATE UNIQUE INDEX IF NOT EXISTS {g('ledger_key')} ON {g('ledger')} (finding_id)",
        f"CREATE UNIQUE INDEX IF NOT EXISTS {g('activities_key')} ON {g('activities')} (finding_id, chunk)",
        # the chunks written after a position (a read after a write): else every chunk of the finding is looked at
        f"CREATE INDEX IF NOT EXISTS {g('activities_written')} ON {g('activities')} (finding_id, position)",
        f"CREATE UNIQUE INDEX IF NOT EXISTS {g('history_key')} ON {g('history')} (aggregate_id, chunk)",
        f"CREATE UNIQUE INDEX IF NOT EXISTS {g('timeline_key')} ON {g('timeline')} (chunk)",
        f"CREATE UNIQUE INDEX IF NOT EXISTS {g('audience_key')} ON {g('audience')} (audience, chunk)",
        f"CREATE INDEX IF NOT EXISTS {g('ledger_round')} ON {g('ledger')} (round_id, place)",
        f"CREATE INDEX IF NOT EXISTS {g('ledger_unit')} ON {g('ledger')} (unit_id, place)",
        # a round's own aggregates by their first chunk (StoredView.round_at, on every read of a round whose views
        # moved on): on scope alone, every history chunk of every finding of the round was looked at, a cost
        # that grew with the round's history (2,000 chunks after the 30-minute soak)
        f"CREATE INDEX IF NOT EXISTS {g('history_scope')} ON {g('history')} (scope_id, chunk)",
    ]


#: A decoded ledger row holds about this many times the bytes of its pickle (objects, not bytes).
DECODED_PER_ENCODED_BYTE = 4
KEPT_ROWS_BYTES = 64 * 1024 * 1024
#: Of each finding, the ledger rows of this many positions are kept at most (the latest ones read).
KEPT_VERSIONS = 3
KEPT_ACTIVITIES_BYTES = 64 * 1024 * 1024


class KeptRows(BoundedCache[tuple[str, int], LedgerRow]):
    """Decoded ledger rows (activities attached) by (finding id, position), bounded by bytes.

    Of each finding only the last few positions read are kept: a request that began reading just
    before a write still finds the row as it was (StoredView.round_at), while under a stream of
    writes every superseded version kept would fill the cache with rows no one reads again."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(max_bytes)
        self._positions: dict[str, list[int]] = {}
        self._guard = threading.Lock()

    def offer(self, key: tuple[str, int], row: LedgerRow, nbytes: int) -> None:
        """Keeps the row, and drops the finding's rows older than the last KEPT_VERSIONS positions."""
        self.put(key, row, nbytes)
        finding_id, position = key
        with self._guard:
            positions = self._positions.setdefault(finding_id, [])
            if position not in positions:
                insort(positions, position)
            superseded = positions[:-KEPT_VERSIONS]
            del positions[:-KEPT_VERSIONS]
        for old in superseded:
            self.discard((finding_id, old))


class KeptActivities:
    """A finding's decoded activities at a position."""

    __slots__ = ("position", "activities")

    def __init__(self, position: int, activities: Activities) -> None:
        self.position = position
        self.activities = activities

    def rewritten(self, position: int, chunks: dict[int, tuple[Activity, ...]]) -> KeptActivities:
        """These activities at a later `position`, where `chunks` (by number) were written since: the
        activities before the first of them are shared, not copied, so a read after each write costs
        what was written, not the finding's history."""
        if not chunks:
            return KeptActivities(position, self.activities)
        kept = self.activities
        first, last = min(chunks), max(max(chunks), (len(kept) - 1) // ACTIVITY_CHUNK)
        return KeptActivities(
            position,
            kept.prefix(min(first * ACTIVITY_CHUNK, len(kept))).extended(
                chain.from_iterable(
                    chunks.get(n) or kept[n * ACTIVITY_CHUNK : (n + 1) * ACTIVITY_CHUNK] for n in range(first, last + 1)
                )
            ),
        )


class ViewStore(ABC):
    """The views' tables and their tracking positions; subclasses speak SQLite or PostgreSQL."""

    blob = "BLOB"
    least, greatest = "min", "max"  # of two values

    @staticmethod
    def appended(stored: str, new: str) -> str:
        """SQL joining two blobs (SQLite's || makes text of them)."""
        return f"CAST({stored} || {new} AS BLOB)"

    def __init__(self, codec: StateCodec) -> None:
        self.codec = codec
        self._texts: dict[UUID, str] = {}
        self.kept_rows = KeptRows(KEPT_ROWS_BYTES)
        #: per (generation, finding id), its activities at the last KEPT_VERSIONS positions read: a later
        #: read of the finding fetches and decodes only the chunks written since (the last one, usually)
        self.kept_activities: BoundedCache[tuple[int, str], tuple[KeptActivities, ...]] = BoundedCache(
            KEPT_ACTIVITIES_BYTES
        )

    # -- dialect ------------------------------------------------------------------------------

    @abstractmethod
    @contextmanager
    def writing(self, *, durable: bool = True) -> Iterator[Any]:
        """A write transaction's cursor; SQL uses `?` placeholders."""

    @abstractmethod
    @contextmanager
    def reading(self) -> Iterator[Any]:
        """A read transaction's cursor, seeing one consistent snapshot."""

    @abstractmethod
    def lock_tracking(self, cursor: Any, generation: int) -> int:
        """Reads a generation's tracking position, holding it against other writers until commit."""

    def lock_tracking_status(self, cursor: Any, generation: int) -> tuple[int, bool]:
        """Like lock_tracking, in the same statement: whether the generation is the live one (one
        generation is live at a time: swap_in retires the old one in the same transaction)."""
        # SQLite: BEGIN IMMEDIATE already holds the database's write lock.
        cursor.execute(f"SELECT position, status FROM {META} WHERE generation = ?", (generation,))
        position, status = cursor.fetchone()
        return int(position), status == "live"

    @contextmanager
    def pipelined(self, cursor: Any) -> Iterator[None]:
        """Statements whose results are not read are sent together, in one round trip (PostgreSQL)."""
        yield

    def position_of(self, cursor: Any, generation: int) -> int:
        """A generation's tracking position, as the cursor's snapshot sees it."""
        cursor.execute(f"SELECT position FROM {META} WHERE generation = ?", (generation,))
        return int(cursor.fetchone()[0])

    def lock_views(self, cursor: Any) -> None:
        """Serialises changes to the set of generations across processes (until the commit)."""

    def announce(self, cursor: Any, generation: int, position: int, scopes: Iterable[UUID] | None = None) -> None:
        """Tells other processes, on commit, that the live views reached `position` (and which
        rounds and units changed; None: any)."""

    def bulk_insert(self, cursor: Any, name: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        statement = f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
        for chunk in batched(rows, BULK):
            cursor.executemany(statement, chunk)

    def close(self) -> None:
        """Releases connections."""

    # -- generations --------------------------------------------------------------------------

    def setup(self) -> int:
        """Makes sure a live generation exists; returns it."""
        with self.writing() as cursor:
            self.lock_views(cursor)
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {META} (generation INTEGER PRIMARY KEY, position BIGINT NOT NULL, "
                "status TEXT NOT NULL, format INTEGER NOT NULL, updated_at TEXT NOT NULL)"
            )
            live = self._live_generation(cursor)
            if live is not None:
                return live
            self._create_tables(cursor, 1, indexes=True)
            cursor.execute(
                f"INSERT INTO {META} (generation, position, status, format, updated_at) VALUES (1, 0, 'live', ?, ?)",
                (VIEW_FORMAT, _now()),
            )
            return 1

    def is_stale(self) -> bool:
        """Whether the live views were written in an older format and must be rebuilt."""
        with self.reading() as cursor:
            cursor.execute(f"SELECT format FROM {META} WHERE status = 'live'")
            return any(int(f) != VIEW_FORMAT for (f,) in cursor.fetchall())

    def new_generation(self) -> int:
        with self.writing() as cursor:
            self.lock_views(cursor)
            cursor.execute(f"SELECT COALESCE(MAX(generation), 0) FROM {META}")
            generation = int(cursor.fetchone()[0]) + 1
            self._create_tables(cursor, generation, indexes=False)
            cursor.execute(
                f"INSERT INTO {META} (generation, position, status, format, updated_at) "
                "VALUES (?, 0, 'building', ?, ?)",
                (generation, VIEW_FORMAT, _now()),
            )
        return generation

    def finish_generation(self, generation: int, position: int) -> None:
        with self.writing(durable=False) as cursor:
            for statement in index_statements(generation):
                cursor.execute(statement)
            self.set_tracking(cursor, generation, position)

    def swap_in(self, generation: int) -> None:
        """Makes `generation` the live views in one transaction, and drops all but the last retired one."""
        with self.writing() as cursor:
            self.lock_views(cursor)
            position = self.lock_tracking(cursor, generation)
            cursor.execute(f"UPDATE {META} SET status = 'retired', updated_at = ? WHERE status = 'live'", (_now(),))
            cursor.execute(
                f"UPDATE {META} SET status = 'live', updated_at = ? WHERE generation = ?", (_now(), generation)
            )
            self.announce(cursor, generation, position)
        with self.writing() as cursor:
            cursor.execute(
                f"SELECT generation FROM {META} WHERE generation <> ? AND generation < ? "
                f"AND NOT (status = 'retired' AND generation = (SELECT MAX(generation) FROM {META} "
                "WHERE status = 'retired'))",
                (generation, generation),
            )
            for (old,) in cursor.fetchall():
                for name in TABLES:
                    cursor.execute(f"DROP TABLE IF EXISTS {table(old, name)}")
                cursor.execute(f"DELETE FROM {META} WHERE generation = ?", (old,))

    def generations(self) -> list[tuple[int, int, str]]:
        with self.reading() as cursor:
            cursor.execute(f"SELECT generation, position, status FROM {META} ORDER BY generation")
            return [(int(g), int(p), s) for g, p, s in cursor.fetchall()]

    def _live_generation(self, cursor: Any) -> int | None:
        cursor.execute(f"SELECT MAX(generation) FROM {META} WHERE status = 'live'")
        found = cursor.fetchone()[0]
        return None if found is None else int(found)

    def _create_tables(self, cursor: Any, generation: int, *, indexes: bool) -> None:
        for statement in schema_statements(generation, self.blob):
            cursor.execute(statement)
        if indexes:
            for statement in index_statements(generation):
                cursor.execute(statement)

    # -- writing ------------------------------------------------------------------------------

    def load_positions(self, cursor: Any, generation: int, ids: Iterable[UUID]) -> dict[UUID, list[int]]:
        """The known event positions of these aggregates (the history index)."""
        rows = []
        for chunk in batched([self._text(i) for i in ids], 500):
            cursor.execute(
                f"SELECT aggregate_id, chunk, positions FROM {table(generation, 'history')} "
                f"WHERE aggregate_id IN ({', '.join('?' for _ in chunk)})",
                chunk,
            )
            rows += cursor.fetchall()
        return joined(rows)

    def last_positions(self, cursor: Any, generation: int, ids: Iterable[UUID], position: int) -> dict[UUID, int]:
        """Per aggregate with an event at or before `position`, the position of the last such event: from its
        last two history-index chunks, where a recent `position` lies, and only otherwise from all of them.
        (Loading every chunk made each read just after a write cost the finding's whole history.)"""
        history = table(generation, "history")
        found: dict[UUID, int] = {}
        farther: list[UUID] = []
        for identifier in ids:
            cursor.execute(
                f"SELECT chunk, positions FROM {history} WHERE aggregate_id = ? ORDER BY chunk DESC LIMIT 2",
                (self._text(identifier),),
            )
            chunks = [(int(number), unpack(packed)) for number, packed in cursor.fetchall()]
            for _, positions in chunks:
                at = bisect_right(positions, position)
                if at:
                    found[identifier] = positions[at - 1]
                    break
            else:
                if chunks and chunks[-1][0] > 0:  # earlier chunks may hold it; with chunk 0 read, there is none
                    farther.append(identifier)
        if farther:
            for identifier, (_, positions) in cut_at(
                self.load_positions(cursor, generation, farther), position
            ).items():
                found[identifier] = positions[-1]
        return found

    def load_last_chunks(self, cursor: Any, generation: int, versions: dict[UUID, int]) -> dict[UUID, list[int]]:
        """Per aggregate at a version (above 0), the positions held by the history-index chunk of that
        version: what a batch needs of its aggregates' histories, however long they are."""
        wanted = [(self._text(i), (v - 1) // HISTORY_CHUNK) for i, v in versions.items() if v > 0]
        found: dict[UUID, list[int]] = {}
        for chunk in batched(wanted, 200):
            cursor.execute(
                f"SELECT aggregate_id, positions FROM {table(generation, 'history')} WHERE "
                + " OR ".join("(aggregate_id = ? AND chunk = ?)" for _ in chunk),
                [value for key in chunk for value in key],
            )
            for identifier, positions in cursor.fetchall():
                found[UUID(identifier)] = unpack(positions)
        return found

    def write_changes(
        self, cursor: Any, generation: int, fold: Fold, last_chunks: dict[UUID, list[int]]
    ) -> dict[UUID, list[int]]:
        """Upserts what the fold changed; `last_chunks`: the changed aggregates' last history-index chunk
        before it (load_last_chunks). Returns each changed aggregate's last chunk as written."""
        changes = fold.take_changes()
        states = [fold.states[key] for key in changes.aggregates]
        cursor.executemany(
            f"INSERT INTO {table(generation, 'aggregates')} (id, kind, version, position, state) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET version = excluded.version, "
            "position = excluded.position, state = excluded.state",
            [self._state_values(s) for s in states if not isinstance(s.aggregate, Finding)],
        )
        cursor.executemany(
            f"INSERT INTO {table(generation, 'ledger')} ({', '.join(LEDGER_COLUMNS)}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (finding_id) DO UPDATE SET "
            "department = excluded.department, status = excluded.status, position = excluded.position, "
            "row = excluded.row",
            [self._ledger_values(r) for r in fold.ledger_rows(changes.aggregates, with_activities=False)],
        )
        cursor.executemany(
            f"INSERT INTO {table(generation, 'activities')} (finding_id, chunk, position, activities) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (finding_id, chunk) DO UPDATE SET position = excluded.position, "
            "activities = excluded.activities",
            [
                values
                for key in changes.aggregates
                if isinstance((state := fold.states[key]).aggregate, Finding)
                for values in self._activity_values(state, changes.activities_before.get(key, ()))
            ],
        )
        history = []
        written: dict[UUID, list[int]] = {}
        for changed, new in changes.positions.items():
            aggregate = fold.states[changed].aggregate
            before = aggregate.version - len(new)
            first = before // HISTORY_CHUNK  # the chunk of the first new version
            earlier = last_chunks.get(aggregate.id, [])[: before - first * HISTORY_CHUNK]
            positions = earlier + new
            history += self._history_values(fold.states[changed], first, positions)
            written[aggregate.id] = positions[(len(positions) - 1) // HISTORY_CHUNK * HISTORY_CHUNK :]
        cursor.executemany(
            f"INSERT INTO {table(generation, 'history')} (aggregate_id, scope_id, chunk, positions) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (aggregate_id, chunk) DO UPDATE SET positions = excluded.positions",
            history,
        )
        # Timeline and audience chunks are merged with what is stored in the upserts themselves, not
        # read first: one statement each (and, on PostgreSQL, no round trip in the batch's pipeline).
        spans = changes.timeline
        timeline = table(generation, "timeline")
        cursor.executemany(
            f"INSERT INTO {timeline} (chunk, first_position, last_position, earliest, latest) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (chunk) DO UPDATE SET "
            f"first_position = {self.least}({timeline}.first_position, excluded.first_position), "
            f"last_position = {self.greatest}({timeline}.last_position, excluded.last_position), "
            f"earliest = {self.least}({timeline}.earliest, excluded.earliest), "
            f"latest = {self.greatest}({timeline}.latest, excluded.latest)",
            [(c, s.first, s.last, s.earliest, s.latest) for c, s in spans.items()],
        )
        audience = table(generation, "audience")
        # A batch's positions all follow those stored: appending the packed bytes is appending them.
        cursor.executemany(
            f"INSERT INTO {audience} (audience, chunk, positions) VALUES (?, ?, ?) ON CONFLICT (audience, chunk) "
            f"DO UPDATE SET positions = {self.appended(f'{audience}.positions', 'excluded.positions')}",
            [
                (text, number, pack(positions))
                for (text, number), positions in self._audience_chunks(changes.audiences).items()
            ],
        )
        return written

    def _audience_chunks(self, audiences: dict[str | UUID, list[int]]) -> dict[tuple[str, int], list[int]]:
        """Positions per audience (as text) and chunk, in order."""
        chunks: dict[tuple[str, int], list[int]] = {}
        for audience, positions in audiences.items():
            text = audience if isinstance(audience, str) else self._text(audience)
            for position in positions:
                key = (text, position // CHUNK)
                found = chunks.get(key)
                if found is None:
                    chunks[key] = [position]
                else:
                    found.append(position)
        return chunks

    def write_all(self, cursor: Any, generation: int, fold: Fold) -> None:
        """Writes everything a fold holds into a generation's empty tables (a rebuild's last step)."""
        changes = fold.take_changes()
        self.bulk_insert(
            cursor,
            table(generation, "aggregates"),
            ("id", "kind", "version", "position", "state"),
            (self._state_values(s) for s in fold.states.values() if not isinstance(s.aggregate, Finding)),
        )
        self.bulk_insert(
            cursor,
            table(generation, "ledger"),
            LEDGER_COLUMNS,
            (self._ledger_values(r) for r in fold.ledger_rows(with_activities=False)),
        )
        self.bulk_insert(
            cursor,
            table(generation, "activities"),
            ("finding_id", "chunk", "position", "activities"),
            (
                values
                for state in fold.states.values()
                if isinstance(state.aggregate, Finding)
                for values in self._activity_values(state, ())
            ),
        )
        self.bulk_insert(
            cursor,
            table(generation, "history"),
            ("aggregate_id", "scope_id", "chunk", "positions"),
            (
                values
                for key, positions in changes.positions.items()
                for values in self._history_values(fold.states[key], 0, positions)
            ),
        )
        self.bulk_insert(
            cursor,
            table(generation, "timeline"),
            ("chunk", "first_position", "last_position", "earliest", "latest"),
            ((c, s.first, s.last, s.earliest, s.latest) for c, s in changes.timeline.items()),
        )
        self.bulk_insert(
            cursor,
            table(generation, "audience"),
            ("audience", "chunk", "positions"),
            ((a, c, pack(p)) for (a, c), p in self._audience_chunks(changes.audiences).items()),
        )

    def set_tracking(self, cursor: Any, generation: int, position: int) -> None:
        cursor.execute(
            f"UPDATE {META} SET position = ?, updated_at = ? WHERE generation = ?", (position, _now(), generation)
        )

    def _state_values(self, state: State) -> tuple[Any, ...]:
        aggregate = state.aggregate
        return (
            self._text(aggregate.id),
            type(aggregate).__name__,
            aggregate.version,
            state.position,
            self.codec.encode(aggregate),
        )

    def _activity_values(self, state: State, before: Sequence[Activity]) -> Iterator[tuple[Any, ...]]:
        """Rows of the chunks of a finding's activities that differ from `before` (its activities as
        last written). Activities are immutable: a recorded one is a new item, a retracted one a new
        object in its place. A sequence grown from `before` shares its chunks (Activities.startswith);
        any other (a retraction) is compared item by item in one pass over both, which decodes each
        packed chunk once and finds a packed activity equal where it is not the same object."""
        activities: Activities = state.aggregate.activities  # type: ignore[attr-defined] # a Finding
        count = len(activities)
        if isinstance(before, Activities) and activities.startswith(before):
            grew = count > len(before)
            changed: Iterable[int] = range(len(before) // ACTIVITY_CHUNK, -(-count // ACTIVITY_CHUNK)) if grew else ()
        else:
            pairs = enumerate(zip_longest(activities, before))
            changed = sorted(
                {i // ACTIVITY_CHUNK for i, (now, was) in pairs if i < count and now is not was and now != was}
            )
        text = self._text(state.aggregate.id)
        for number in changed:
            chunk = activities[number * ACTIVITY_CHUNK : (number + 1) * ACTIVITY_CHUNK]
            yield (text, number, state.position, self.codec.encode(chunk))

    def _history_values(self, state: State, first: int, positions: list[int]) -> list[tuple[Any, ...]]:
        """History-index rows of an aggregate: `positions` from the start of chunk `first` on."""
        identifier, scope = self._text(state.aggregate.id), self._text(scope_of(state.aggregate))
        return [
            (identifier, scope, first + n, pack(positions[start : start + HISTORY_CHUNK]))
            for n, start in enumerate(range(0, len(positions), HISTORY_CHUNK))
        ]

    def _ledger_values(self, row: LedgerRow) -> tuple[Any, ...]:
        return (
            self._text(row.finding_id),
            self._text(row.round_id),
            self._text(row.unit_id),
            place_key(row.place),
            row.department,
            row.status.value,
            row.disclosure.value,
            row.position,
            self.codec.encode(row),
        )

    def _text(self, identifier: UUID) -> str:
        """str(UUID), remembered: the same ids recur on many rows of a rebuild."""
        try:
            return self._texts[identifier]
        except KeyError:
            if len(self._texts) > 200_000:
                self._texts.clear()
            text = self._texts[identifier] = str(identifier)
            return text

    # -- reading ------------------------------------------------------------------------------

    @contextmanager
    def snapshot(self) -> Iterator[StoredView]:
        """The live views as one consistent snapshot, with the position they are at."""
        with self.reading() as cursor:
            generation = self._live_generation(cursor)
            if generation is None:
                raise LookupError("the views are not set up; run the projection runner or `rectify rebuild`")
            yield StoredView(self, cursor, generation, self.position_of(cursor, generation))

    def tracking_position(self) -> int:
        with self.snapshot() as view:
            return view.position


LEDGER_COLUMNS = ("finding_id", "round_id", "unit_id", "place", "department", "status", "disclosure", "position", "row")


class StoredView:
    """The persisted read models at one position; the same questions a FoldedView answers."""

    def __init__(self, store: ViewStore, cursor: Any, generation: int, position: int) -> None:
        self.store = store
        self.cursor = cursor
        self.generation = generation
        self.position = position

    def _t(self, name: str) -> str:
        return table(self.generation, name)

    def ledger(self, scope: Scope = Scope()) -> list[LedgerRow]:
        clauses, params = [], []
        for column, value in (
            ("round_id", scope.round_id),
            ("unit_id", scope.unit_id),
            ("department", scope.department),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(str(value))
        if scope.category is not None:
            clauses.append("(place = ? OR place LIKE ?)")
            params += [place_key(scope.category), place_key(scope.category) + ".%"]
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        self.cursor.execute(
            f"SELECT finding_id, position FROM {self._t('ledger')} {where} ORDER BY place, finding_id", params
        )
        return self._rows([(f, int(p)) for f, p in self.cursor.fetchall()])

    def finding(self, finding_id: UUID) -> LedgerRow | None:
        self.cursor.execute(
            f"SELECT finding_id, position FROM {self._t('ledger')} WHERE finding_id = ?", (str(finding_id),)
        )
        found = self.cursor.fetchone()
        return None if found is None else self._rows([(found[0], int(found[1]))])[0]

    def _rows(self, keys: list[tuple[str, int]]) -> list[LedgerRow]:
        """Ledger rows by (finding, position of its last event), their activities attached: a row at a
        position never changes, so rows decoded once are kept and only the others are read and decoded."""
        kept = self.store.kept_rows
        found = {key: row for key in keys if (row := kept.get(key)) is not None}
        missing = [key[0] for key in keys if key not in found]
        decode = self.store.codec.decode
        with paused_garbage_collection():
            for chunk in batched(missing, 500):
                self.cursor.execute(
                    f"SELECT finding_id, position, row FROM {self._t('ledger')} "
                    f"WHERE finding_id IN ({', '.join('?' for _ in chunk)})",
                    chunk,
                )
                decoded = [(f, int(p), bytes(row)) for f, p, row in self.cursor.fetchall()]
                activities = self._activities([(f, p) for f, p, _ in decoded])
                for finding_id, position, encoded in decoded:
                    key = (finding_id, position)
                    row = decode(encoded)
                    # Just decoded and not yet shared: fill the field in place (replace() copies every field).
                    object.__setattr__(row, "activities", activities[finding_id])
                    found[key] = row
                    kept.offer(key, row, len(encoded) * DECODED_PER_ENCODED_BYTE + 8 * len(row.activities))
        return [found[key] for key in keys]  # one snapshot: each key was found as it was asked for

    def _activities(self, rows: list[tuple[str, int]]) -> dict[str, Activities]:
        """The activities of these findings (id, position of the row read), from those kept at the latest
        position up to it and the chunks written since, or else all of the finding's chunks. Of each finding
        the last KEPT_VERSIONS positions read are kept: under concurrent requests, one that reads from a
        snapshot just older than another's still finds its base (it decoded the whole history before)."""
        kept = self.store.kept_activities
        found: dict[str, KeptActivities] = {}
        whole: list[str] = []
        later: list[tuple[str, KeptActivities]] = []
        for finding_id, position in rows:
            known = max(
                (v for v in kept.get((self.generation, finding_id), ()) if v.position <= position),
                key=lambda v: v.position,
                default=None,
            )
            if known is None:
                whole.append(finding_id)
            elif known.position == position:
                found[finding_id] = known
            else:
                later.append((finding_id, known))
        chunks: dict[str, dict[int, tuple[Activity, ...]]] = {f: {} for f in whole}
        decode = self.store.codec.decode
        t = self._t("activities")
        for part in batched(whole, 500):
            self.cursor.execute(
                f"SELECT finding_id, chunk, activities FROM {t} WHERE finding_id IN ({', '.join('?' for _ in part)})",
                part,
            )
            for finding_id, number, activities in self.cursor.fetchall():
                chunks[finding_id][int(number)] = decode(bytes(activities))
        positions = dict(rows)
        fresh: dict[str, KeptActivities] = {
            finding_id: KeptActivities(
                positions[finding_id], Activities(chain.from_iterable(chunk for _, chunk in sorted(by_number.items())))
            )
            for finding_id, by_number in chunks.items()
        }
        for finding_id, known in later:
            self.cursor.execute(
                f"SELECT chunk, activities FROM {t} WHERE finding_id = ? AND position > ?", (finding_id, known.position)
            )
            written = {int(number): decode(bytes(activities)) for number, activities in self.cursor.fetchall()}
            fresh[finding_id] = known.rewritten(positions[finding_id], written)
        for finding_id, made in fresh.items():
            found[finding_id] = made
            if made.activities:
                key = (self.generation, finding_id)
                versions = {v.position: v for v in kept.get(key, ())} | {made.position: made}
                # The versions share their chunks: what they hold is about the latest one's activities.
                kept.put(
                    key,
                    tuple(sorted(versions.values(), key=lambda v: v.position)[-KEPT_VERSIONS:]),
                    activities_bytes(made.activities),
                )
        return {finding_id: known.activities for finding_id, known in found.items()}

    def aggregates(self, cls: type[AnAggregate]) -> list[AnAggregate]:
        self.cursor.execute(f"SELECT state FROM {self._t('aggregates')} WHERE kind = ? ORDER BY id", (cls.__name__,))
        return [self.store.codec.decode(bytes(state)) for (state,) in self.cursor.fetchall()]

    def aggregate(self, identifier: UUID) -> Aggregate | None:
        self.cursor.execute(f"SELECT state FROM {self._t('aggregates')} WHERE id = ?", (str(identifier),))
        found = self.cursor.fetchone()
        return None if found is None else self.store.codec.decode(bytes(found[0]))

    def versions_at(self, scope_ids: Iterable[UUID], position: int) -> dict[UUID, tuple[int, list[int]]]:
        """Per aggregate of these scopes with an event at or before `position`: its version then, and
        the positions of its events up to it (history index)."""
        ids = [str(i) for i in scope_ids]
        rows = []
        for chunk in batched(ids, 500):
            self.cursor.execute(
                f"SELECT aggregate_id, chunk, positions FROM {self._t('history')} "
                f"WHERE scope_id IN ({', '.join('?' for _ in chunk)})",
                chunk,
            )
            rows += self.cursor.fetchall()
        return cut_at(joined(rows), position)

    def settled(self, position: int) -> tuple[list[LedgerRow], list[State]]:
        """The ledger rows, and the rounds and units, whose last event is at or before `position`:
        as they are now, they are as they were then."""
        self.cursor.execute(f"SELECT finding_id, position FROM {self._t('ledger')} WHERE position <= ?", (position,))
        rows = self._rows([(f, int(p)) for f, p in self.cursor.fetchall()])
        self.cursor.execute(f"SELECT position, state FROM {self._t('aggregates')} WHERE position <= ?", (position,))
        decode = self.store.codec.decode
        return rows, [State(decode(bytes(state)), int(p)) for p, state in self.cursor.fetchall()]

    def round_at(
        self, round_id: UUID, position: int, read: Mapping[tuple[str, int], LedgerRow] = MappingProxyType({})
    ) -> tuple[list[LedgerRow], list[State], dict[UUID, tuple[int, list[int]]]] | None:
        """One round as of a recent `position`, from the views as they are now: its round, units and
        standing rules (None when one of them changed after `position`: ask for a replay), the ledger
        rows as they were then (unchanged since, or `read` by the caller or kept from a read at the time), and for the
        findings whose row then is not at hand, their version then and the positions of their events
        up to it, to fold again. A request that began just before a write reads its position so."""
        aggregates, history = self._t("aggregates"), self._t("history")
        decode = self.store.codec.decode
        self.cursor.execute(f"SELECT position, state FROM {aggregates} WHERE id = ?", (str(round_id),))
        found = self.cursor.fetchone()
        if found is None or int(found[0]) > position:
            return None
        scopes = [str(round_id), *(str(u) for u in decode(bytes(found[1])).unit_ids)]
        self.cursor.execute(
            f"SELECT a.position, a.state FROM {aggregates} a JOIN {history} h ON h.aggregate_id = a.id "
            f"AND h.chunk = 0 WHERE h.scope_id IN ({', '.join('?' for _ in scopes)})",
            scopes,
        )
        states = [(int(p), state) for p, state in self.cursor.fetchall()]
        if any(p > position for p, _ in states):
            return None
        self.cursor.execute(
            f"SELECT finding_id, position FROM {self._t('ledger')} WHERE round_id = ? ORDER BY place, finding_id",
            (str(round_id),),
        )
        listed = [(f, int(p)) for f, p in self.cursor.fetchall()]
        rows = self._rows([(f, p) for f, p in listed if p <= position])
        # A finding raised after `position` has no event up to it, and is left out.
        changed = self.store.last_positions(
            self.cursor, self.generation, [UUID(f) for f, p in listed if p > position], position
        )
        missing = []
        for finding_id, last in changed.items():
            key = (str(finding_id), last)
            row = read.get(key) or self.store.kept_rows.get(key)
            if row is None:
                missing.append(finding_id)
            else:
                rows.append(row)
        refold = cut_at(self.store.load_positions(self.cursor, self.generation, missing), position) if missing else {}
        return rows, [State(decode(bytes(state)), p) for p, state in states], refold

    def changed_after(self, position: int) -> dict[UUID, tuple[int, list[int]]]:
        """The aggregates with events both at or before `position` and after it: their version
        then, and the positions of their events up to it (history index)."""
        self.cursor.execute(
            f"SELECT finding_id FROM {self._t('ledger')} WHERE position > ? "
            f"UNION ALL SELECT id FROM {self._t('aggregates')} WHERE position > ?",
            (position, position),
        )
        ids = [UUID(i) for (i,) in self.cursor.fetchall()]
        return cut_at(self.store.load_positions(self.cursor, self.generation, ids), position)

    def positions_of(self, aggregate_id: UUID) -> list[int]:
        """The log position of each event of one aggregate, version 1 first."""
        self.cursor.execute(
            f"SELECT aggregate_id, chunk, positions FROM {self._t('history')} WHERE aggregate_id = ?",
            (str(aggregate_id),),
        )
        return joined(self.cursor.fetchall()).get(aggregate_id, [])

    def last_seen(self, audiences: Iterable[str], position: int) -> int:
        """The position of the last event at or before `position` that one of these audiences may
        see (audience index); 0 if there is none."""
        last = 0
        for audience in audiences:
            self.cursor.execute(
                f"SELECT positions FROM {self._t('audience')} WHERE audience = ? AND chunk <= ? "
                "ORDER BY chunk DESC LIMIT 2",
                (audience, position // CHUNK),
            )
            # The chunk of `position` may hold only later events; then the chunk before it has the answer.
            for (packed,) in self.cursor.fetchall():
                positions = unpack(packed)
                found = bisect_right(positions, position)
                if found:
                    last = max(last, positions[found - 1])
                    break
        return last

    def next_seen(self, audiences: Iterable[str], position: int) -> int | None:
        """The position of the first event after `position` that one of these audiences may see; None
        if the views hold none yet."""
        first: int | None = None
        for audience in audiences:
            self.cursor.execute(
                f"SELECT positions FROM {self._t('audience')} WHERE audience = ? AND chunk >= ? ORDER BY chunk LIMIT 2",
                (audience, position // CHUNK),
            )
            for (packed,) in self.cursor.fetchall():
                positions = unpack(packed)
                found = bisect_right(positions, position)
                if found < len(positions):
                    first = positions[found] if first is None else min(first, positions[found])
                    break
        return first

    def timeline(self, at: int) -> tuple[int, list[tuple[int, int]]]:
        """For a record time (µs): the last position of chunks wholly at or before it, and the
        ranges of chunks that straddle it (whose events must be looked at one by one)."""
        t = self._t("timeline")
        self.cursor.execute(f"SELECT MAX(last_position) FROM {t} WHERE latest <= ?", (at,))
        settled = self.cursor.fetchone()[0]
        self.cursor.execute(
            f"SELECT first_position, last_position FROM {t} WHERE earliest <= ? AND latest > ? ORDER BY chunk", (at, at)
        )
        return (0 if settled is None else int(settled)), [(int(a), int(b)) for a, b in self.cursor.fetchall()]

    def dump(self) -> dict[str, list[Any]]:
        """Every row of every view, pickles decoded (for comparing generations)."""
        decode = self.store.codec.decode
        tables: dict[str, list[Any]] = {}
        for name in TABLES:
            self.cursor.execute(f"SELECT * FROM {self._t(name)}")
            rows = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in self.cursor.fetchall()]
            if name in ("aggregates", "ledger"):
                rows = [(*r[:-1], decode(r[-1])) for r in rows]
            if name == "activities":
                # Without the position a chunk was written at: a rebuild writes every chunk at its
                # finding's last position, the runner at the position of the batch that changed it.
                rows = [(r[0], r[1], decode(r[-1])) for r in rows]
            if name in ("history", "audience"):
                rows = [(*r[:-1], unpack(r[-1])) for r in rows]
            tables[name] = sorted(rows, key=lambda r: tuple(str(v) for v in r[:-1]))
        return tables


def _now() -> str:
    return datetime.now(UTC).isoformat()


class SQLiteViewStore(ViewStore):
    """Views in the events' SQLite file; WAL lets readers run beside the single writer."""

    def __init__(self, codec: StateCodec, path: str) -> None:
        super().__init__(codec)
        self.path = path
        self._readers = SQLiteReaders(self._connect)
        self._writer: sqlite3.Connection | None = None
        self._write_lock = threading.Lock()
        self._commits = 0

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")  # a reset WAL is cut back to this
        # In WAL mode NORMAL syncs at checkpoints, not at each commit: a power cut may lose the last
        # batches of the views with their tracking position (one transaction), never the events, and
        # the runner folds them again. The events' own commits stay fully synced.
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        """Keeps the shared WAL bounded under sustained writes: SQLite's own checkpoints are passive
        and never shrink the file; past WAL_CHECKPOINT bytes it is written back and truncated
        (TRUNCATE waits for readers briefly, then gives up without harm)."""
        self._commits += 1
        if self._commits % 50:
            return
        try:
            size = os.path.getsize(f"{self.path}-wal")
        except OSError:
            return
        if size > WAL_CHECKPOINT:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._write_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None

    @contextmanager
    def writing(self, *, durable: bool = True) -> Iterator[Any]:
        with self._write_lock, sqlite_write_lock(self.path):
            if self._writer is None:
                self._writer = self._connect()
            conn = self._writer
            if not durable:
                conn.execute("PRAGMA synchronous=OFF")
            cursor = conn.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                conn.rollback()
                raise
            else:
                conn.commit()
                self._checkpoint(conn)
            finally:
                if not durable:
                    conn.execute("PRAGMA synchronous=NORMAL")

    @contextmanager
    def reading(self) -> Iterator[Any]:
        with self._readers.reading() as cursor:
            yield cursor

    def lock_tracking(self, cursor: Any, generation: int) -> int:
        return self.position_of(cursor, generation)  # BEGIN IMMEDIATE already holds the database's write lock


#: Seconds a listener waits for a NOTIFY before it looks at its stop event again: a feed or runner stopping
#: waits for its listener, and at 1 s each PostgreSQL system took about a second to close.
LISTEN_POLL = 0.1


class PostgresViewStore(ViewStore):
    """Views in the events' PostgreSQL schema; commits are announced with NOTIFY."""

    blob = "BYTEA"
    least, greatest = "LEAST", "GREATEST"

    @staticmethod
    def appended(stored: str, new: str) -> str:
        return f"{stored} || {new}"

    def __init__(self, codec: StateCodec, database: Database) -> None:
        super().__init__(codec)
        from psycopg import IsolationLevel
        from psycopg_pool import ConnectionPool

        self.database = database
        self.channel = f"rectify_views_{database.schema}"
        options = f"-c search_path={database.schema} {database.statement_options()}"

        def configure_reader(conn: Any) -> None:
            conn.isolation_level = IsolationLevel.REPEATABLE_READ

        # Each pooled connection is checked before use, so none left dead by an outage is handed out.
        self.readers = ConnectionPool(
            database.psycopg_conninfo(),
            kwargs={"options": options},
            min_size=1,
            max_size=8,
            configure=configure_reader,
            check=ConnectionPool.check_connection,
            timeout=database.timeouts.store,
            open=True,
        )
        # The views' commits need not wait for the disk: a crash may lose the last batches with their
        # tracking position (one transaction), and the runner folds them again from the log.
        self.writers = ConnectionPool(
            database.psycopg_conninfo(),
            kwargs={"options": f"{options} -c synchronous_commit=off"},
            min_size=1,
            max_size=2,
            check=ConnectionPool.check_connection,
            timeout=database.timeouts.store,
            open=True,
        )

    def close(self) -> None:
        self.readers.close()
        self.writers.close()

    @contextmanager
    def writing(self, *, durable: bool = True) -> Iterator[Any]:
        with self.writers.connection() as conn, conn.transaction():
            if not durable:
                conn.execute("SET LOCAL synchronous_commit = off")
            with conn.cursor() as cursor:
                yield _QmarkCursor(cursor)

    @contextmanager
    def reading(self) -> Iterator[Any]:
        with self.readers.connection() as conn, conn.transaction(), conn.cursor() as cursor:
            yield _QmarkCursor(cursor)

    def lock_tracking(self, cursor: Any, generation: int) -> int:
        cursor.execute(f"SELECT position FROM {META} WHERE generation = ? FOR UPDATE", (generation,))
        return int(cursor.fetchone()[0])

    def lock_tracking_status(self, cursor: Any, generation: int) -> tuple[int, bool]:
        cursor.execute(f"SELECT position, status FROM {META} WHERE generation = ? FOR UPDATE", (generation,))
        position, status = cursor.fetchone()
        return int(position), status == "live"

    @contextmanager
    def pipelined(self, cursor: Any) -> Iterator[None]:
        with cursor.raw.connection.pipeline():
            yield

    def lock_views(self, cursor: Any) -> None:
        # Two processes starting together (the API and the worker) must not both create a generation.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (f"rectify_views:{self.database.schema}",))

    def announce(self, cursor: Any, generation: int, position: int, scopes: Iterable[UUID] | None = None) -> None:
        listed = "*" if scopes is None else ",".join(str(s) for s in scopes)
        if len(listed) > 7000:  # NOTIFY payloads stop at 8000 bytes
            listed = "*"
        cursor.execute("SELECT pg_notify(?, ?)", (self.channel, f"{generation}:{position}:{listed}"))

    def listen(
        self,
        channels: Sequence[str],
        heard: Callable[[str, str, int], None],
        stop: threading.Event,
        *,
        listening: Callable[[], None] | None = None,
    ) -> None:
        """Calls `heard(channel, payload, pid)` for each NOTIFY on these channels until `stop` is set (run
        it in a thread of its own; `pid`: the server process that sent it). A lost connection is opened
        again; `listening` is called each time LISTEN takes effect, since whatever was announced before
        it went unheard."""
        import psycopg

        while not stop.is_set():
            try:
                with psycopg.connect(self.database.psycopg_conninfo(), autocommit=True) as conn:
                    for channel in channels:
                        conn.execute(f'LISTEN "{channel}"')
                    if listening is not None:
                        listening()
                    while not stop.is_set():
                        for notice in conn.notifies(timeout=LISTEN_POLL, stop_after=1):
                            heard(notice.channel, notice.payload, notice.pid)
            except Exception:  # noqa: BLE001 - open it again; whoever listens polls meanwhile
                log.exception("LISTEN connection lost; reconnecting")
                stop.wait(1.0)

    def bulk_insert(self, cursor: Any, name: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        with cursor.raw.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


class _QmarkCursor:
    """A psycopg cursor that takes the `?` placeholders the shared SQL is written with."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self.raw = cursor

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        self.raw.execute(statement.replace("?", "%s"), params or None)

    def executemany(self, statement: str, params: Sequence[Sequence[Any]]) -> None:
        if params:
            self.raw.executemany(statement.replace("?", "%s"), params)

    def fetchone(self) -> Any:
        return self.raw.fetchone()

    def fetchall(self) -> list[Any]:
        return self.raw.fetchall()


def open_store(database: Database, codec: StateCodec) -> ViewStore:
    if database.kind == "sqlite":
        return SQLiteViewStore(codec, str(database.path))
    return PostgresViewStore(codec, database)
