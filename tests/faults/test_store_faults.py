"""Real store faults under a burst of keyed commands: each answer is truthful, no write is lost or
doubled, and writes succeed again as soon as the store is back."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from faults_support import Burst, Proxy, small_filesystem, world

from rectify import settings
from rectify.bootstrap import open_application

KEYS = [f"k{i:03d}" for i in range(60)]
__all__ = ["small_filesystem"]  # a fixture


def test_a_full_disk_answers_disk_full_appends_nothing_and_writes_resume_once_space_is_back(
    small_filesystem: Path,
) -> None:
    app = open_application(settings.load({}, database_url=f"sqlite:///{small_filesystem / 'rectify.db'}"))
    try:
        unit, finding_id = world(app)
        burst = Burst(app, unit, finding_id)
        filler = small_filesystem / "filler"
        with filler.open("wb") as f, contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        burst.run(KEYS[:20], threads=2)
        refused = [a for a in burst.answers.values() if a.kind == "NOTHING_APPENDED"]
        assert refused and all("disk is full" in a.detail for a in refused), burst.answers
        assert not [a for a in burst.answers.values() if a.kind == "MAYBE_APPENDED"]
        burst.check_truthful()
        filler.unlink()
        assert burst.resend_until_accepted(within=2.0) < 2.0
        burst.check_once_each(KEYS[:20])
    finally:
        app.close()


def test_a_read_only_sqlite_store_answers_read_only_and_appends_nothing(tmp_path: Path) -> None:
    app = open_application(settings.load({}, database_url=f"sqlite:///{tmp_path / 'rectify.db'}"))
    try:
        unit, finding_id = world(app)
        burst = Burst(app, unit, finding_id)
        writer = app.recorder.datastore.pool.get_connection(is_writer=True)  # type: ignore[attr-defined]
        writer._sqlite_conn.execute("PRAGMA query_only = ON")  # SQLite refuses every write: SQLITE_READONLY
        app.recorder.datastore.pool.put_connection(writer)  # type: ignore[attr-defined]
        burst.run(KEYS[:10], threads=1)
        assert {a.kind for a in burst.answers.values()} == {"NOTHING_APPENDED"}
        assert all("read-only" in a.detail for a in burst.answers.values()), burst.answers
        burst.check_truthful()
        writer = app.recorder.datastore.pool.get_connection(is_writer=True)  # type: ignore[attr-defined]
        writer._sqlite_conn.execute("PRAGMA query_only = OFF")
        app.recorder.datastore.pool.put_connection(writer)  # type: ignore[attr-defined]
        burst.resend_until_accepted(within=2.0)
        burst.check_once_each(KEYS[:10])
    finally:
        app.close()


def through(proxy: Proxy, url: str) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username or 'postgres'}@127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=netloc))


@contextlib.contextmanager
def proxied_app(postgres_url: str, store_timeout: str = "2") -> Iterator[tuple[Proxy, Burst]]:
    database = settings.parse_database_url(postgres_url)
    proxy = Proxy((database.host, database.port)).start()
    config = settings.load(
        {"RECTIFY_STORE_TIMEOUT": store_timeout, "RECTIFY_CONNECT_TIMEOUT": "1", "RECTIFY_STATEMENT_TIMEOUT": "3"},
        database_url=through(proxy, postgres_url),
    )
    app = open_application(config)
    try:
        unit, finding_id = world(app)
        yield proxy, Burst(app, unit, finding_id)
    finally:
        app.close()
        proxy.kill()


@pytest.mark.postgres
def test_a_proxy_killed_mid_burst_loses_and_doubles_nothing(postgres_url: str) -> None:
    with proxied_app(postgres_url) as (proxy, burst):

        def outage() -> None:
            proxy.kill()
            time.sleep(1.0)
            proxy.start()

        burst.run(KEYS, during=outage)
        assert {a.kind for a in burst.answers.values()} - {"ACCEPTED"}, "the outage was not seen"
        burst.check_truthful()
        assert burst.resend_until_accepted(within=5.0) < 5.0
        burst.check_once_each(KEYS)


@pytest.mark.postgres
def test_a_frozen_proxy_is_answered_timed_out_within_the_bound(postgres_url: str) -> None:
    with proxied_app(postgres_url, store_timeout="1") as (proxy, burst):
        slowest: list[float] = []
        send = burst.send

        def timed(key: str):  # type: ignore[no-untyped-def]
            began = time.monotonic()
            try:
                return send(key)
            finally:
                slowest.append(time.monotonic() - began)

        burst.send = timed  # type: ignore[method-assign]

        def freeze() -> None:
            proxy.freeze()
            time.sleep(2.0)
            proxy.thaw()

        burst.run(KEYS[:40], during=freeze)
        timed_out = [a for a in burst.answers.values() if "did not answer in time" in a.detail]
        assert timed_out, burst.answers
        assert max(slowest) < 1.0 + 0.5, max(slowest)  # the store bound, and a margin for the threads
        burst.send = send  # type: ignore[method-assign]
        burst.check_truthful()
        burst.resend_until_accepted(within=10.0)
        burst.check_once_each(KEYS[:40])


@pytest.mark.postgres
def test_backends_terminated_mid_burst_lose_and_double_nothing(postgres_url: str) -> None:
    with proxied_app(postgres_url) as (proxy, burst):
        database = settings.parse_database_url(postgres_url)

        def terminate() -> None:
            ports = proxy.upstream_ports()
            with psycopg.connect(database.psycopg_conninfo(), autocommit=True) as conn:
                killed = conn.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE client_port = ANY(%s)",
                    (ports,),
                ).fetchone()
            assert killed and killed[0] > 0

        burst.run(KEYS, during=terminate)
        burst.check_truthful()
        assert burst.resend_until_accepted(within=5.0) < 5.0
        burst.check_once_each(KEYS)
