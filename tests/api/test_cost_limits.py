"""F1: one small anonymous document must not freeze the server, over HTTP or over the WebSocket.

The refusal itself is the app's (in-process); that the server keeps answering meanwhile, and the WebSocket,
are the real server's."""

from __future__ import annotations

import asyncio
import concurrent.futures

import httpx

from rectify.settings import Limits


def bomb(levels: int) -> str:
    """Each fragment spreads the next twice: 2**levels fields once expanded."""
    chain = " ".join(f"fragment F{n} on Query{{...F{n + 1} ...F{n + 1}}}" for n in range(levels))
    return f"query{{...F0}} {chain} fragment F{levels} on Query{{head}}"


GRAPHQL_RESPONSE = {"Accept": "application/graphql-response+json"}


def test_a_one_kilobyte_fragment_bomb_from_the_public_is_refused_with_400(shared_world) -> None:
    document = bomb(24)
    assert len(document.encode()) <= 1024
    # Expanded, this is 16 million fields: a server that expanded it would not answer within the timeout.
    http = shared_world.http()
    response = http.post("/graphql", json={"query": document}, headers=GRAPHQL_RESPONSE)
    assert response.status_code == 400, response.text
    messages = [error["message"] for error in response.json()["errors"]]
    assert f"'anonymous' selects {2**24} fields. Allowed: {Limits().max_fields}" in messages
    # A legacy client (application/json) gets the same refusal with 200, as the GraphQL-over-HTTP spec says.
    legacy = http.post("/graphql", json={"query": document})
    assert legacy.status_code == 200 and legacy.headers["content-type"].startswith("application/json")
    assert legacy.json() == response.json() and "data" not in legacy.json()


def test_the_server_keeps_answering_while_bombs_arrive(served_shared_world) -> None:
    url = served_shared_world.server.url
    with httpx.Client(base_url=url, timeout=10) as client, concurrent.futures.ThreadPoolExecutor(4) as pool:
        bombs = [
            pool.submit(client.post, "/graphql", json={"query": bomb(30)}, headers=GRAPHQL_RESPONSE) for _ in range(8)
        ]
        health = [client.get("/health") for _ in range(5)]
        assert all(answer.status_code == 200 for answer in health)
        assert all(b.result().status_code == 400 for b in bombs)


def test_a_fragment_bomb_over_the_websocket_gets_an_error_not_a_hang(served_shared_world) -> None:
    document = "subscription {...F0} " + bomb(30).removeprefix("query{...F0} ").replace("on Query", "on Subscription")
    document = document.replace("{head}", "{eventAppended { position }}")

    async def scenario() -> dict:
        async with served_shared_world.server.ws() as session:
            operation = await session.subscribe(document)
            return await session.message(operation, timeout=10)

    answer = asyncio.run(scenario())
    assert answer["type"] == "error", answer
    assert any("Allowed" in error["message"] for error in answer["payload"]), answer
