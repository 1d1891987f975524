"""Idempotency keys through the API: the same request with the same key is carried out once."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

TOTALS = "query($id: ID!) { finding(id: $id) { activityTotals { kind records } } }"


def clean_ups(world: Any) -> int:
    finding_id = world.finding_ids["人居环境品质有效提升"]
    totals = world.client("INSPECTOR").data(TOTALS, {"id": finding_id})["finding"]["activityTotals"]
    return next(t["records"] for t in totals if t["kind"] == "大扫除")


def clean_up(world: Any, key: str, occurred_on: str = "2026-02-01") -> dict[str, Any]:
    return {
        "findingId": world.finding_ids["人居环境品质有效提升"],
        "kind": "大扫除",
        "occurredOn": occurred_on,
        "count": 1,
        "idempotencyKey": key,
    }


def test_the_same_mutation_with_the_same_key_twice_appends_once(store_world) -> None:
    unit = store_world.client("UNIT")
    request = clean_up(store_world, f"clean-up-{uuid.uuid4()}")
    counted = clean_ups(store_world)

    first = unit.mutate("recordActivity", request)
    assert (first["__typename"], first["replayed"]) == ("Accepted", False)
    assert unit.head() == first["position"]
    later = unit.mutate("recordActivity", clean_up(store_world, f"clean-up-{uuid.uuid4()}"))
    head = unit.head()
    assert head == later["position"] > first["position"]

    again = unit.mutate("recordActivity", request)
    assert (again["__typename"], again["replayed"], again["id"]) == ("Accepted", True, first["id"])
    assert again["position"] == first["position"]  # the first answer again, after a later write too
    assert unit.head() == head
    assert clean_ups(store_world) == counted + 2


def test_the_same_key_with_a_different_request_is_refused(store_world) -> None:
    unit = store_world.client("UNIT")
    key = f"clean-up-{uuid.uuid4()}"
    assert unit.mutate("recordActivity", clean_up(store_world, key))["replayed"] is False
    head = unit.head()
    refused = unit.mutate("recordActivity", clean_up(store_world, key, occurred_on="2026-02-02"))
    assert refused["__typename"] == "InvalidInput"
    assert refused["field"] == "idempotencyKey"
    assert unit.head() == head


def test_copies_of_one_request_racing_each_other_append_once(store_world) -> None:
    request = clean_up(store_world, f"clean-up-{uuid.uuid4()}")
    clients = [store_world.client("UNIT") for _ in range(6)]
    counted = clean_ups(store_world)
    with ThreadPoolExecutor(len(clients)) as pool:
        results = list(pool.map(lambda client: client.mutate("recordActivity", request), clients))
    assert {r["__typename"] for r in results} == {"Accepted"}
    assert sorted(r["replayed"] for r in results) == [False] + [True] * (len(clients) - 1)
    assert len({r["id"] for r in results}) == 1
    assert clean_ups(store_world) == counted + 1


def test_a_key_is_the_callers_own(store_world) -> None:
    """The same key from another caller is another request: each is carried out."""
    key = f"shared-key-{uuid.uuid4()}"
    unit = store_world.client("UNIT").mutate("recordActivity", clean_up(store_world, key))
    inspector = store_world.client("INSPECTOR").mutate(
        "recordVerification",
        {
            "findingId": store_world.finding_ids["严格把关服务对象"],
            "passed": False,
            "verifiedBy": "区委巡察办",
            "occurredOn": "2026-02-01",
            "comment": "仍需完善",
            "idempotencyKey": key,
        },
    )
    assert (unit["__typename"], unit["replayed"]) == ("Accepted", False)
    assert (inspector["__typename"], inspector["replayed"]) == ("Accepted", False)


def test_issue_token_retried_with_its_key_answers_a_fresh_secret_and_the_first_one_stops_working(store_world) -> None:
    admin = store_world.client("ADMIN")
    request = {"role": "INSPECTOR", "label": "巡察办-重试", "idempotencyKey": f"token-{uuid.uuid4()}"}
    first = admin.mutate("issueToken", request)
    again = admin.mutate("issueToken", request)
    assert first["__typename"] == again["__typename"] == "TokenIssued"
    assert again["secret"] and again["secret"] != first["secret"] and again["id"] != first["id"]

    def me(secret: str) -> Any:
        return admin.http.post(
            "/graphql", json={"query": "{ me { role } }"}, headers={"Authorization": f"Bearer {secret}"}
        )

    assert me(first["secret"]).status_code == 401
    assert me(again["secret"]).json()["data"]["me"]["role"] == "INSPECTOR"
