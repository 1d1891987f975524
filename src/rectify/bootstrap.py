"""Builds and wires everything: the store, the application, the views, the runner and the read side."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

from rectify.application import RectifyApplication
from rectify.eventlog import Owners
from rectify.evidence.store import open_file_store
from rectify.integrity.sealer import Sealer, open_sealer
from rectify.notice.service import Notices
from rectify.projections import codec
from rectify.projections.ledger import LightThresholds
from rectify.projections.runner import Projector, Runner
from rectify.projections.store import ViewStore, open_store
from rectify.projections.views import ReadModels
from rectify.queries import Queries
from rectify.settings import Database, Settings


@contextmanager
def prepared(database: Database) -> Iterator[None]:
    """Makes sure the place the store writes to exists (a folder for SQLite, a schema on PostgreSQL)
    and, on PostgreSQL, holds a lock meanwhile: processes starting together (the API and the
    worker) would otherwise race to create the same tables, which CREATE … IF NOT EXISTS does not
    survive there."""
    if database.kind == "sqlite":
        assert database.path is not None
        database.path.parent.mkdir(parents=True, exist_ok=True)
        yield
        return
    import psycopg
    from psycopg import sql

    with psycopg.connect(database.psycopg_conninfo(), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"rectify_setup:{database.name}",))
        try:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(database.schema)))
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (f"rectify_setup:{database.name}",))


def open_application(settings: Settings, *, today: Callable[[], date] | None = None) -> RectifyApplication:
    with prepared(settings.database):
        app = RectifyApplication(
            env=settings.database.eventsourcing_env(),
            timezone=settings.timezone,
            today=today,
            store_deadline=settings.database.timeouts.store,
            cache_bytes=settings.aggregate_cache_bytes,
        )
    app.files = open_file_store(settings.database, settings.evidence_max_bytes)
    return app


@dataclass
class System:
    """Everything one process needs, wired: write side, views, runner (if any) and read side."""

    settings: Settings
    app: RectifyApplication
    store: ViewStore
    projector: Projector
    runner: Runner | None
    read: ReadModels
    notices: Notices
    owners: Owners
    queries: Queries  # the read side's front door
    sealer: Sealer

    def close(self) -> None:
        if self.runner is not None:
            self.runner.stop()
        self.sealer.close()
        self.store.close()
        self.app.close()


def open_system(
    settings: Settings,
    *,
    run_projector: bool = True,
    maintain_views: bool = True,
    today: Callable[[], date] | None = None,
    batch_size: int = 1000,
) -> System:
    """The application with its views; with `run_projector` the views are kept current in this process.

    Views written by an older version of rectify are rebuilt here unless `maintain_views` is off
    (an API process that leaves its views to a separate worker).
    """
    app = open_application(settings, today=today)
    store = open_store(settings.database, codec())
    store.setup()  # serialised across processes by the store itself
    projector = Projector(app, store, batch_size=batch_size)
    if maintain_views and store.is_stale():  # written by an older version of rectify: fold the log again
        projector.rebuild()
    sealer = open_sealer(settings)
    runner = None
    if run_projector:
        poll = settings.poll_interval if settings.database.kind == "sqlite" else max(1.0, settings.poll_interval)
        runner = Runner(projector, poll_interval=poll)
        runner.followers.append(sealer.follow)
        runner.start()
    read = ReadModels(
        app,
        store,
        today=today,
        wait_for=runner.wait_for if runner else None,
        thresholds=LightThresholds(settings.yellow_within_days),
    )
    notices = Notices(read, sealer)
    app.notice_renderer = notices.for_publication
    owners = Owners(app.recorder, app.mapper)
    queries = Queries(app, read, notices, owners, sealer=sealer)
    return System(settings, app, store, projector, runner, read, notices, owners, queries, sealer)
