"""Evidence files in the store's own database (SQLite file or PostgreSQL schema), once per SHA-256. All its SQL.

- `rectify_files`: one row per distinct file: its SHA-256, size, sniffed media type and when it was stored;
- `rectify_file_chunks`: the file's bytes in chunks of CHUNK bytes, in order;
- `rectify_thumbnails`: a small JPEG of each image, made when first asked for (derived: it can be made again,
  and is not exported).

The first two are not views: nothing could rebuild them, so they live outside the views' generations, and an
export, import or migration carries them (rectify.evidence.portable). An event names a file by its SHA-256, so
the log's hash chain covers the file: a file whose bytes no longer hash to its name is damaged.

A file is written as it is read: the stream is read once, CHUNK bytes at a time, each chunk hashed and written
in one transaction, which commits only when the whole file is in, is within the size limit, and is not there
already; so an over-size file leaves nothing behind, and a file already stored is not stored twice (that
transaction is rolled back). No more than one chunk of it is held in memory. The stream is read inside the
transaction: callers hand in a local stream (a file, or an upload the web server has already received).

Object storage (S3 and the like) can stand behind the same interface later, chosen by a setting; the file's
row would stay here and its chunks go there. It is not built.
"""

from __future__ import annotations

import hashlib
import io
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from uuid import uuid4

from rectify.domain.errors import InvalidInput, RectifyError
from rectify.evidence.sniff import HEAD, sniff
from rectify.settings import Database
from rectify.sqlite_readers import SQLiteReaders

CHUNK = 256 * 1024
DEFAULT_MAX_BYTES = 20 * 1024 * 1024


class FileProblem(RectifyError):
    """A stored file cannot be read as it should be (missing chunks, bytes that do not hash to its name)."""


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    media_type: str
    file_name: str = ""  # as given with this upload (the same bytes may come under other names)
    created: bool = True  # False: the bytes were stored already


def tables(blob: str, key: str) -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS rectify_files (file_id {key}, sha256 TEXT NOT NULL UNIQUE, "
        "size BIGINT NOT NULL, media_type TEXT NOT NULL, stored_at TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS rectify_file_chunks (file_id BIGINT NOT NULL, seq INTEGER NOT NULL, "
        f"data {blob} NOT NULL, PRIMARY KEY (file_id, seq))",
        "CREATE TABLE IF NOT EXISTS rectify_thumbnails (sha256 TEXT PRIMARY KEY, media_type TEXT NOT NULL, "
        f"data {blob} NOT NULL)",
    ]


def read_head(stream: BinaryIO) -> bytes:
    """The first HEAD bytes (fewer only at the end of the stream), however the stream hands them out."""
    parts: list[bytes] = []
    size = 0
    while size < HEAD:
        part = stream.read(HEAD - size)
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def over_limit(limit: int) -> InvalidInput:
    shown = f"{limit / 1024 / 1024:.0f} MiB"
    return InvalidInput("file", f"is larger than the limit of {limit} bytes ({shown}); nothing was stored")


