"""SIGKILL of the separate `rectify project` worker in the middle of a burst of keyed writes over /graphql:
the writes are still answered Accepted (saying the views did not catch up), /health says the views stall,
a resend with the same keys replays, and a new worker brings the views to what a rebuild gives."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

from api_harness import PROBE, load_world, start_server, start_worker

from rectify import eventlog, settings
from rectify.bootstrap import open_system

REGISTER = (
    "mutation($i: RegisterUnitInput!) { registerUnit(input: $i) { __typename "
    "... on Accepted { position replayed viewsCaughtUp } ... on StoreFault { message } } }"
)
KEYS = [f"worker-{i:03d}" for i in range(12)]


def register(url: str, token: str, key: str) -> dict[str, object]:
    variables = {
        "i": {"name": f"单位{key}", "shortName": key, "address": "", "phone": "", "postcode": "", "idempotencyKey": key}
    }
    answer = PROBE.post(
        f"{url}/graphql",
        json={"query": REGISTER, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, object] = answer.json()["data"]["registerUnit"]
    return result


def test_a_worker_killed_mid_burst_leaves_writes_accepted_and_a_new_worker_brings_the_views_to_a_rebuild(
    database_url: str,
) -> None:
    _, tokens = load_world(database_url)
    projecting = start_worker(database_url, "--poll-interval", "0.05")
    server = start_server(database_url, "--no-projector", env={"RECTIFY_STALL_SECONDS": "1"})
    try:
        answers: dict[str, dict[str, object]] = {}
        with ThreadPoolExecutor(max_workers=6) as pool:
            pending = {key: pool.submit(register, server.url, tokens["ADMIN"], key) for key in KEYS}
            while sum(f.done() for f in pending.values()) < 4:
                time.sleep(0.01)
            os.kill(projecting.pid, signal.SIGKILL)  # no shutdown: a view batch may be cut off mid-transaction
            projecting.communicate(timeout=10)
            answers = {key: f.result() for key, f in pending.items()}
        assert {a["__typename"] for a in answers.values()} == {"Accepted"}, answers  # the log took every write
        assert any(a["viewsCaughtUp"] is False for a in answers.values()), "the views could not have caught up"

        deadline = time.monotonic() + 20
        while (health := PROBE.get(f"{server.url}/health", timeout=10)).status_code == 200:
            assert time.monotonic() < deadline, health.text
            time.sleep(0.2)
        assert health.json()["problems"][0].startswith("the views have stayed"), health.text

        projecting = start_worker(database_url, "--poll-interval", "0.05")
        deadline = time.monotonic() + 30
        while (health := PROBE.get(f"{server.url}/health", timeout=10)).status_code != 200:
            assert time.monotonic() < deadline, health.text
            time.sleep(0.1)
        assert health.json()["views"] == health.json()["head"]

        for key, first in answers.items():  # any answer may have been lost on the way: a resend replays it
            again = register(server.url, tokens["ADMIN"], key)  # the first answer again
            assert again["replayed"] is True and again["position"] == first["position"], (key, again, first)
    finally:
        projecting.kill()
        projecting.communicate(timeout=10)
        server.stop()

    system = open_system(settings.load({}, database_url=database_url), run_projector=False)
    try:
        log = eventlog.read(system.app.recorder, system.app.mapper)
        names = [e.payload["name"] for e in log if e.type == "Unit.Registered"]
        assert all(names.count(f"单位{key}") == 1 for key in KEYS)
        with system.store.snapshot() as view:
            after_crash = view.dump()
        system.projector.rebuild()
        with system.store.snapshot() as view:
            assert view.dump() == after_crash
    finally:
        system.close()
