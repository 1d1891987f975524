"""A revoked token stops working at once, in every process, and its subscriptions end within a second."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from api_harness import TLS, Server, World, open_served_world, start_server

EVENTS = "subscription($after: Int!) { eventAppended(after: $after) { position } }"
PROGRESS = "subscription($round: ID!) { progressChanged(roundId: $round) { position } }"
ME = "{ me { role } }"


def issue_unit_token(world: World) -> dict[str, Any]:
    issued = world.client("ADMIN").mutate(
        "issueToken", {"role": "UNIT", "label": "即将撤销", "unitId": str(world.loaded.unit_id)}
    )
    assert issued["__typename"] == "TokenIssued", issued
    return issued


def asks(server: Server, secret: str) -> int:
    """The status of a query with this token."""
    return httpx.post(
        server.graphql_url, json={"query": ME}, headers={"Authorization": f"Bearer {secret}"}, timeout=10, verify=TLS
    ).status_code


async def revoke_while_subscribed(world: World, serving: Server, revoking: Server) -> dict[str, Any]:
    """Subscribes on `serving` with a fresh token, revokes it through `revoking`, and tells what followed."""
    issued = issue_unit_token(world)
    secret = issued["secret"]
    assert await asyncio.to_thread(asks, serving, secret) == 200  # now known (and remembered) there
    async with serving.ws(secret) as session:
        events = await session.subscribe(EVENTS, {"after": world.client("INSPECTOR").head()})
        progress = await session.subscribe(PROGRESS, {"round": str(world.loaded.round_id)})
        await session.next(progress)  # subscribed: the first push is the progress as it is
        admin = world.client_for(revoking, "ADMIN")
        revoked = await asyncio.to_thread(admin.mutate, "revokeToken", {"tokenId": issued["id"], "reason": "离岗"})
        assert revoked["__typename"] == "Accepted", revoked
        answered = time.monotonic()
        first_status = status = await asyncio.to_thread(asks, serving, secret)
        while status != 401 and time.monotonic() - answered < 5:
            status = await asyncio.to_thread(asks, serving, secret)
        refused_within = time.monotonic() - answered if status == 401 else float("inf")
        ended = await asyncio.gather(session.message(events, timeout=10), session.message(progress, timeout=10))
        ended_within = time.monotonic() - answered
        new_operation = await session.subscribe(PROGRESS, {"round": str(world.loaded.round_id)})
        refused_there = await session.message(new_operation, timeout=5)
    return {
        "first_status": first_status,
        "refused_within": refused_within,
        "ended": ended,
        "ended_within": ended_within,
        "new": refused_there,
    }


def assert_revoked(outcome: dict[str, Any]) -> None:
    for message in outcome["ended"]:
        assert message["type"] in ("error", "next"), message
        errors = message["payload"] if message["type"] == "error" else message["payload"].get("errors")
        assert errors and "revoked" in str(errors), message
    assert outcome["refused_within"] < 1.0, outcome
    assert outcome["ended_within"] < 1.0, outcome  # both subscriptions, counted from the revocation's answer
    assert "revoked" in str(outcome["new"]), outcome["new"]  # nor does the connection take new operations


def test_a_revoked_token_is_refused_at_once_and_its_subscriptions_end(served_shared_world: World) -> None:
    """One process (SQLite): the revocation is answered only once the token is forgotten here."""
    outcome = asyncio.run(
        revoke_while_subscribed(served_shared_world, served_shared_world.server, served_shared_world.server)
    )
    assert outcome["first_status"] == 401  # the very first request after the answer
    assert_revoked(outcome)


@pytest.mark.postgres
def test_a_token_revoked_through_one_server_is_refused_by_another_and_its_subscriptions_there_end(
    postgres_url: str,
) -> None:
    """Two processes (PostgreSQL): the other hears of the revocation through LISTEN/NOTIFY."""
    with open_served_world(postgres_url) as world:
        other = start_server(world.database_url)
        try:
            outcome = asyncio.run(revoke_while_subscribed(world, other, world.server))
        finally:
            other.stop()
        assert "unexpected error" not in other.log()
    assert_revoked(outcome)
