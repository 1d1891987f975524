"""Reading connections to an SQLite file: one per thread, kept from one read to the next.

Opening a connection costs a file open, a read of the schema and a cold page cache, and each one
opened and closed again churns the allocator: the sealer, which reads a snapshot for every batch it
seals, opened ten a second under a stream of writes. A kept connection reads its snapshot in a
transaction (in WAL mode it sees one state of the file until the transaction ends) and is used
again by the next read of its thread.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class SQLiteReaders:
    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._local = threading.local()

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Cursor]:
        """A cursor reading one snapshot; a read nested in another of the same thread shares its snapshot."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        if conn.in_transaction:
            yield conn.cursor()
            return
        cursor = conn.cursor()
        cursor.execute("BEGIN")
        try:
            yield cursor
        finally:
            conn.commit()
