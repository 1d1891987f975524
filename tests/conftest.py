"""Shared fixtures: the same scenarios run on an SQLite file and on a fresh PostgreSQL schema."""

from __future__ import annotations

import contextlib
import functools
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import date

import psycopg
import pytest
from psycopg import sql

from rectify import settings
from rectify.application import RectifyApplication
from rectify.bootstrap import open_application

#: The server the PostgreSQL tests use; CI points it at a database created for the run.
POSTGRES_URL = os.environ.get("RECTIFY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
#: In CI the PostgreSQL tests must run: an unreachable server fails them instead of skipping.
POSTGRES_REQUIRED = bool(os.environ.get("CI") or os.environ.get("RECTIFY_REQUIRE_POSTGRES"))

TODAY = date(2026, 3, 12)


def postgres_problem() -> str | None:
    database = settings.parse_database_url(POSTGRES_URL)
    try:
        with psycopg.connect(database.psycopg_conninfo(), connect_timeout=3):
            return None
    except psycopg.OperationalError as error:
        return f"no PostgreSQL server at {POSTGRES_URL}: {str(error).strip().splitlines()[0]}"


@pytest.fixture(scope="session")
def postgres_base() -> str:
    problem = postgres_problem()
    if problem:
        if POSTGRES_REQUIRED:
            pytest.fail(problem + " (CI requires the PostgreSQL tests to run)")
        pytest.skip(problem)
    return POSTGRES_URL


@contextlib.contextmanager
def fresh_postgres_schema(postgres_base: str) -> Iterator[str]:
    """The URL of a fresh schema in the test database, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    database = settings.parse_database_url(postgres_base)
    with psycopg.connect(database.psycopg_conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    separator = "&" if "?" in postgres_base else "?"
    try:
        yield f"{postgres_base}{separator}schema={schema}"
    finally:
        with psycopg.connect(database.psycopg_conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def postgres_url(postgres_base: str) -> Iterator[str]:
    """A fresh schema in the test database, dropped afterwards."""
    with fresh_postgres_schema(postgres_base) as url:
        yield url


@pytest.fixture(scope="session")
def postgres_schemas(postgres_base: str) -> Callable[[], contextlib.AbstractContextManager[str]]:
    """Fresh schemas on demand, for fixtures of a wider scope than `postgres_url`."""
    return functools.partial(fresh_postgres_schema, postgres_base)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'rectify.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def config(database_url: str) -> settings.Settings:
    return settings.load({}, database_url=database_url)


@pytest.fixture
def app(config: settings.Settings) -> Iterator[RectifyApplication]:
    application = open_application(config, today=lambda: TODAY)
    yield application
    application.close()
