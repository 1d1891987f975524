"""The integrity tables beside the events (SQLite file or PostgreSQL schema), and the events read as stored.

All of the integrity package's SQL is here, for both dialects:

- `rectify_leaves`: one row per sealed event, in tree order (`leaf_index` 0, 1, …), with the event's
  position and what was true of it when sealed (see `leaves.py`);
- `rectify_seal`: one row, the sealer's tracking: the log's origin (its name in signed heads), the tree
  size and last sealed position, and the frontier (the roots the next leaf merges with);
- `rectify_checkpoints`: the tree heads written so far, signed when a key was configured.

These tables are not views: nothing rebuilds them, so they live outside the views' `rectify_g{N}_*`
generations and a rebuild never drops them. Positions increase with the leaf index, so a position is
found by a binary search over the primary key and needs no index of its own.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from rectify.domain.errors import RectifyError
from rectify.integrity.keys import Checkpoint, TreeHead
from rectify.integrity.leaves import Leaf, StoredEvent
from rectify.integrity.merkle import Frontier
from rectify.settings import Database
from rectify.sqlite_lock import sqlite_write_lock
from rectify.sqlite_readers import SQLiteReaders

READ_BATCH = 10_000
LEAF_COLUMNS = (
    "leaf_index",
    "position",
    "aggregate_id",
    "version",
    "recorded_at",
    "actor_digest",
    "state_digest",
    "leaf_hash",
)
CHECKPOINT_COLUMNS = ("size", "position", "root", "origin", "signed_at", "key_fingerprint", "signature")


class StoreProblem(RectifyError):
    """The store cannot be read or written as the integrity tables need."""


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class SealState:
    """How far the log is sealed: `size` leaves, the last at `position`."""

    origin: str
    size: int
    position: int
    frontier: Frontier | None  # None when the stored one cannot be a tree of `size` leaves (a damaged row)


def frontier_of(state: SealState) -> Frontier:
    """The seal's frontier, which a writer needs whole."""
    if state.frontier is None:
        raise StoreProblem("the seal's tracking row is damaged: run `rectify verify`")
    return state.frontier


def integrity_tables(blob: str, key: str) -> list[str]:
    return [
        "CREATE TABLE IF NOT EXISTS rectify_seal (id INTEGER PRIMARY KEY CHECK (id = 1), origin TEXT NOT NULL, "
        f"size BIGINT NOT NULL, position BIGINT NOT NULL, frontier {blob} NOT NULL, updated_at TEXT NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS rectify_leaves (leaf_index {key} PRIMARY KEY, position BIGINT NOT NULL, "
        f"aggregate_id {blob} NOT NULL, version BIGINT NOT NULL, recorded_at BIGINT NOT NULL, "
        f"actor_digest {blob} NOT NULL, state_digest {blob} NOT NULL, leaf_hash {blob} NOT NULL)",
        "CREATE TABLE IF NOT EXISTS rectify_checkpoints (size BIGINT PRIMARY KEY, position BIGINT NOT NULL, "
        f"root {blob} NOT NULL, origin TEXT NOT NULL, signed_at TEXT NOT NULL, key_fingerprint TEXT, "
        f"signature {blob})",
    ]


def _checkpoint(row: Any) -> Checkpoint:
    size, position, root, origin, signed_at, fingerprint, signature = row
    head = TreeHead(origin=origin, size=int(size), position=int(position), root=bytes(root), signed_at=signed_at)
    return Checkpoint(head, fingerprint, None if signature is None else bytes(signature))


def _leaf(row: Any) -> Leaf:
    index, position, aggregate_id, version, recorded_at, actor, state, leaf_hash = row
    return Leaf(
        int(index), int(position), bytes(aggregate_id), int(version), int(recorded_at), bytes(actor), bytes(state),
        bytes(leaf_hash),
    )  # fmt: skip


