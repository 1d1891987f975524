"""Settings: the database URL and the other variables, read in one place."""

from __future__ import annotations

import pytest
from psycopg.conninfo import conninfo_to_dict

from rectify import settings


def test_a_postgresql_url_becomes_a_quoted_connection_string() -> None:
    database = settings.parse_database_url(
        "postgresql://ops:it%27s%20x%27%20host%3D%27evil@db.local:5433/rect?schema=s1"
    )
    assert database.schema == "s1"
    parsed = conninfo_to_dict(database.psycopg_conninfo())
    assert parsed["host"] == "db.local" and parsed["port"] == "5433" and parsed["dbname"] == "rect"
    assert parsed["password"] == "it's x' host='evil"


def test_sqlite_urls_name_a_file_and_memory_is_refused() -> None:
    assert str(settings.parse_database_url("sqlite:///data/r.db").path) == "data/r.db"
    assert str(settings.parse_database_url("sqlite:////var/lib/r.db").path) == "/var/lib/r.db"
    with pytest.raises(settings.SettingsError, match="file path"):
        settings.parse_database_url("sqlite:///:memory:")


def test_numbers_are_checked_with_the_variable_named() -> None:
    with pytest.raises(settings.SettingsError, match="RECTIFY_YELLOW_DAYS"):
        settings.load({"RECTIFY_YELLOW_DAYS": "-1"})
    assert settings.load({"RECTIFY_YELLOW_DAYS": "7"}).yellow_within_days == 7
    with pytest.raises(settings.SettingsError, match="number"):
        settings.load({"RECTIFY_PORT": "eighty"})
    with pytest.raises(settings.SettingsError, match="RECTIFY_STALL_SECONDS"):
        settings.load({"RECTIFY_STALL_SECONDS": "0"})
    assert settings.load({"RECTIFY_STALL_SECONDS": "2.5"}).stall_seconds == 2.5


def test_the_yellow_threshold_reaches_the_read_models(tmp_path) -> None:
    from rectify.bootstrap import open_system

    config = settings.load({"RECTIFY_YELLOW_DAYS": "21"}, database_url=f"sqlite:///{tmp_path / 'r.db'}")
    system = open_system(config, run_projector=False)
    try:
        assert system.read.thresholds.yellow_within_days == 21
    finally:
        system.close()


def test_store_timeouts_reach_the_store_libraries_and_are_checked() -> None:
    loaded = settings.load(
        {"RECTIFY_STORE_TIMEOUT": "3", "RECTIFY_CONNECT_TIMEOUT": "2", "RECTIFY_STATEMENT_TIMEOUT": "9"},
        database_url="postgresql://pg@db.local/rect",
    )
    env = loaded.database.eventsourcing_env()
    assert env["POSTGRES_CONNECT_TIMEOUT"] == "3" and env["POSTGRES_PRE_PING"] == "y"
    assert env["PERSISTENCE_MODULE"] == "rectify.persistence:PostgresFactory"
    parsed = conninfo_to_dict(loaded.database.psycopg_conninfo())
    assert parsed["connect_timeout"] == "2" and parsed["tcp_user_timeout"] == "9000"
    assert loaded.database.statement_options() == "-c statement_timeout=9000"
    sqlite = settings.load({"RECTIFY_STORE_TIMEOUT": "4"}, database_url="sqlite:///r.db").database
    assert sqlite.eventsourcing_env()["SQLITE_LOCK_TIMEOUT"] == "4"
    with pytest.raises(settings.SettingsError, match="RECTIFY_STORE_TIMEOUT"):
        settings.load({"RECTIFY_STORE_TIMEOUT": "0"})
    assert settings.load({"RECTIFY_HEALTH_LAG_EVENTS": "7"}).health.lag_events == 7


def test_the_postgres_factory_bounds_every_connection_it_opens(postgres_url: str) -> None:
    from rectify.application import RectifyApplication

    database = settings.load({"RECTIFY_STATEMENT_TIMEOUT": "7"}, database_url=postgres_url).database
    app = RectifyApplication(env=database.eventsourcing_env())
    try:
        with app.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
            assert conn.execute("SHOW statement_timeout").fetchone()["statement_timeout"] == "7s"
    finally:
        app.close()
