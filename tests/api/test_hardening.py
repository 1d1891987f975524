"""WebSocket hardening (subprotocol, origin, init timeout, token, subscription cap) and switchable introspection."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import websockets
from api_harness import BASE_ENV, LocalApp, World, open_served_world

from rectify import settings
from rectify.web.app import WebSettings

ALLOWED_ORIGIN = "https://dashboard.example"
PROGRESS = "subscription($round: ID!) { progressChanged(roundId: $round) { position } }"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A server with a short connection-init timeout and one allowed cross-origin page."""
    env = {"RECTIFY_WS_INIT_TIMEOUT": "0.5", "RECTIFY_ALLOWED_ORIGINS": ALLOWED_ORIGIN}
    with open_served_world(f"sqlite:///{tmp_path_factory.mktemp('ws') / 'rectify.db'}", env=env) as world:
        yield world


async def closed_with(url: str, *, send: Sequence[dict[str, Any]] = (), **connect: Any) -> tuple[int | None, str]:
    """Opens a socket, sends the messages, and waits (at most 10 s) for the server to close it."""
    async with websockets.connect(url, **connect) as socket:
        with contextlib.suppress(websockets.ConnectionClosed):
            for message in send:
                await socket.send(json.dumps(message))
            while True:
                await asyncio.wait_for(socket.recv(), 10)
        return socket.close_code, socket.close_reason or ""


def test_only_the_graphql_transport_ws_subprotocol_is_accepted(guarded) -> None:
    url = guarded.server.ws_url
    init = [{"type": "connection_init", "payload": {}}]

    async def scenario() -> None:
        assert await closed_with(url, send=init, subprotocols=["graphql-ws"]) == (4406, "Subprotocol not acceptable")
        assert await closed_with(url, send=init) == (4406, "Subprotocol not acceptable")
        async with websockets.connect(url, subprotocols=["graphql-ws", "graphql-transport-ws"]) as socket:
            assert socket.subprotocol == "graphql-transport-ws"
            await socket.send(json.dumps(init[0]))
            assert json.loads(await socket.recv()) == {"type": "connection_ack", "payload": {"role": "PUBLIC"}}

    asyncio.run(scenario())


def test_a_handshake_from_a_page_on_a_foreign_origin_is_refused(guarded) -> None:
    url = guarded.server.ws_url

    async def scenario() -> None:
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(url, subprotocols=["graphql-transport-ws"], origin="https://evil.example"):
                pass
        assert refused.value.response.status_code == 403
        for origin in (ALLOWED_ORIGIN, guarded.server.url):  # the allowed page, and the server's own
            async with guarded.server.ws(origin=origin) as session:
                operation = await session.subscribe("subscription { eventAppended { position } }")
                message = await session.message(operation)
                assert message["type"] in ("next", "error")  # connected and answered (refused: public)

    asyncio.run(scenario())


def test_a_connection_that_never_says_connection_init_is_closed_after_the_init_timeout(guarded) -> None:
    async def scenario() -> tuple[int | None, str]:
        return await closed_with(guarded.server.ws_url, subprotocols=["graphql-transport-ws"])

    assert asyncio.run(scenario()) == (4408, "Connection initialisation timeout")


def test_a_bad_token_in_connection_init_is_refused(guarded) -> None:
    async def scenario() -> None:
        for token in ("Bearer rct_not-issued", "Bearer " + "x" * 500):
            init = {"type": "connection_init", "payload": {"authorization": token}}
            closed = await closed_with(guarded.server.ws_url, send=[init], subprotocols=["graphql-transport-ws"])
            assert closed == (4403, "Forbidden")
        async with guarded.ws("INSPECTOR") as session:  # a good one is acknowledged with its role
            operation = await session.subscribe("subscription { eventAppended(after: 0) { position } }")
            assert (await session.next(operation))["eventAppended"]["position"] == 1

    asyncio.run(scenario())


def test_subscribing_before_connection_init_closes_the_connection(guarded) -> None:
    subscribe = {"id": "1", "type": "subscribe", "payload": {"query": "subscription { eventAppended { position } }"}}

    async def scenario() -> tuple[int | None, str]:
        return await closed_with(guarded.server.ws_url, send=[subscribe], subprotocols=["graphql-transport-ws"])

    assert asyncio.run(scenario()) == (4401, "Unauthorized")