class Reader(ABC):
    """One consistent snapshot of the events and the integrity tables."""

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor

    # -- dialect -------------------------------------------------------------------------------

    @abstractmethod
    def _execute(self, statement: str, params: tuple[Any, ...] = ()) -> Any: ...

    @abstractmethod
    def has_table(self, name: str) -> bool: ...

    @abstractmethod
    def _events_after(self, after: int, limit: int) -> list[StoredEvent]: ...

    @abstractmethod
    def positions_of_event(self, aggregate_id: bytes, version: int) -> list[int]:
        """Where the events table holds this aggregate's version now (normally one place)."""

    @abstractmethod
    def last_version(self, aggregate_id: bytes) -> int | None: ...

    @abstractmethod
    def head(self) -> int:
        """The last position of the log (0 when empty)."""

    @abstractmethod
    def count_events(self) -> int: ...

    # -- shared --------------------------------------------------------------------------------

    def events(self, after: int = 0, *, batch: int = READ_BATCH) -> Iterator[StoredEvent]:
        """The log after a position, in position order."""
        while rows := self._events_after(after, batch):
            yield from rows
            after = rows[-1].position

    def seal_state(self) -> SealState | None:
        """The sealer's tracking; None when the log was never set up for sealing."""
        if not self.has_table("rectify_seal"):
            return None
        found = self._execute("SELECT origin, size, position, frontier FROM rectify_seal WHERE id = 1").fetchone()
        if found is None:
            return None
        origin, size, position, frontier = found
        try:
            return SealState(origin, int(size), int(position), Frontier.from_bytes(int(size), bytes(frontier)))
        except ValueError:
            return SealState(origin, int(size), int(position), None)

    def leaves(self, from_index: int = 0, *, batch: int = READ_BATCH) -> Iterator[Leaf]:
        while True:
            rows = self._execute(
                f"SELECT {', '.join(LEAF_COLUMNS)} FROM rectify_leaves WHERE leaf_index >= ? "
                "ORDER BY leaf_index LIMIT ?",
                (from_index, batch),
            ).fetchall()
            if not rows:
                return
            yield from map(_leaf, rows)
            from_index = int(rows[-1][0]) + 1

    def first_leaf_at_or_after(self, position: int, size: int) -> int:
        """The index of the first leaf at or after `position` (size if none): a binary search, positions
        growing with the index."""
        low, high = 0, size
        while low < high:
            middle = (low + high) // 2
            found = self._execute("SELECT position FROM rectify_leaves WHERE leaf_index = ?", (middle,)).fetchone()
            if found is None:
                raise StoreProblem(f"leaf {middle} is missing from the leaf hashes")
            if int(found[0]) < position:
                low = middle + 1
            else:
                high = middle
        return low

    def leaves_of_event(self, aggregate_id: bytes, version: int) -> list[int]:
        """Positions at which this aggregate's version was sealed (a scan: for diagnosis only)."""
        rows = self._execute(
            "SELECT position FROM rectify_leaves WHERE aggregate_id = ? AND version = ? ORDER BY leaf_index",
            (aggregate_id, version),
        ).fetchall()
        return [int(p) for (p,) in rows]

    def leaves_with_state(self, state_digest: bytes) -> list[int]:
        """Positions at which these exact bytes were sealed (a scan: for diagnosis only)."""
        rows = self._execute(
            "SELECT position FROM rectify_leaves WHERE state_digest = ? ORDER BY leaf_index", (state_digest,)
        ).fetchall()
        return [int(p) for (p,) in rows]

    def leaf_hashes(self, size: int, *, batch: int = 100_000) -> list[bytes]:
        """The hashes of the first `size` leaves, in tree order (what a proof is computed from)."""
        hashes: list[bytes] = []
        while len(hashes) < size:
            rows = self._execute(
                "SELECT leaf_hash FROM rectify_leaves WHERE leaf_index >= ? ORDER BY leaf_index LIMIT ?",
                (len(hashes), min(batch, size - len(hashes))),
            ).fetchall()
            if not rows:
                raise StoreProblem(f"the stored leaf hashes stop at {len(hashes)}, short of {size}")
            hashes.extend(bytes(h) for (h,) in rows)
        return hashes

    def leaf_hash_range(self, start: int, end: int) -> list[bytes]:
        """The hashes of the leaves from `start` (inclusive) to `end` (exclusive)."""
        rows = self._execute(
            "SELECT leaf_hash FROM rectify_leaves WHERE leaf_index >= ? AND leaf_index < ? ORDER BY leaf_index",
            (start, end),
        ).fetchall()
        if len(rows) != end - start:
            raise StoreProblem(f"leaves {start} to {end - 1} are not all among the stored leaf hashes")
        return [bytes(h) for (h,) in rows]

    def leaf(self, leaf_index: int) -> Leaf | None:
        found = self._execute(
            f"SELECT {', '.join(LEAF_COLUMNS)} FROM rectify_leaves WHERE leaf_index = ?", (leaf_index,)
        ).fetchone()
        return None if found is None else _leaf(found)

    def event_at(self, position: int) -> StoredEvent | None:
        """The event stored at `position`, if any."""
        for event in self.events(position - 1, batch=1):
            return event if event.position == position else None
        return None

    def checkpoint_at(self, size: int) -> Checkpoint | None:
        if not self.has_table("rectify_checkpoints"):
            return None
        found = self._execute(
            f"SELECT {', '.join(CHECKPOINT_COLUMNS)} FROM rectify_checkpoints WHERE size = ?", (size,)
        ).fetchone()
        return None if found is None else _checkpoint(found)

    def checkpoints(self) -> list[Checkpoint]:
        if not self.has_table("rectify_checkpoints"):
            return []
        rows = self._execute(
            f"SELECT {', '.join(CHECKPOINT_COLUMNS)} FROM rectify_checkpoints ORDER BY size"
        ).fetchall()
        return [_checkpoint(r) for r in rows]

    def last_checkpoint(self) -> Checkpoint | None:
        if not self.has_table("rectify_checkpoints"):
            return None
        found = self._execute(
            f"SELECT {', '.join(CHECKPOINT_COLUMNS)} FROM rectify_checkpoints ORDER BY size DESC LIMIT 1"
        ).fetchone()
        return None if found is None else _checkpoint(found)