class FileStore(ABC):
    """Stores and reads evidence files; one per process and database."""

    blob = "BLOB"
    key = "INTEGER PRIMARY KEY"

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._ready = False

    # -- dialect ---------------------------------------------------------------------------------

    @abstractmethod
    @contextmanager
    def _writing(self) -> Iterator[Any]:
        """A write transaction's cursor (`?` placeholders), committed when the block ends without error."""

    @abstractmethod
    @contextmanager
    def _reading(self) -> Iterator[Any]:
        """A read transaction's cursor: one consistent snapshot."""

    @abstractmethod
    def _insert_file(self, cursor: Any, placeholder: str) -> int: ...

    def close(self) -> None:
        """Releases connections."""

    # -- shared ----------------------------------------------------------------------------------

    def setup(self) -> None:
        if self._ready:
            return
        with self._writing() as cursor:
            for statement in tables(self.blob, self.key):
                cursor.execute(statement)
        self._ready = True

    def store(self, stream: BinaryIO, file_name: str) -> StoredFile:
        """Reads the stream to its end and stores its bytes, unless a file with the same SHA-256 is stored
        already. InvalidInput (field `file`) for an empty file, one over the limit, or content that is not
        evidence; nothing is stored then."""
        self.setup()
        head = read_head(stream)
        if not head:
            raise InvalidInput("file", f"{file_name} is empty")
        kind = sniff(head, file_name)
        try:
            return self._write(stream, head, kind.media_type, file_name)
        except _AlreadyStored as already:
            return already.stored

    def _write(self, stream: BinaryIO, head: bytes, media_type: str, file_name: str) -> StoredFile:
        digest = hashlib.sha256()
        size = seq = 0
        pending = head  # fewer than CHUNK bytes
        with self._writing() as cursor:
            file_id = self._insert_file(cursor, f"pending-{uuid4()}")
            while chunk := pending + stream.read(CHUNK - len(pending)):
                pending = b""
                size += len(chunk)
                if size > self.max_bytes:
                    raise over_limit(self.max_bytes)  # the transaction is rolled back: nothing stays
                digest.update(chunk)
                cursor.execute(
                    "INSERT INTO rectify_file_chunks (file_id, seq, data) VALUES (?, ?, ?)", (file_id, seq, chunk)
                )
                seq += 1
            sha256 = digest.hexdigest()
            self._lock_name(cursor, sha256)
            cursor.execute("SELECT size, media_type FROM rectify_files WHERE sha256 = ?", (sha256,))
            found = cursor.fetchone()
            if found is not None:  # rolls the transaction back: the bytes are stored once
                raise _AlreadyStored(StoredFile(sha256, int(found[0]), found[1], file_name, created=False))
            cursor.execute(
                "UPDATE rectify_files SET sha256 = ?, size = ?, media_type = ? WHERE file_id = ?",
                (sha256, size, media_type, file_id),
            )
        return StoredFile(sha256, size, media_type, file_name)

    def _lock_name(self, cursor: Any, sha256: str) -> None:
        """Holds off another writer of the same bytes until the commit (SQLite's writer holds the database's lock)."""

    def find(self, sha256: str) -> StoredFile | None:
        self.setup()
        with self._reading() as cursor:
            cursor.execute("SELECT size, media_type FROM rectify_files WHERE sha256 = ?", (sha256,))
            found = cursor.fetchone()
        return None if found is None else StoredFile(sha256, int(found[0]), found[1], created=False)

    def chunks(self, sha256: str) -> Iterator[bytes]:
        """The file's bytes chunk by chunk, from one snapshot (FileProblem if it is not all there)."""
        self.setup()
        with self._reading() as cursor:
            cursor.execute("SELECT file_id, size FROM rectify_files WHERE sha256 = ?", (sha256,))
            found = cursor.fetchone()
            if found is None:
                raise FileProblem(f"file {sha256} is not stored")
            file_id, size = int(found[0]), int(found[1])
            seq = read = 0
            while True:
                cursor.execute(
                    "SELECT seq, data FROM rectify_file_chunks WHERE file_id = ? AND seq >= ? ORDER BY seq LIMIT 8",
                    (file_id, seq),
                )
                rows = cursor.fetchall()
                if not rows:
                    break
                for number, data in rows:
                    if int(number) != seq:
                        raise FileProblem(f"file {sha256}: chunk {seq} is missing")
                    seq += 1
                    read += len(data)
                    yield bytes(data)
            if read != size:
                raise FileProblem(f"file {sha256}: {read} bytes stored of {size}")

    def read(self, sha256: str) -> bytes:
        """The whole file (for a thumbnail: the image is decoded whole anyway)."""
        buffer = io.BytesIO()
        for chunk in self.chunks(sha256):
            buffer.write(chunk)
        return buffer.getvalue()

    def check(self, sha256: str) -> str | None:
        """What is wrong with a stored file, or None: it is all there and hashes to its name."""
        digest = hashlib.sha256()
        try:
            for chunk in self.chunks(sha256):
                digest.update(chunk)
        except FileProblem as problem:
            return problem.message
        return None if digest.hexdigest() == sha256 else f"file {sha256}: its bytes hash to {digest.hexdigest()}"

    def stored(self) -> list[str]:
        """The SHA-256 of every stored file."""
        self.setup()
        with self._reading() as cursor:
            cursor.execute("SELECT sha256 FROM rectify_files WHERE sha256 NOT LIKE 'pending-%' ORDER BY sha256")
            return [row[0] for row in cursor.fetchall()]

    # -- thumbnails ------------------------------------------------------------------------------

    def thumbnail(self, sha256: str) -> bytes | None:
        """A small JPEG of an image file, made the first time it is asked for and kept; None where none can
        be made (not an image, or one Pillow cannot read)."""
        from rectify.evidence.thumbnails import make_thumbnail

        self.setup()
        with self._reading() as cursor:
            cursor.execute("SELECT data FROM rectify_thumbnails WHERE sha256 = ?", (sha256,))
            found = cursor.fetchone()
        if found is not None:
            return bytes(found[0]) or None
        stored = self.find(sha256)
        if stored is None or not stored.media_type.startswith("image/"):
            return None
        made = make_thumbnail(self.read(sha256))
        with self._writing() as cursor:
            cursor.execute("SELECT 1 FROM rectify_thumbnails WHERE sha256 = ?", (sha256,))
            if cursor.fetchone() is None:  # b"": none can be made, and trying again would not help
                cursor.execute(
                    "INSERT INTO rectify_thumbnails (sha256, media_type, data) VALUES (?, ?, ?)",
                    (sha256, "image/jpeg", made or b""),
                )
        return made


