"""Live updates over graphql-transport-ws: progress after a mutation, the log from a cursor, across processes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from api_harness import open_served_world, start_server

from rectify import settings
from rectify.bootstrap import open_application
from scenario import SYSTEM

PROGRESS = """subscription($round: ID!) {
    progressChanged(roundId: $round) { position total undisclosed activities { kind records total } }
}"""
EVENTS = "subscription($after: Int!) { eventAppended(after: $after) { position type actor aggregateId } }"
# Live means pushed as the write commits, not found by a later poll. Pushes take milliseconds on a quiet machine;
# the bound leaves room for a loaded CI machine (latency itself is measured in bench/, not asserted here).
LIVE = 5.0  # seconds

AS_OF = "query($at: Int!, $r: ID!) { progress(asOf: {position: $at}, scope: {roundId: $r}) { position } }"
EVENTS_PAGE = """query($after: Int!) {
    events(after: $after, first: 500) { head nextCursor events { position type actor aggregateId } }
}"""


def clean_ups(progress: dict[str, Any]) -> int:
    return next((int(f["records"]) for f in progress["activities"] if f["kind"] == "大扫除"), 0)


def the_log_after(client: Any, after: int) -> list[dict[str, Any]]:
    """Every event after a position, page by page through the `events` query."""
    events: list[dict[str, Any]] = []
    while True:
        page = client.data(EVENTS_PAGE, {"after": after})["events"]
        events += page["events"]
        if not page["events"] or page["nextCursor"] >= page["head"]:
            return events
        after = page["nextCursor"]


async def mutate_and_wait(world: Any, receive: Any) -> tuple[dict[str, Any], Any]:
    """Records a clean-up: its answer and `receive()` are both in within LIVE seconds of sending it."""
    sent = asyncio.to_thread(world.record_clean_up)
    accepted, message = await asyncio.wait_for(asyncio.gather(sent, receive()), timeout=LIVE)
    assert accepted["__typename"] == "Accepted", accepted
    return accepted, message


def test_a_progress_subscriber_hears_of_a_mutation_live(served_store_world) -> None:
    round_id = str(served_store_world.loaded.round_id)

    async def scenario() -> None:
        async with served_store_world.ws("INSPECTOR") as session:
            operation = await session.subscribe(PROGRESS, {"round": round_id})
            now = await session.next(operation)
            assert now["progressChanged"]["position"] > 0
            accepted, update = await mutate_and_wait(served_store_world, lambda: session.next(operation))
            changed = update["progressChanged"]
            assert changed["position"] == accepted["position"]
            assert clean_ups(changed) == clean_ups(now["progressChanged"]) + 1
            assert changed["total"] == now["progressChanged"]["total"]

    asyncio.run(scenario())


def test_the_event_stream_replays_the_log_from_a_cursor_without_gaps_then_delivers_live(served_store_world) -> None:
    inspector = served_store_world.client("INSPECTOR")
    cursor = inspector.head() - 20
    # More than a page of the stream (500) after the cursor, so that pages must join up without a gap.
    app = open_application(settings.load({}, database_url=served_store_world.database_url))
    try:
        for n in range(600):
            app.register_unit(
                SYSTEM, name=f"测试单位{n}", short_name=f"测试{n}", address="地址", phone="1", postcode="518000"
            )
    finally:
        app.close()
    expected = the_log_after(inspector, cursor)
    assert len(expected) > 600

    async def scenario() -> None:
        async with served_store_world.ws("INSPECTOR") as session:
            operation = await session.subscribe(EVENTS, {"after": cursor})
            streamed = [(await session.next(operation))["eventAppended"] for _ in expected]
            assert streamed == expected
            positions = [e["position"] for e in streamed]
            assert positions[0] > cursor
            assert all(a < b for a, b in zip(positions, positions[1:], strict=False))

            accepted, live = await mutate_and_wait(served_store_world, lambda: session.next(operation))
            event = live["eventAppended"]
            assert (event["position"], event["type"], event["aggregateId"]) == (
                accepted["position"],
                "Finding.ActivityRecorded",
                served_store_world.finding_ids["人居环境品质有效提升"],
            )
            assert event["position"] > positions[-1]

    asyncio.run(scenario())


def test_the_public_may_not_stream_the_event_log(served_store_world) -> None:
    async def scenario() -> list[dict[str, Any]]:
        async with served_store_world.ws() as session:
            operation = await session.subscribe(EVENTS, {"after": 0})
            message = await session.message(operation)
            assert message["type"] in ("next", "error"), message
            return message["payload"]["errors"] if message["type"] == "next" else message["payload"]

    errors = asyncio.run(scenario())
    assert [e["message"] for e in errors] == [
        "the event log is open to the inspection office, admins, and a unit for its own part"
    ]


@pytest.mark.postgres
def test_a_mutation_sent_to_one_server_reaches_a_subscriber_of_another_live(postgres_url) -> None:
    with open_served_world(postgres_url) as world:
        second = start_server(world.database_url)
        try:

            async def scenario() -> None:
                async with second.ws() as public, second.ws(world.tokens["INSPECTOR"]) as inspector:
                    progress = await public.subscribe(PROGRESS, {"round": str(world.loaded.round_id)})
                    now = (await public.next(progress))["progressChanged"]
                    # The public's position is that of the last event it may see; the log goes on from the head.
                    log = await inspector.subscribe(EVENTS, {"after": world.client("INSPECTOR").head()})

                    accepted, (update, logged) = await mutate_and_wait(
                        world, lambda: asyncio.gather(public.next(progress), inspector.next(log))
                    )
                    assert update["progressChanged"]["position"] == accepted["position"]
                    assert clean_ups(update["progressChanged"]) == clean_ups(now) + 1
                    event = logged["eventAppended"]
                    assert (event["position"], event["type"]) == (accepted["position"], "Finding.ActivityRecorded")

            asyncio.run(scenario())
        finally:
            second.stop()
        assert "unexpected error" not in second.log()


@pytest.mark.postgres
def test_a_write_through_one_server_can_be_read_as_of_its_position_through_another_at_once(
    postgres_url,
) -> None:
    with open_served_world(postgres_url) as world:
        second = start_server(world.database_url)
        try:
            writer = world.client_for(second, "UNIT")
            reader = world.client("INSPECTOR")
            for _ in range(10):  # each write is a race between the two servers' runners: the writer's usually wins
                written = world.record_clean_up(writer)
                asked = {"at": written["position"], "r": str(world.loaded.round_id)}
                answer = reader.http.post("/graphql", json={"query": AS_OF, "variables": asked}, timeout=LIVE)
                assert answer.json() == {"data": {"progress": {"position": written["position"]}}}
        finally:
            second.stop()
            world.server.process.kill()  # it may still be waiting out the 10 s
