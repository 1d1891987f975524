"""The eventsourcing library's persistence, with bounds on every wait and a look-up of many aggregates at once.

The library's pool waits for a connection, but libpq itself would wait minutes to connect to a
host that does not answer and for ever on a link gone silent; and no statement has a time limit.
rectify's PostgreSQL factory gives its pool's connections libpq's connect timeout, TCP keepalives and a user
timeout, and a statement timeout (rectify.settings.Timeouts).

On either store, the application recorder also tells in one query which of many aggregates have
no events yet: a batch that creates hundreds of aggregates (a 台账 import) asks once, not once for
each (700 round trips were a third of a 700-finding import on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.postgres import PostgresFactory as LibraryPostgresFactory
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.sqlite import SQLiteFactory as LibrarySQLiteFactory
from eventsourcing.utils import retry
from psycopg.errors import InterfaceError, OperationalError
from psycopg.sql import SQL, Identifier

#: Server processes remembered as this recorder's own (a pool holds a few connections at a time).
OWN_BACKENDS = 64


class PostgresRecorder(PostgresApplicationRecorder):
    """The library's application recorder, which can also tell which aggregates have no events, and
    sends a save's events as four arrays in binary rather than one array of its composite type in text.

    The library's text array of composites escapes every event's bytes with a regular expression, and
    the server parses them back: for a 500-event save of an import that was most of the insert. The
    events table's lock, the NOTIFY and the returned notification ids are the library's, unchanged.
    """

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        # The library names the NOTIFY channel after the table alone, so all the schemas of a database
        # shared it, and every process listening woke for the saves of every schema. One channel per
        # schema, as the views' announcements have. (The library's database functions, which would
        # notify the channel named before, are not enabled by rectify.)
        assert not datastore.enable_db_functions
        self.channel_name = f"rectify_events_{datastore.schema}"
        #: The server processes of this recorder's connections that have inserted events: a NOTIFY on
        #: the events channel from one of them announces this process's own save, which its listeners
        #: hear of without it (RectifyApplication.saved_listeners).
        self.own_backends: set[int] = set()
        self.insert_columns_statement = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{id_type}[], %b::bigint[], %b::text[], %b::bytea[]) "
            "RETURNING notification_id"
        ).format(
            schema=Identifier(self.datastore.schema),
            table=Identifier(self.events_table_name),
            id_type=Identifier(self.datastore.originator_id_type),
        )

    def _insert_stored_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        self._lock_table(curs)
        self._notify_channel(curs)
        backend = curs.connection.info.backend_pid
        if backend not in self.own_backends:
            if len(self.own_backends) >= OWN_BACKENDS:  # connections replaced again and again: start afresh
                self.own_backends.clear()
            self.own_backends.add(backend)
        columns = (
            [e.originator_id for e in stored_events],
            [e.originator_version for e in stored_events],
            [e.topic for e in stored_events],
            [e.state for e in stored_events],
        )
        curs.execute(self.insert_columns_statement, columns, prepare=True)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def unrecorded(self, aggregate_ids: Collection[UUID]) -> frozenset[UUID]:
        """Those of `aggregate_ids` that have no stored events (as of this read)."""
        if not aggregate_ids:
            return frozenset()
        statement = SQL("SELECT DISTINCT originator_id FROM {0}.{1} WHERE originator_id = ANY(%s)").format(
            Identifier(self.datastore.schema), Identifier(self.events_table_name)
        )
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (list(aggregate_ids),), prepare=True)
            recorded = {row["originator_id"] for row in curs.fetchall()}
        return frozenset(aggregate_ids) - recorded

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def position_of(self, aggregate_id: UUID) -> int | None:
        """The log position of the aggregate's first event, if it has one."""
        statement = SQL(
            "SELECT notification_id FROM {0}.{1} WHERE originator_id = %s AND originator_version = 1"
        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name))
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (aggregate_id,), prepare=True)
            row = curs.fetchone()
        return None if row is None else int(row["notification_id"])


class SQLiteRecorder(SQLiteApplicationRecorder):
    """The library's SQLite application recorder, which can also tell which aggregates have no events."""

    #: Ids per statement, well under SQLite's bound on a statement's parameters.
    chunk = 500

    def unrecorded(self, aggregate_ids: Collection[UUID]) -> frozenset[UUID]:
        """Those of `aggregate_ids` that have no stored events (as of this read)."""
        wanted = list(aggregate_ids)
        recorded: set[UUID | str] = set()
        with self.datastore.transaction(commit=False) as curs:
            for start in range(0, len(wanted), self.chunk):
                ids = [i.hex for i in wanted[start : start + self.chunk]]  # stored as the library writes them
                marks = ",".join("?" * len(ids))
                table = self.events_table_name  # the library's own name; the ids go as parameters
                curs.execute(f"SELECT DISTINCT originator_id FROM {table} WHERE originator_id IN ({marks})", ids)
                recorded.update(self.convert_originator_id(row["originator_id"]) for row in curs.fetchall())
        return frozenset(aggregate_ids) - recorded

    def position_of(self, aggregate_id: UUID) -> int | None:
        """The log position of the aggregate's first event, if it has one."""
        table = self.events_table_name
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                f"SELECT rowid FROM {table} WHERE originator_id = ? AND originator_version = 1", (aggregate_id.hex,)
            )
            row = curs.fetchone()
        return None if row is None else int(row[0])


class SQLiteFactory(LibrarySQLiteFactory):
    application_recorder_class = SQLiteRecorder


class PostgresFactory(LibraryPostgresFactory):
    application_recorder_class = PostgresRecorder

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        connect = float(self.env.get("RECTIFY_LIBPQ_CONNECT_TIMEOUT") or 2)
        statement = float(self.env.get("RECTIFY_STATEMENT_TIMEOUT") or 15)
        kwargs = self.datastore.pool.kwargs
        assert isinstance(kwargs, dict)  # the library builds it as one; the pool opens on first use
        kwargs.update(
            connect_timeout=max(1, round(connect)),
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=2,
            tcp_user_timeout=int(statement * 1000),
            options=f"-c statement_timeout={int(statement * 1000)}",
        )


def own_backends(recorder: ApplicationRecorder) -> Collection[int]:
    """The server processes that have inserted this recorder's events (none known for another recorder)."""
    return recorder.own_backends if isinstance(recorder, PostgresRecorder) else frozenset()


def unrecorded(recorder: ApplicationRecorder, aggregate_ids: Collection[UUID]) -> frozenset[UUID]:
    """Those of `aggregate_ids` the store holds no events of, in one query; none known when the
    recorder is not rectify's (then each is looked up when it matters)."""
    if not aggregate_ids or not isinstance(recorder, (PostgresRecorder, SQLiteRecorder)):
        return frozenset()
    return recorder.unrecorded(aggregate_ids)


def position_of(recorder: ApplicationRecorder, aggregate_id: UUID) -> int | None:
    """The log position of an aggregate's first event; None when it has none, or when the recorder is not
    rectify's (which cannot tell)."""
    if not isinstance(recorder, (PostgresRecorder, SQLiteRecorder)):
        return None
    return recorder.position_of(aggregate_id)