class Writer(ABC):
    """One write transaction on the integrity tables (and, for an import, on the events)."""

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor

    @abstractmethod
    def _execute(self, statement: str, params: tuple[Any, ...] = ()) -> Any: ...

    @abstractmethod
    def _bulk(self, table: str, columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> None: ...

    @abstractmethod
    def lock_events(self) -> None:
        """Holds off appends until the commit (an import fills an empty log)."""

    @abstractmethod
    def insert_events(self, events: Iterable[StoredEvent]) -> None:
        """Events at their positions, exactly as given."""

    @abstractmethod
    def continue_positions(self) -> None:
        """Makes the next append take the position after the last one written (PostgreSQL's sequence)."""

    @abstractmethod
    def count_events(self) -> int: ...

    def lock_seal(self) -> SealState:
        """The seal's tracking, held against every other sealer until the commit."""
        found = self._execute(
            f"SELECT origin, size, position, frontier FROM rectify_seal WHERE id = 1{self._for_update}"
        )
        row = found.fetchone()
        if row is None:
            raise StoreProblem("the integrity tables are not set up")
        origin, size, position, frontier = row
        try:
            return SealState(origin, int(size), int(position), Frontier.from_bytes(int(size), bytes(frontier)))
        except ValueError as error:
            raise StoreProblem(f"the seal's tracking row is damaged ({error}): run `rectify verify`") from None

    _for_update = ""

    def save_seal(self, state: SealState) -> None:
        self._execute(
            "UPDATE rectify_seal SET origin = ?, size = ?, position = ?, frontier = ?, updated_at = ? WHERE id = 1",
            (state.origin, state.size, state.position, frontier_of(state).to_bytes(), now_text()),
        )

    def insert_leaves(self, leaves: Iterable[Leaf]) -> None:
        self._bulk(
            "rectify_leaves",
            LEAF_COLUMNS,
            (
                (
                    x.leaf_index,
                    x.position,
                    x.aggregate_id,
                    x.version,
                    x.recorded_at,
                    x.actor_digest,
                    x.state_digest,
                    x.hash,
                )
                for x in leaves
            ),
        )

    def insert_checkpoints(self, checkpoints: Iterable[Checkpoint]) -> None:
        self._bulk(
            "rectify_checkpoints",
            CHECKPOINT_COLUMNS,
            (
                (
                    c.head.size,
                    c.head.position,
                    c.head.root,
                    c.head.origin,
                    c.head.signed_at,
                    c.key_fingerprint,
                    c.signature,
                )
                for c in checkpoints
            ),
        )

    def checkpoint_at(self, size: int) -> Checkpoint | None:
        found = self._execute(
            f"SELECT {', '.join(CHECKPOINT_COLUMNS)} FROM rectify_checkpoints WHERE size = ?", (size,)
        ).fetchone()
        return None if found is None else _checkpoint(found)

    def count_integrity_rows(self) -> int:
        leaves = self._execute("SELECT COUNT(*) FROM rectify_leaves").fetchone()[0]
        checkpoints = self._execute("SELECT COUNT(*) FROM rectify_checkpoints").fetchone()[0]
        return int(leaves) + int(checkpoints)


class LogStore(ABC):
    """Reads snapshots of the log and writes the integrity tables; one per process and database."""

    blob = "BLOB"
    key = "BIGINT"

    def __init__(self, database: Database) -> None:
        self.database = database

    @abstractmethod
    @contextmanager
    def snapshot(self) -> Iterator[Reader]:
        """A read-only, consistent snapshot (safe while the server appends)."""

    @abstractmethod
    @contextmanager
    def writing(self) -> Iterator[Writer]:
        """A write transaction, committed when the block ends."""

    @abstractmethod
    def _lock_setup(self, writer: Writer) -> None: ...

    def close(self) -> None:
        """Releases connections."""

    def setup(self) -> None:
        """Creates the integrity tables and the seal's tracking row if missing (a fresh origin name)."""
        with self.writing() as writer:
            self._lock_setup(writer)
            for statement in integrity_tables(self.blob, self.key):
                writer._execute(statement)
            if writer._execute("SELECT id FROM rectify_seal WHERE id = 1").fetchone() is None:
                writer._execute(
                    "INSERT INTO rectify_seal (id, origin, size, position, frontier, updated_at) "
                    "VALUES (1, ?, 0, 0, ?, ?)",
                    (f"rectify log {uuid4()}", b"", now_text()),
                )


# -- SQLite -------------------------------------------------------------------------------------------


class SQLiteReader(Reader):
    def _execute(self, statement: str, params: tuple[Any, ...] = ()) -> Any:
        return self.cursor.execute(statement, params)

    def has_table(self, name: str) -> bool:
        found = self.cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
        return found.fetchone() is not None

    def _events_after(self, after: int, limit: int) -> list[StoredEvent]:
        rows = self.cursor.execute(
            "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events "
            "WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (after, limit),
        ).fetchall()
        try:  # as the recorder writes them: hex text ids, text topics, bytes
            fromhex = bytes.fromhex
            events = [StoredEvent(p, fromhex(i), v, t, s) for p, i, v, t, s in rows]
            if all(len(e.aggregate_id) == 16 and type(e.state) is bytes and type(e.topic) is str for e in events):
                return events
        except (TypeError, ValueError):
            pass
        return [StoredEvent(p, _sqlite_id(i), v, str(t), _bytes(s)) for p, i, v, t, s in rows]  # a damaged row

    def positions_of_event(self, aggregate_id: bytes, version: int) -> list[int]:
        rows = self.cursor.execute(
            "SELECT rowid FROM stored_events WHERE originator_id = ? AND originator_version = ?",
            (aggregate_id.hex(), version),
        ).fetchall()
        return sorted(int(p) for (p,) in rows)

    def last_version(self, aggregate_id: bytes) -> int | None:
        found = self.cursor.execute(
            "SELECT MAX(originator_version) FROM stored_events WHERE originator_id = ?", (aggregate_id.hex(),)
        ).fetchone()
        return None if found[0] is None else int(found[0])

    def head(self) -> int:
        if not self.has_table("stored_events"):
            return 0
        return int(self.cursor.execute("SELECT COALESCE(MAX(rowid), 0) FROM stored_events").fetchone()[0])

    def count_events(self) -> int:
        if not self.has_table("stored_events"):
            return 0
        return int(self.cursor.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0])

    def events(self, after: int = 0, *, batch: int = READ_BATCH) -> Iterator[StoredEvent]:
        if not self.has_table("stored_events"):
            return iter(())
        return super().events(after, batch=batch)


