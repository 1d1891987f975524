"""A sealed store of the reference scenario (two published notices, a signing key), and raw SQL to tamper
with its events the way a person with database access would: on an SQLite file and on a PostgreSQL schema."""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from hashlib import sha256
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

import store_templates
from rectify import settings
from rectify.access import Actor, Role
from rectify.bootstrap import open_system
from rectify.cli import main
from rectify.examples import songyuan
from rectify.integrity import keys
from rectify.integrity.leaves import StoredEvent
from rectify.integrity.store import open_log_store

SYSTEM = Actor("tests", Role.SYSTEM)
PUBLISHED_ON = date(2026, 3, 12)
EVERY = 40  # a tree head every 40 events: the 160-odd events of the scenario get four


@dataclass
class Scenario:
    url: str
    key_file: Path
    notices: list[UUID]


class RawLog:
    """The events table under the application's feet, through plain SQL."""

    def __init__(self, url: str) -> None:
        self.database = settings.parse_database_url(url)
        self.sqlite = self.database.kind == "sqlite"
        self.table = "stored_events" if self.sqlite else "rectify_events"
        self.pos = "rowid" if self.sqlite else "notification_id"

    def execute(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        statement = statement.format(events=self.table, pos=self.pos)
        if self.sqlite:
            with sqlite3.connect(str(self.database.path)) as conn:
                rows = conn.execute(statement, params).fetchall()
            conn.close()
            return rows
        with psycopg.connect(
            self.database.psycopg_conninfo(), options=f"-c search_path={self.database.schema}", autocommit=True
        ) as conn:
            cursor = conn.execute(statement.replace("?", "%s"), params)
            return cursor.fetchall() if cursor.description else []

    def events(self) -> list[StoredEvent]:
        store = open_log_store(self.database)
        try:
            with store.snapshot() as reader:
                return list(reader.events())
        finally:
            store.close()

    def key(self, event: StoredEvent) -> Any:
        """The aggregate id as this store keeps it, for a WHERE clause."""
        return event.aggregate_id.hex() if self.sqlite else event.aggregate

    def state(self, position: int) -> bytes:
        return bytes(self.execute("SELECT state FROM {events} WHERE {pos} = ?", (position,))[0][0])

    def set_state(self, position: int, state: bytes) -> None:
        self.execute("UPDATE {events} SET state = ? WHERE {pos} = ?", (state, position))

    def move(self, position: int, to: int) -> None:
        self.execute("UPDATE {events} SET {pos} = ? WHERE {pos} = ?", (to, position))

    def shift_up(self, start: int) -> None:
        """Every event from `start` on one position later (by way of a far range, to keep keys unique)."""
        self.execute("UPDATE {events} SET {pos} = {pos} + 1000000 WHERE {pos} >= ?", (start,))
        self.execute("UPDATE {events} SET {pos} = {pos} - 999999 WHERE {pos} >= 1000000")

    def insert(self, position: int, aggregate: UUID, version: int, topic: str, state: bytes) -> None:
        identifier: Any = aggregate.hex if self.sqlite else aggregate
        self.execute(
            "INSERT INTO {events} ({pos}, originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?, ?)",
            (position, identifier, version, topic, state),
        )


def rectify(*args: str) -> int:
    """`rectify …` in this process (its output goes to capsys)."""
    return main(list(args))


def worker_key() -> Path:
    """The signing key of this test process, generated on first use (the sealed templates are sealed with it)."""
    global _worker_key
    if _worker_key is None:
        _worker_key = Path(tempfile.mkdtemp(prefix="rectify-key-")) / "signing.key"
        atexit.register(shutil.rmtree, _worker_key.parent, True)
        keys.generate(_worker_key)
    return _worker_key


_worker_key: Path | None = None


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    """A signing key (and its `.pub`) of the test's own, in tmp_path: a copy of this process's key (mode kept),
    so that a sealed scenario can be copied from its template rather than sealed again."""
    path = tmp_path / "keys" / "signing.key"
    path.parent.mkdir(parents=True)
    source = worker_key()
    for suffix in ("", ".pub"):
        shutil.copy2(f"{source}{suffix}", f"{path}{suffix}")
    return path


@pytest.fixture
def signing_env(monkeypatch: pytest.MonkeyPatch, key_file: Path) -> Path:
    monkeypatch.setenv("RECTIFY_SIGNING_KEY", str(key_file))
    monkeypatch.setenv("RECTIFY_CHECKPOINT_EVENTS", str(EVERY))
    monkeypatch.delenv("RECTIFY_PUBLIC_KEY", raising=False)
    monkeypatch.delenv("RECTIFY_DATABASE_URL", raising=False)
    return key_file


def write_scenario(url: str, key_file: Path) -> list[UUID]:
    """The reference scenario with its notice published twice, sealed with a head every EVERY events; returns
    the notices."""
    config = settings.load(
        {"RECTIFY_SIGNING_KEY": str(key_file), "RECTIFY_CHECKPOINT_EVENTS": str(EVERY)}, database_url=url
    )
    system = open_system(config, run_projector=False, today=lambda: PUBLISHED_ON)
    try:
        loaded = songyuan.load(system.app, SYSTEM)
        system.projector.catch_up()
        notices = [
            system.app.publish_notice(
                SYSTEM, round_id=loaded.round_id, unit_id=loaded.unit_id, published_on=day, position=loaded.position
            ).entity_id
            for day in (PUBLISHED_ON, date(2026, 3, 1))
        ]
        system.sealer.seal()
    finally:
        system.close()
    return notices


def load_scenario(url: str, key_file: Path) -> Scenario:
    """The sealed scenario of `write_scenario` in the empty store at `url`: a copy of the one written once per
    process and key (see store_templates)."""
    key = sha256(key_file.read_bytes()).hexdigest()[:16]
    notices = store_templates.fill(url, f"sealed-{key}", lambda template: write_scenario(template, key_file))
    return Scenario(url, key_file, notices)


@pytest.fixture
def scenario(database_url: str, signing_env: Path) -> Scenario:
    return load_scenario(database_url, signing_env)


@pytest.fixture
def raw(scenario: Scenario) -> RawLog:
    return RawLog(scenario.url)


@pytest.fixture
def store_urls(tmp_path: Path, postgres_schemas) -> Iterator[dict[str, Any]]:  # noqa: ANN001
    """Fresh stores on demand: `urls["sqlite"](name)` and `urls["postgres"]()`."""
    from contextlib import ExitStack

    with ExitStack() as stack:
        yield {
            "sqlite": lambda name: f"sqlite:///{tmp_path / name}.db",
            "postgres": lambda: stack.enter_context(postgres_schemas()),
        }
