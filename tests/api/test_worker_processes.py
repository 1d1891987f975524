"""The API without its own projector (`serve --no-projector`) beside a `rectify project` worker."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from api_harness import (
    PROBE,
    STORES,
    World,
    checked,
    load_world,
    per_store,
    start_server,
    start_worker,
)

from rectify import settings
from rectify.bootstrap import open_system

#: How long the views may lag before /health fails, in the health test: the first /health after its write
#: comes well within this even on a busy machine.
STALL_SECONDS = 5


@contextlib.contextmanager
def worker_beside_api(database_url: str) -> Iterator[World]:
    """`rectify project` as a worker, and `rectify serve --no-projector` over the same store. The worker starts
    once the world is in the store (started first, it could create the store's tables before the world is copied
    into it, and a copy goes into an empty store only: see store_templates) and before the server, whose /health
    answers once the worker has brought the views near the head."""
    loaded, tokens = load_world(database_url)
    worker = start_worker(database_url, "--poll-interval", "0.05")
    try:
        with checked(World(database_url, loaded, tokens, start_server(database_url, "--no-projector"))) as world:
            yield world
    finally:
        worker.terminate()
        worker.communicate(timeout=10)


@pytest.fixture(scope="module", params=STORES)
def split_world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One worker and one API process per store, for the tests of this module."""
    yield from per_store(request, tmp_path_factory, worker_beside_api)


def test_a_write_is_readable_at_its_position_when_a_separate_worker_projects_it(split_world: Any) -> None:
    recorded = split_world.record_clean_up()
    assert recorded["__typename"] == "Accepted", recorded
    query = (
        "query($r: ID!, $p: Int!) { round(id: $r, asOf: {position: $p}) { progress { position "
        "activities { kind total } } } }"
    )
    answer = split_world.client("INSPECTOR").data(
        query, {"r": str(split_world.loaded.round_id), "p": recorded["position"]}
    )["round"]["progress"]
    assert answer["position"] == recorded["position"]
    assert {a["kind"]: a["total"] for a in answer["activities"]}["大扫除"] == "29"


def test_publishing_answers_with_the_digest_when_a_separate_worker_projects(split_world: Any) -> None:
    published = split_world.client("UNIT").mutate(
        "publishNotice", {"roundId": str(split_world.loaded.round_id), "unitId": str(split_world.loaded.unit_id)}
    )
    assert published["__typename"] == "NoticePublished", published
    assert len(published["sha256"]) == 64
    notice = split_world.client("UNIT").data(
        "query($id: ID!) { notice(id: $id) { verified } }", {"id": published["id"]}
    )
    assert notice == {"notice": {"verified": True}}


def test_health_fails_while_nothing_moves_the_views_and_recovers_once_a_worker_does(database_url: str) -> None:
    """The lag is timed from the log (the oldest event the views lack), so the API sees that no worker runs.
    The views start at the head, so the lag starts with a write through the API: the stall setting bounds the
    wait, and the first /health after the write is well within it."""
    loaded, tokens = load_world(database_url)
    system = open_system(settings.load({}, database_url=database_url), run_projector=False)
    try:
        system.projector.catch_up()
    finally:
        system.close()
    server = start_server(database_url, "--no-projector", env={"RECTIFY_STALL_SECONDS": str(STALL_SECONDS)})
    with checked(World(database_url, loaded, tokens, server)) as world:
        caught_up = PROBE.get(f"{world.server.url}/health", timeout=10).json()
        assert caught_up["views"] == caught_up["head"], caught_up
        assert world.record_clean_up()["__typename"] == "Accepted"
        first = PROBE.get(f"{world.server.url}/health", timeout=10)
        assert first.status_code == 200, first.text  # behind, but not yet for long
        assert first.json()["views"] < first.json()["head"]
        deadline = time.monotonic() + STALL_SECONDS + 30
        while (stuck := PROBE.get(f"{world.server.url}/health", timeout=10)).status_code == 200:
            assert time.monotonic() < deadline, stuck.text
            time.sleep(0.2)
        assert stuck.status_code == 503
        assert stuck.json()["lag_seconds"] > STALL_SECONDS
        behind = stuck.json()["head"] - stuck.json()["views"]
        assert stuck.json()["problems"][0].startswith(f"the views have stayed {behind} events behind the log for ")
        worker = start_worker(database_url, "--poll-interval", "0.05")
        try:
            deadline = time.monotonic() + 30
            while (health := PROBE.get(f"{world.server.url}/health", timeout=10)).status_code != 200:
                assert time.monotonic() < deadline, health.text
                time.sleep(0.2)
            assert health.json()["views"] == health.json()["head"]
            assert health.json()["problems"] == []
        finally:
            worker.terminate()
            worker.communicate(timeout=10)