def _sqlite_id(value: Any) -> bytes:
    """The 16 bytes of an aggregate id the SQLite recorder stored as hex text; b"" if it is not one
    (a damaged row: its leaf can then never match)."""
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        return b""
    return raw if len(raw) == 16 else b""


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):  # SQLite lets a column hold text where bytes were stored
        return value.encode("utf-8", "surrogateescape")
    return b"" if value is None else str(value).encode()


class SQLiteWriter(Writer):
    def _execute(self, statement: str, params: tuple[Any, ...] = ()) -> Any:
        return self.cursor.execute(statement, params)

    def _bulk(self, table: str, columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> None:
        self.cursor.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})", rows
        )

    def lock_events(self) -> None:
        pass  # BEGIN IMMEDIATE already holds the database's write lock

    def insert_events(self, events: Iterable[StoredEvent]) -> None:
        self.cursor.executemany(
            "INSERT INTO stored_events (rowid, originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?, ?)",
            ((e.position, e.aggregate_id.hex(), e.version, e.topic, e.state) for e in events),
        )

    def continue_positions(self) -> None:
        pass  # SQLite gives the next row the largest rowid plus one

    def count_events(self) -> int:
        return int(self.cursor.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0])


class SQLiteLogStore(LogStore):
    """The integrity tables in the events' SQLite file."""

    key = "INTEGER"  # the rowid itself: leaves are found by index without a second B-tree

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        assert database.path is not None
        self.path = database.path
        self._writer: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._readers = SQLiteReaders(functools.partial(self._connect, must_exist=True))

    def _connect(self, *, must_exist: bool) -> sqlite3.Connection:
        if must_exist and not self.path.exists():
            raise StoreProblem(f"no database file at {self.path}")
        try:
            uri = f"file:{_quote_path(self.path)}?mode={'rw' if must_exist else 'rwc'}"
            return sqlite3.connect(uri, uri=True, timeout=60, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as error:
            raise StoreProblem(f"cannot open {self.path}: {error}") from None

    @contextmanager
    def snapshot(self) -> Iterator[Reader]:
        with self._readers.reading() as cursor:
            yield SQLiteReader(cursor)

    @contextmanager
    def writing(self) -> Iterator[Writer]:
        with self._lock, sqlite_write_lock(self.path):
            if self._writer is None:
                self._writer = self._connect(must_exist=False)
                self._writer.execute("PRAGMA journal_mode=WAL")
            conn = self._writer
            cursor = conn.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield SQLiteWriter(cursor)
            except BaseException:
                conn.rollback()
                raise
            else:
                conn.commit()

    def _lock_setup(self, writer: Writer) -> None:
        pass  # BEGIN IMMEDIATE serialises it

    def close(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None


def _quote_path(path: Path) -> str:
    from urllib.parse import quote

    return quote(str(path.resolve()))


# -- PostgreSQL ---------------------------------------------------------------------------------------


def events_table() -> str:
    from rectify.application import RectifyApplication

    return f"{RectifyApplication.name.lower()}_events"  # the library names the table after the application


class _Postgres:
    cursor: Any  # the psycopg cursor the Reader or Writer it is mixed into holds

    def _execute(self, statement: str, params: tuple[Any, ...] = ()) -> Any:
        cursor = self.cursor
        cursor.execute(statement.replace("?", "%s"), params or None)
        return cursor


class PostgresReader(_Postgres, Reader):
    def __init__(self, cursor: Any, schema: str) -> None:
        super().__init__(cursor)
        self.schema = schema
        self.table = events_table()
        self._tables: dict[str, bool] = {}

    def has_table(self, name: str) -> bool:
        if name not in self._tables:
            found = self._execute(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", (self.schema, name)
            ).fetchone()
            self._tables[name] = found is not None
        return self._tables[name]

    def _events_after(self, after: int, limit: int) -> list[StoredEvent]:
        if not self.has_table(self.table):
            return []
        rows = self._execute(
            f"SELECT notification_id, uuid_send(originator_id), originator_version, topic, state FROM {self.table} "
            "WHERE notification_id > ? ORDER BY notification_id LIMIT ?",
            (after, limit),
        ).fetchall()
        return [StoredEvent(int(p), bytes(i), int(v), t, bytes(s)) for p, i, v, t, s in rows]

    def positions_of_event(self, aggregate_id: bytes, version: int) -> list[int]:
        rows = self._execute(
            f"SELECT notification_id FROM {self.table} WHERE originator_id = ? AND originator_version = ?",
            (UUID(bytes=aggregate_id), version),
        ).fetchall()
        return sorted(int(p) for (p,) in rows)

    def last_version(self, aggregate_id: bytes) -> int | None:
        found = self._execute(
            f"SELECT MAX(originator_version) FROM {self.table} WHERE originator_id = ?", (UUID(bytes=aggregate_id),)
        ).fetchone()
        return None if found[0] is None else int(found[0])

    def head(self) -> int:
        if not self.has_table(self.table):
            return 0
        return int(self._execute(f"SELECT COALESCE(MAX(notification_id), 0) FROM {self.table}").fetchone()[0])

    def count_events(self) -> int:
        if not self.has_table(self.table):
            return 0
        return int(self._execute(f"SELECT COUNT(*) FROM {self.table}").fetchone()[0])


class PostgresWriter(_Postgres, Writer):
    _for_update = " FOR UPDATE"

    def __init__(self, cursor: Any) -> None:
        super().__init__(cursor)
        self.table = events_table()

    def _bulk(self, table: str, columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> None:
        with self.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def lock_events(self) -> None:
        self._execute(f"LOCK TABLE {self.table} IN EXCLUSIVE MODE")

    def insert_events(self, events: Iterable[StoredEvent]) -> None:
        self._bulk(
            self.table,
            ("notification_id", "originator_id", "originator_version", "topic", "state"),
            ((e.position, UUID(bytes=e.aggregate_id), e.version, e.topic, e.state) for e in events),
        )

    def continue_positions(self) -> None:
        self._execute(
            f"SELECT setval(pg_get_serial_sequence(?, 'notification_id'), "
            f"(SELECT COALESCE(MAX(notification_id), 1) FROM {self.table}), "
            f"(SELECT COUNT(*) > 0 FROM {self.table}))",
            (self.table,),
        )

    def count_events(self) -> int:
        return int(self._execute(f"SELECT COUNT(*) FROM {self.table}").fetchone()[0])


class PostgresLogStore(LogStore):
    """The integrity tables in the events' PostgreSQL schema."""

    blob = "BYTEA"

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        from psycopg import IsolationLevel
        from psycopg_pool import ConnectionPool

        options = f"-c search_path={database.schema}"

        def configure_reader(conn: Any) -> None:
            conn.isolation_level = IsolationLevel.REPEATABLE_READ
            conn.read_only = True

        self.readers = ConnectionPool(
            database.psycopg_conninfo(),
            kwargs={"options": options},
            min_size=0,
            max_size=2,
            configure=configure_reader,
            check=ConnectionPool.check_connection,
            timeout=database.timeouts.store,  # a server that is not there is an answer within the bound
            open=True,
        )
        self.writers = ConnectionPool(
            database.psycopg_conninfo(),
            kwargs={"options": options},
            min_size=0,
            max_size=1,
            check=ConnectionPool.check_connection,
            timeout=database.timeouts.store,
            open=True,
        )

    @contextmanager
    def snapshot(self) -> Iterator[Reader]:
        with self.readers.connection() as conn, conn.transaction(), conn.cursor() as cursor:
            yield PostgresReader(cursor, self.database.schema)

    @contextmanager
    def writing(self) -> Iterator[Writer]:
        with self.writers.connection() as conn, conn.transaction(), conn.cursor() as cursor:
            yield PostgresWriter(cursor)

    def _lock_setup(self, writer: Writer) -> None:
        # CREATE TABLE IF NOT EXISTS does not survive two processes racing on PostgreSQL.
        writer._execute("SELECT pg_advisory_xact_lock(hashtext(?))", (f"rectify_integrity:{self.database.schema}",))

    def close(self) -> None:
        self.readers.close()
        self.writers.close()


def open_log_store(database: Database) -> LogStore:
    if database.kind == "sqlite":
        return SQLiteLogStore(database)
    return PostgresLogStore(database)