def test_more_subscriptions_than_the_per_connection_cap_are_refused(guarded) -> None:
    cap = WebSettings().max_subscriptions
    variables = {"round": str(guarded.loaded.round_id)}

    async def scenario() -> None:
        async with guarded.ws("INSPECTOR") as session:
            running = [await session.subscribe(PROGRESS, variables) for _ in range(cap)]
            for operation in running:
                assert (await session.next(operation))["progressChanged"]["position"] > 0
            over = await session.subscribe(PROGRESS, variables)
            refused = await session.message(over)
            assert refused["type"] == "error"
            assert [e["message"] for e in refused["payload"]] == ["Subscription limit reached"]
            await session.complete(running[0])
            again = await session.subscribe(PROGRESS, variables)  # a place was freed
            assert (await session.next(again))["progressChanged"]["position"] > 0

    asyncio.run(scenario())


# -- introspection and depth, set from the environment -------------------------------------------


@pytest.fixture(scope="module")
def locked_down(guarded) -> Iterator[Any]:
    """The app on the same store (in-process: these are settings, not transport), introspection off and a
    depth limit of 4."""
    env = {**BASE_ENV, "RECTIFY_INTROSPECTION": "false", "RECTIFY_MAX_DEPTH": "4"}
    app = LocalApp(settings.load(env, database_url=guarded.database_url))
    yield guarded.client_for(app)
    app.stop()
    assert "unexpected error" not in app.log()


INTROSPECTION = ["{ __schema { queryType { name } } }", '{ __type(name: "Finding") { fields { name } } }']
DEEP = "{ rounds { progress { activitiesByUnit { figures { series { on } } } } } }"  # 6 levels


def test_introspection_can_be_switched_off(guarded, locked_down) -> None:
    for document in INTROSPECTION:
        assert guarded.client().data(document)  # on by default
        errors = locked_down.errors(document)
        assert any("introspection" in e.lower() for e in errors), errors
    assert locked_down.data("{ me { role } }") == {"me": {"role": "PUBLIC"}}


def test_the_depth_limit_is_a_setting(guarded, locked_down) -> None:
    assert guarded.client().data(DEEP)["rounds"]
    errors = locked_down.refused(DEEP)
    assert len(errors) == 1 and "exceeds maximum operation depth of 4" in errors[0], errors


def test_the_connection_init_timeout_is_a_setting() -> None:
    assert settings.load({}).ws_init_timeout == 5.0
    assert settings.load({"RECTIFY_WS_INIT_TIMEOUT": "0.5"}).ws_init_timeout == 0.5
    for wrong in ("0", "-1", "soon", "301"):
        with pytest.raises(settings.SettingsError, match="RECTIFY_"):
            settings.load({"RECTIFY_WS_INIT_TIMEOUT": wrong})


def test_a_subscription_ends_once_its_token_is_revoked(served_shared_world) -> None:
    admin = served_shared_world.client("ADMIN")
    issued = admin.mutate(
        "issueToken", {"role": "UNIT", "label": "即将撤销", "unitId": str(served_shared_world.loaded.unit_id)}
    )
    assert issued["__typename"] == "TokenIssued", issued
    subscription = "subscription($after: Int!) { eventAppended(after: $after) { position type } }"

    async def scenario() -> dict:
        async with served_shared_world.server.ws(issued["secret"]) as session:
            operation = await session.subscribe(subscription, {"after": served_shared_world.client("INSPECTOR").head()})
            first = await asyncio.to_thread(served_shared_world.record_clean_up, None, "2026-03-03")
            heard = await session.next(operation)
            assert heard["eventAppended"]["position"] == first["position"]
            revoked = await asyncio.to_thread(admin.mutate, "revokeToken", {"tokenId": issued["id"], "reason": "离岗"})
            assert revoked["__typename"] == "Accepted", revoked
            await asyncio.to_thread(served_shared_world.record_clean_up, None, "2026-03-04")
            return await session.message(operation)

    ended = asyncio.run(scenario())
    assert "revoked" in json.dumps(ended, ensure_ascii=False), ended
    assert ended["type"] in ("error", "next") and (ended["type"] == "error" or ended["payload"].get("errors"))
