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
