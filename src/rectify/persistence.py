"""The eventsourcing library's PostgreSQL persistence, with rectify's bounds on every wait.

The library's pool waits for a connection, but libpq itself would wait minutes to connect to a
host that does not answer and for ever on a link gone silent; and no statement has a time limit.
This factory gives its pool's connections libpq's connect timeout, TCP keepalives and a user
timeout, and a statement timeout (rectify.settings.Timeouts).
"""

from __future__ import annotations

from typing import Any

from eventsourcing.postgres import PostgresFactory as LibraryPostgresFactory


class PostgresFactory(LibraryPostgresFactory):
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
