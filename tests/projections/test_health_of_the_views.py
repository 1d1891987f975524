"""/health's verdict (rectify.web.health) on a real store: current, lagging, silent or failing."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import replace
from typing import Any

import pytest

from rectify.bootstrap import System
from rectify.examples import songyuan
from rectify.settings import Health
from rectify.web.health import HealthCheck
from scenario import load_reference


def verdict(check: HealthCheck) -> tuple[int, dict[str, Any]]:
    response = asyncio.run(check.answer())
    return response.status_code, json.loads(bytes(response.body))


def test_current_views_are_healthy_and_views_far_behind_the_log_are_not(system: System) -> None:
    load_reference(system.app)
    check = HealthCheck(system, Health(lag_events=10, lag_seconds=60))
    status, body = verdict(check)
    assert status == 503 and body["views"] == 0 and body["head"] > 10
    assert body["problems"][0].startswith(f"the views have stayed {body['head']} events behind the log")
    system.projector.catch_up()
    status, body = verdict(check)
    assert status == 200, body
    assert body["views"] == body["head"] and body["problems"] == []
    check.close()


def test_a_lag_is_timed_from_the_oldest_event_the_views_lack(system: System, loaded: songyuan.Loaded) -> None:
    """Measured from the log, so a dead worker in another process shows too: no runner here."""
    check = HealthCheck(system, Health(lag_events=1000, lag_seconds=0.5))
    from rectify.access import Actor, Role

    system.app.register_unit(Actor("admin", Role.ADMIN), name="新单位")
    status, body = verdict(check)
    assert status == 200, body  # one event behind, recorded just now
    time.sleep(0.7)
    status, body = verdict(check)
    assert status == 503 and "1 events behind" in body["problems"][0]
    check.close()


def test_a_store_that_does_not_answer_is_a_503_within_the_second(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    monkeypatch.setattr(system.app, "head", lambda: release.wait(30) and 0)
    check = HealthCheck(system, replace(Health(), timeout=0.5))
    for _ in range(3):  # one probe hangs; the answers do not wait for it
        started = time.monotonic()
        status, body = verdict(check)
        assert time.monotonic() - started < 1.0
        assert status == 503 and body["problems"] == ["the event store did not answer within 0.5 s"]
    release.set()
    check.close()


def test_a_store_that_fails_is_a_503_naming_the_failure(system: System, monkeypatch: pytest.MonkeyPatch) -> None:
    from eventsourcing.persistence import OperationalError

    def down() -> int:
        raise OperationalError("connection refused")

    monkeypatch.setattr(system.app, "head", down)
    check = HealthCheck(system, Health())
    status, body = verdict(check)
    assert status == 503
    assert body["problems"][0].startswith("the event store is unreachable (UNAVAILABLE): connection refused")
    check.close()
