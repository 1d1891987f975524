"""SIGKILL of `rectify serve` in the middle of a burst of keyed writes over /graphql, then a resend
of every unanswered request with the same key to a new server: nothing lost, nothing doubled."""

from __future__ import annotations

import threading
import time

import httpx
from api_harness import PROBE, load_world, start_server

from rectify import eventlog, settings
from rectify.bootstrap import open_application

REGISTER = (
    "mutation($i: RegisterUnitInput!) { registerUnit(input: $i) { __typename "
    "... on Accepted { position replayed } ... on StoreFault { message } ... on Conflict { message } } }"
)
#: The kill comes once 15 are answered: half the burst is still to send, and all of it is resent to the new server.
KEYS = [f"kill-{i:03d}" for i in range(30)]


def register(url: str, token: str, key: str) -> dict[str, object] | None:
    """The answer, or None when none came (the server died with the request)."""
    variables = {
        "i": {"name": f"单位{key}", "shortName": key, "address": "", "phone": "", "postcode": "", "idempotencyKey": key}
    }
    try:
        answer = PROBE.post(
            f"{url}/graphql",
            json={"query": REGISTER, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
    except httpx.HTTPError:
        return None
    if answer.status_code != 200:
        return None
    result: dict[str, object] = answer.json()["data"]["registerUnit"]
    return result


def test_a_server_killed_mid_burst_loses_and_doubles_nothing_when_resent_with_the_same_keys(database_url: str) -> None:
    _, tokens = load_world(database_url)
    server = start_server(database_url)
    answers: dict[str, dict[str, object] | None] = {}

    def burst() -> None:
        for key in KEYS:
            answers[key] = register(server.url, tokens["ADMIN"], key)

    sender = threading.Thread(target=burst)
    sender.start()
    while len(answers) < 15:
        time.sleep(0.01)
    server.process.kill()  # SIGKILL: no shutdown, no flush
    server.process.wait()
    sender.join(60)
    server.stop()
    accepted_before = {k for k, a in answers.items() if a is not None and a["__typename"] == "Accepted"}
    assert 15 <= len(accepted_before) < len(KEYS), len(accepted_before)

    again = start_server(database_url)
    try:
        for key, answer in answers.items():
            if answer is None or answer["__typename"] != "Accepted":
                resent = register(again.url, tokens["ADMIN"], key)
                assert resent is not None and resent["__typename"] == "Accepted", resent
            else:  # an answered request sent again is a replay, not a second unit
                resent = register(again.url, tokens["ADMIN"], key)
                assert resent is not None and resent["replayed"] is True, resent
    finally:
        again.stop()

    app = open_application(settings.load({}, database_url=database_url))
    try:
        names = [e.payload["name"] for e in eventlog.read(app.recorder, app.mapper) if e.type == "Unit.Registered"]
    finally:
        app.close()
    for key in KEYS:
        assert names.count(f"单位{key}") == 1, (key, names.count(f"单位{key}"))
