"""/health while the store takes no writes: reads still work then, so the head alone would look healthy."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faults_support import SYSTEM, small_filesystem, world

from rectify import settings
from rectify.access import Actor, Role
from rectify.bootstrap import System, open_system
from rectify.domain import StoreFault
from rectify.settings import Health
from rectify.web.health import HealthCheck

__all__ = ["small_filesystem"]  # a fixture
ADMIN = Actor("admin", Role.ADMIN)


def verdict(check: HealthCheck) -> tuple[int, dict[str, Any]]:
    response = asyncio.run(check.answer())
    return response.status_code, json.loads(bytes(response.body))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[System, HealthCheck]]:
    system = open_system(settings.load({}, database_url=f"sqlite:///{tmp_path / 'rectify.db'}"), run_projector=False)
    world(system.app)
    system.projector.catch_up()
    check = HealthCheck(system, Health())
    yield system, check
    check.close()
    system.close()


def query_only(system: System, on: bool) -> None:
    pool = system.app.recorder.datastore.pool  # type: ignore[attr-defined] # SQLite's recorder has one
    writer = pool.get_connection(is_writer=True)
    writer._sqlite_conn.execute(f"PRAGMA query_only = {'ON' if on else 'OFF'}")  # SQLite refuses every write
    pool.put_connection(writer)


def test_a_refused_write_makes_health_fail_until_a_write_is_saved_again(served: tuple[System, HealthCheck]) -> None:
    system, check = served
    assert verdict(check)[0] == 200
    query_only(system, True)
    with pytest.raises(StoreFault) as refused:
        system.app.register_unit(ADMIN, name="新单位")
    assert refused.value.reason == "READ_ONLY"
    status, body = verdict(check)
    assert status == 503, body
    assert body["problems"][0].startswith("the event store is read-only: the last write was refused"), body
    assert body["head"] == body["views"]  # reads answer all the while: only the refusal tells
    query_only(system, False)
    system.app.register_unit(ADMIN, name="新单位")
    system.projector.catch_up()
    status, body = verdict(check)
    assert status == 200, body


def test_a_store_folder_mounted_read_only_is_reported_before_any_write_fails(small_filesystem: Path) -> None:
    folder = small_filesystem / "store"
    folder.mkdir()
    system = open_system(settings.load({}, database_url=f"sqlite:///{folder / 'rectify.db'}"), run_projector=False)
    check = HealthCheck(system, Health())
    try:
        system.app.register_unit(SYSTEM, name="新单位")
        system.projector.catch_up()
        assert verdict(check)[0] == 200
        # A read-only mount over the store's folder: what the kernel does to a failing disk, or an
        # operator's mistake. The files already open stay writable; every new connection is refused.
        subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True)
        try:
            subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True)
            status, body = verdict(check)
        finally:
            subprocess.run(["umount", "-l", str(folder)], check=False)
        assert status == 503, body
        assert body["problems"] == [
            f"the event store is read-only: {folder.resolve() / 'rectify.db'} cannot be written"
        ], body
        assert verdict(check)[0] == 200
    finally:
        check.close()
        system.close()
