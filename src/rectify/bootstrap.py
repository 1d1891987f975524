"""Builds and wires everything: the store, the application (and, later, views and runners)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from rectify.application import RectifyApplication
from rectify.settings import Database, Settings


def prepare_database(database: Database) -> None:
    """Makes sure the place the store writes to exists: a folder for SQLite, a schema on PostgreSQL."""
    if database.kind == "sqlite":
        assert database.path is not None
        database.path.parent.mkdir(parents=True, exist_ok=True)
        return
    import psycopg
    from psycopg import sql

    with psycopg.connect(database.psycopg_conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(database.schema)))


def open_application(settings: Settings, *, today: Callable[[], date] | None = None) -> RectifyApplication:
    prepare_database(settings.database)
    return RectifyApplication(env=settings.database.eventsourcing_env(), timezone=settings.timezone, today=today)