class _AlreadyStored(Exception):
    """Raised inside the write transaction to roll it back: the same bytes are stored already."""

    def __init__(self, stored: StoredFile) -> None:
        super().__init__(stored.sha256)
        self.stored = stored


class SQLiteFileStore(FileStore):
    """Files in the events' SQLite file: one writer connection (as SQLite has one writer), a reader per thread."""

    def __init__(self, path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        super().__init__(max_bytes)
        self.path = path
        self._writer: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._readers = SQLiteReaders(self._connect)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    @contextmanager
    def _writing(self) -> Iterator[Any]:
        with self._lock:
            if self._writer is None:
                self._writer = self._connect()
            conn = self._writer
            cursor = conn.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                conn.rollback()
                raise
            else:
                conn.commit()

    @contextmanager
    def _reading(self) -> Iterator[Any]:
        with self._readers.reading() as cursor:
            yield cursor

    def _insert_file(self, cursor: Any, placeholder: str) -> int:
        cursor.execute(
            "INSERT INTO rectify_files (sha256, size, media_type, stored_at) VALUES (?, 0, '', ?)",
            (placeholder, _now()),
        )
        return int(cursor.lastrowid)

    def close(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None


class PostgresFileStore(FileStore):
    """Files in the events' PostgreSQL schema."""

    blob = "BYTEA"
    key = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"

    def __init__(self, database: Database, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        super().__init__(max_bytes)
        from psycopg_pool import ConnectionPool

        self.database = database
        options = f"-c search_path={database.schema}"
        self.pool = ConnectionPool(
            database.psycopg_conninfo(), kwargs={"options": options}, min_size=0, max_size=4, open=True
        )

    @contextmanager
    def _writing(self) -> Iterator[Any]:
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cursor:
            yield _Qmark(cursor)

    @contextmanager
    def _reading(self) -> Iterator[Any]:
        from psycopg import IsolationLevel

        with self.pool.connection() as conn:
            conn.isolation_level = IsolationLevel.REPEATABLE_READ
            try:
                with conn.transaction(), conn.cursor() as cursor:
                    yield _Qmark(cursor)
            finally:
                conn.isolation_level = None

    def _lock_name(self, cursor: Any, sha256: str) -> None:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (f"rectify_file:{sha256}",))

    def _insert_file(self, cursor: Any, placeholder: str) -> int:
        cursor.execute(
            "INSERT INTO rectify_files (sha256, size, media_type, stored_at) VALUES (?, 0, '', ?) RETURNING file_id",
            (placeholder, _now()),
        )
        return int(cursor.fetchone()[0])

    def setup(self) -> None:
        if self._ready:
            return
        with self._writing() as cursor:  # CREATE TABLE IF NOT EXISTS does not survive two processes racing here
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (f"rectify_files:{self.database.schema}",))
            for statement in tables(self.blob, self.key):
                cursor.execute(statement)
        self._ready = True

    def close(self) -> None:
        self.pool.close()


class _Qmark:
    """A psycopg cursor that takes `?` placeholders."""

    def __init__(self, cursor: Any) -> None:
        self.raw = cursor

    def execute(self, statement: str, params: tuple[Any, ...] = ()) -> None:
        self.raw.execute(statement.replace("?", "%s"), params or None)

    def fetchone(self) -> Any:
        return self.raw.fetchone()

    def fetchall(self) -> list[Any]:
        return self.raw.fetchall()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def open_file_store(database: Database, max_bytes: int = DEFAULT_MAX_BYTES) -> FileStore:
    if database.kind == "sqlite":
        assert database.path is not None
        return SQLiteFileStore(database.path, max_bytes)
    return PostgresFileStore(database, max_bytes)
