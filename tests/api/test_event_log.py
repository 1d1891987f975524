"""The event log as each role may read it: all of it for the office, a unit's own part for a unit."""

from __future__ import annotations

import asyncio
from typing import Any

EVENTS = (
    "query($after: Int!, $first: Int!) { events(after: $after, first: $first) "
    "{ nextCursor head events { position type aggregateId payload } } }"
)
LIVE = "subscription($after: Int!) { eventAppended(after: $after) { position type aggregateId } }"


def whole_log(client: Any) -> list[dict[str, Any]]:
    events, cursor = [], 0
    while True:
        page = client.data(EVENTS, {"after": cursor, "first": 500})["events"]
        events += page["events"]
        if page["nextCursor"] == cursor or not page["events"] and page["nextCursor"] >= page["head"]:
            return events
        cursor = page["nextCursor"]


def test_a_unit_reads_its_own_part_of_the_log_and_nothing_else(shared_world: Any) -> None:
    everything = whole_log(shared_world.client("INSPECTOR"))
    own = whole_log(shared_world.client("UNIT"))
    other = whole_log(shared_world.client("OTHER_UNIT"))
    loaded = shared_world.loaded
    rules = {r["id"] for r in shared_world.client("UNIT").data("{ rules { id boundUnitId } }")["rules"]}
    ours = {str(loaded.unit_id), str(loaded.round_id), *map(str, loaded.finding_ids.values()), *rules}
    assert {e["aggregateId"] for e in own} == ours  # the standing rule it adopted for itself is its own too
    assert [e["position"] for e in own] == sorted(e["position"] for e in own)
    expected = [e for e in everything if e["aggregateId"] in ours]
    assert own == expected
    assert not any(e["type"].startswith("AccessToken") for e in own + other)
    assert not ours & {e["aggregateId"] for e in other}
    assert [e["type"] for e in other] == ["Unit.Registered"]  # the other unit's own registration
    assert shared_world.client().errors(EVENTS, {"after": 0, "first": 10})


def test_a_unit_hears_its_own_events_live_and_not_another_units(served_shared_world: Any) -> None:
    async def scenario() -> list[dict[str, Any]]:
        head = served_shared_world.client("INSPECTOR").head()
        async with served_shared_world.ws("UNIT") as session:
            operation = await session.subscribe(LIVE, {"after": head})
            other = served_shared_world.client("OTHER_UNIT").mutate(
                "changeUnitContact",
                {"unitId": other_unit_id(served_shared_world), "address": "新地址", "phone": "2", "postcode": "518000"},
            )
            assert other["__typename"] == "Accepted", other
            recorded = await asyncio.to_thread(served_shared_world.record_clean_up, None, "2026-03-02")
            heard = (await session.next(operation))["eventAppended"]
            assert heard["position"] == recorded["position"] > other["position"]
            return [heard]

    heard = asyncio.run(scenario())
    assert heard[0]["type"] == "Finding.ActivityRecorded"


def other_unit_id(world: Any) -> str:
    return world.client("OTHER_UNIT").data("{ me { unitId } }")["me"]["unitId"]


LATEST = (
    "query($upTo: Int, $last: Int!) { latestEvents(upTo: $upTo, last: $last) "
    "{ nextCursor head events { position type aggregateId payload } } }"
)


def test_the_latest_events_are_the_last_ones_the_caller_may_read_counted_in_events(store_world: Any) -> None:
    """The dashboard's feed opens on them: counted back in positions, a unit (whose events are sparse
    in the log) or a log with gaps got fewer than it asked for."""
    for role in ("INSPECTOR", "UNIT"):
        client = store_world.client(role)
        readable = whole_log(client)
        assert len(readable) > 30, role
        page = client.data(LATEST, {"upTo": None, "last": 20})["latestEvents"]
        assert page["events"] == readable[-20:], role
        assert page["nextCursor"] == readable[-1]["position"]
        middle = readable[len(readable) // 2]["position"]
        earlier = client.data(LATEST, {"upTo": middle, "last": 20})["latestEvents"]["events"]
        assert earlier == [e for e in readable if e["position"] <= middle][-20:], role
        assert client.data(LATEST, {"upTo": 0, "last": 20})["latestEvents"]["events"] == []
    assert "upTo: a position is 0 or more" in str(
        store_world.client("INSPECTOR").errors(LATEST, {"upTo": -1, "last": 5})
    )
    assert store_world.client().errors(LATEST, {"upTo": None, "last": 10})
