"""GraphQL over HTTP as the spec says, and a transport that no request can knock over.

F2 malformed bodies and WebSocket messages, F7 content types and the cache, F8 suggestions,
F9 subscriptions over HTTP, F10 what is logged, F11 and F12 credentials, and the graphql-http audit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from api_harness import GRAPHQL_TRANSPORT_WS, TLS, GraphQLClient, Server, World, start_server

from system_packages import SYSTEM_PACKAGES_REQUIRED  # type: ignore[import-not-found]

ROOT = Path(__file__).parents[2]
GRAPHQL_RESPONSE = "application/graphql-response+json"
LEDGER = "query Ledger($first: Int!) { ledger(first: $first) { total items { code heading } } }"


@pytest.fixture(scope="module")
def locked_down(served_shared_world: World) -> Iterator[GraphQLClient]:
    """A second server on the same store with introspection off."""
    server = start_server(served_shared_world.database_url, env={"RECTIFY_INTROSPECTION": "false"})
    yield served_shared_world.client_for(server)
    server.stop()


@pytest.fixture(scope="module")
def chatty(served_shared_world: World) -> Iterator[Server]:
    """A second server on the same store that logs at INFO."""
    server = start_server(served_shared_world.database_url, "--log-level", "info")
    yield server
    server.stop()


def post(world: World, content: bytes | str, **headers: str) -> httpx.Response:
    sent = {"content-type": "application/json", **headers}
    return httpx.post(world.server.graphql_url, content=content, headers=sent, timeout=30, verify=TLS)


def message_of(response: httpx.Response) -> str:
    errors = response.json()["errors"]
    assert len(errors) == 1 and "data" not in response.json(), response.text
    return str(errors[0]["message"])


# -- F2: malformed bodies ------------------------------------------------------------------------

MALFORMED_BODIES = [
    (b"null", "a JSON object with a `query`, not null"),
    (b'"x"', "not a string"),
    (b"1", "not a number"),
    (b"true", "not a boolean"),
    (b"[]", "batched operations are not supported"),
    (b'[{"query": "{ head }"}, {"query": "{ me { role } }"}]', "batched operations are not supported"),
    (b"{}", "the request has no `query`"),
    (b'{"qeury": "{ head }"}', "the request has no `query`"),
    (b'{"query": 1}', "`query` must be a string, not a number"),
    (b'{"query": {"text": "{ head }"}}', "`query` must be a string, not an object"),
    (b'{"query": "{ head }", "variables": "x"}', "`variables` must be an object or null, not a string"),
    (b'{"query": "{ head }", "variables": [1]}', "`variables` must be an object or null, not an array"),
    (b'{"query": "{ head }", "extensions": 0}', "`extensions` must be an object or null, not a number"),
    (b'{"query": "{ head }", "operationName": ["x"]}', "`operationName` must be a string or null, not an array"),
    (b'\xff\xfe{"query": "{ head }"}', "not valid UTF-8"),
    (b'{"query": "{ head }"', "not valid JSON"),
    (b'{"query": "{ head }", "variables": {"n": NaN}}', "NaN is not a JSON value"),
    (b"", "the request body is empty"),
    (b'{"query": "{ head }", "variables": {"v": ' + b"[" * 1000 + b"]" * 1000 + b"}}", "nested more than"),
    (b"[" * 5000 + b"]" * 5000, "nested more than"),
    (b'{"query": "{ head }", "variables": {"v": ' + b'{"a": ' * 1000 + b"1" + b"}" * 1000 + b"}}", "nested more than"),
]


@pytest.mark.parametrize(("body", "reason"), MALFORMED_BODIES, ids=[reason for _, reason in MALFORMED_BODIES])
def test_a_malformed_body_gets_a_400_naming_its_fault_never_a_500(
    served_shared_world, body: bytes, reason: str
) -> None:
    for accept in ("application/json", GRAPHQL_RESPONSE):
        response = post(served_shared_world, body, accept=accept)
        assert response.status_code == 400, response.text
        assert reason in message_of(response)
    assert served_shared_world.client().head() > 0  # and the server answers on


def test_no_malformed_body_leaves_a_traceback_or_an_error_in_the_log(served_shared_world) -> None:
    for body, _ in MALFORMED_BODIES:
        assert post(served_shared_world, body).status_code == 400
    log = served_shared_world.server.log()
    assert "Traceback" not in log and "ERROR" not in log, log


def closes_with(url: str, messages: list[str]) -> tuple[int | None, str]:
    async def scenario() -> tuple[int | None, str]:
        async with websockets.connect(url, subprotocols=[GRAPHQL_TRANSPORT_WS]) as socket:
            with contextlib.suppress(websockets.ConnectionClosed):
                for message in messages:
                    await socket.send(message)
                while True:
                    await asyncio.wait_for(socket.recv(), 10)
            return socket.close_code, socket.close_reason or ""

    return asyncio.run(scenario())


INIT = json.dumps({"type": "connection_init", "payload": {}})


def subscribe(payload: object, identifier: object = "1") -> str:
    return json.dumps({"type": "subscribe", "id": identifier, "payload": payload})


@pytest.mark.parametrize(
    ("messages", "reason"),
    [
        (["[" * 5000 + "]" * 5000], "the message is nested more than 32 levels deep"),
        ([INIT, '{"type": "subscribe", "id": "1", "payload": ' + '{"a": ' * 3000 + "1" + "}" * 3000 + "}"], "nested"),
        ([INIT, "null"], "a message must be a JSON object, not null"),
        ([INIT, '["subscribe"]'], "a message must be a JSON object, not an array"),
        ([INIT, "{not json"], "the message is not valid JSON"),
        ([INIT, subscribe({"query": "{ head }"}, ["1"])], "a subscribe message needs a string `id`"),
        ([INIT, subscribe("{ head }")], "a subscribe message needs a `payload` object"),
        ([INIT, subscribe({"query": 5})], "a subscribe payload needs a string `query`"),
        ([INIT, subscribe({"query": "{ head }", "variables": [1]})], "`variables` must be an object or null"),
    ],
)
def test_a_malformed_websocket_message_closes_the_connection_with_4400(served_shared_world, messages, reason) -> None:
    code, said = closes_with(served_shared_world.server.ws_url, messages)
    assert (code, reason in said) == (4400, True), (code, said)


# -- F7 and F3: the cache serves only the answer the request would get -----------------------------


def test_a_body_cached_as_json_gets_no_cached_answer_in_another_content_type(served_shared_world) -> None:
    body = json.dumps({"query": LEDGER, "variables": {"first": 3}})
    first, again = (
        post(served_shared_world, body),
        post(served_shared_world, body),
    )  # the second may come from the cache
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    assert first.json()["data"]["ledger"]["items"]
    url = served_shared_world.server.graphql_url
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/graphql", None):
        headers = {"content-type": content_type} if content_type else {}
        response = httpx.post(url, content=body, headers=headers, timeout=30, verify=TLS)
        assert response.status_code == 415, (content_type, response.text)
        assert "send the request as application/json" in message_of(response)
    # A multipart request is a request of the GraphQL multipart request spec, checked as one (never a cached answer).
    multipart = httpx.post(url, files={"operations": (None, body)}, timeout=30, verify=TLS)
    assert multipart.status_code == 400 and "GraphQL-Require-Preflight" in message_of(multipart)
    headers = {"GraphQL-Require-Preflight": "1"}
    without_map = httpx.post(url, files={"operations": (None, body)}, headers=headers, timeout=30, verify=TLS)
    assert without_map.status_code == 400 and "no `map` field" in message_of(without_map)
    latin = post(served_shared_world, body, **{"content-type": "application/json; charset=latin-1"})
    assert latin.status_code == 415 and "charset" in message_of(latin)


def test_a_cached_answer_keeps_the_media_type_it_is_asked_in(served_shared_world) -> None:
    body = json.dumps({"query": LEDGER, "variables": {"first": 4}})
    as_json = [post(served_shared_world, body) for _ in range(2)]
    as_graphql = [post(served_shared_world, body, accept=GRAPHQL_RESPONSE) for _ in range(2)]
    assert {r.headers["content-type"] for r in as_json} == {"application/json; charset=utf-8"}
    assert {r.headers["content-type"] for r in as_graphql} == {f"{GRAPHQL_RESPONSE}; charset=utf-8"}
    assert as_json[0].json() == as_graphql[1].json()


# -- status codes and media types -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "variables", "message"),
    [
        ("{", None, "Syntax Error"),
        ("{ nothingHere }", None, "Cannot query field 'nothingHere'"),
        ("query A { head } query B { me { role } }", None, "name the one to run in `operationName`"),
        ("query($first: Int!) { ledger(first: $first) { total } }", {"first": "many"}, "Int cannot represent"),
        ("query($first: Int!) { ledger(first: $first) { total } }", {}, "non-null type 'Int!' to be provided"),
    ],
)
def test_a_request_error_is_a_400_without_data_to_a_graphql_response_client_and_a_200_to_a_json_one(
    served_shared_world, query: str, variables: dict | None, message: str
) -> None:
    body = json.dumps({"query": query, "variables": variables})
    strict = post(served_shared_world, body, accept=GRAPHQL_RESPONSE)
    legacy = post(served_shared_world, body, accept="application/json")
    assert (strict.status_code, legacy.status_code) == (400, 200)
    assert strict.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert legacy.headers["content-type"].startswith("application/json")
    assert strict.json() == legacy.json() and "data" not in strict.json()
    assert any(message in error["message"] for error in strict.json()["errors"]), strict.text


def test_a_field_error_during_execution_is_a_200_with_data_in_both_media_types(served_shared_world) -> None:
    body = json.dumps({"query": "{ me { role } events(after: 0) { head } }"})  # the public may not read the log
    # data is null here, yet the operation ran: a response with `data` is 200 whatever it holds
    for accept in (GRAPHQL_RESPONSE, "application/json"):
        response = post(served_shared_world, body, accept=accept)
        assert response.status_code == 200, response.text
        assert response.json()["data"] is None  # `events` is non-null: its error nulls the whole answer
        assert response.json()["errors"][0]["path"] == ["events"]


def test_get_runs_queries_refuses_mutations_with_405_and_shows_graphiql_to_a_browser(served_shared_world) -> None:
    url = served_shared_world.server.graphql_url
    query = httpx.get(url, params={"query": LEDGER, "variables": json.dumps({"first": 1})}, timeout=30, verify=TLS)
    assert query.status_code == 200 and len(query.json()["data"]["ledger"]["items"]) == 1
    mutation = httpx.get(url, params={"query": "mutation { __typename }"}, timeout=30, verify=TLS)
    assert mutation.status_code == 405 and mutation.headers["allow"] == "POST"
    assert "a mutation is sent with POST" in message_of(mutation)
    page = httpx.get(url, headers={"accept": "text/html"}, timeout=30, verify=TLS)
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    options = httpx.options(url, timeout=30, verify=TLS)
    assert options.status_code == 204 and options.headers["allow"] == "GET, POST, OPTIONS"
    unacceptable = post(served_shared_world, json.dumps({"query": "{ head }"}), accept="text/html")
    assert unacceptable.status_code == 406 and GRAPHQL_RESPONSE in message_of(unacceptable)


# -- F9: subscriptions over HTTP ----------------------------------------------------------------------


def test_a_subscription_sent_over_http_gets_a_400_pointing_to_the_websocket(served_shared_world) -> None:
    subscription = "subscription { eventAppended(after: 0) { position } }"
    posted = post(served_shared_world, json.dumps({"query": subscription}), accept=GRAPHQL_RESPONSE)
    got = httpx.get(served_shared_world.server.graphql_url, params={"query": subscription}, timeout=30, verify=TLS)
    for response in (posted, got):
        assert response.status_code == 400, response.text
        assert "subscriptions are served over the WebSocket" in message_of(response)
    log = served_shared_world.server.log()
    assert "TypeError" not in log and "ERROR" not in log and "Unexpected error" not in log, log


# -- F10: what the server logs --------------------------------------------------------------------------


def test_client_errors_are_logged_at_info_on_one_line_each_without_a_traceback(served_shared_world, chatty) -> None:
    url = chatty.graphql_url
    mistakes = {
        "Cannot query field 'nothingHere'": {"json": {"query": "{ nothingHere }"}},
        "Int cannot represent": {"json": {"query": LEDGER, "variables": {"first": "many"}}},
        "`variables` must be an object": {"json": {"query": "{ head }", "variables": [1]}},
        "is not supported: send the request as": {"content": b"{}", "headers": {"content-type": "text/plain"}},
        "invalid or revoked token": {"json": {"query": "{ head }"}, "headers": {"authorization": "Bearer rct_no"}},
    }
    for request in mistakes.values():
        assert httpx.post(url, timeout=30, **request, verify=TLS).status_code != 500
    log = chatty.log()
    for message in mistakes:
        lines = [line for line in log.splitlines() if message in line]
        assert len(lines) == 1 and lines[0].startswith("INFO:"), (message, lines)
    assert "Traceback" not in log and "ERROR" not in log, log


# -- F8: no suggestions while introspection is off --------------------------------------------------------

MISSPELT = [
    ("{ ledgr { total } }", None),
    ("{ ledger(frist: 5) { total } }", None),
    ("{ ledger(filter: {light: REDD}) { total } }", None),
    ("query($f: FindingFiltr) { ledger(filter: $f) { total } }", None),
    ("query($f: FindingFilter) { ledger(filter: $f) { total } }", {"f": {"lihgt": "RED"}}),
    ("query($f: FindingFilter) { ledger(filter: $f) { total } }", {"f": {"light": "REDD"}}),
]


@pytest.mark.parametrize(("query", "variables"), MISSPELT)
def test_no_did_you_mean_while_introspection_is_off(served_shared_world, locked_down, query, variables) -> None:
    suggested = served_shared_world.client().errors(query, variables)
    assert any("Did you mean" in message for message in suggested), suggested  # introspection on: a help
    hidden = locked_down.errors(query, variables)
    assert hidden and not any("Did you mean" in message for message in hidden), hidden


def test_no_did_you_mean_over_the_websocket_either_while_introspection_is_off(served_shared_world, locked_down) -> None:
    server_url = str(locked_down.http.base_url).rstrip("/").replace("http://", "ws://") + "/graphql"
    document = "subscription($round: ID!) { progressChanged(roundId: $round) { totl } }"

    async def scenario() -> dict[str, Any]:
        async with websockets.connect(server_url, subprotocols=[GRAPHQL_TRANSPORT_WS]) as socket:
            await socket.send(INIT)
            assert json.loads(await socket.recv())["type"] == "connection_ack"
            await socket.send(subscribe({"query": document, "variables": {"round": "x"}}))
            return json.loads(await asyncio.wait_for(socket.recv(), 10))

    answer = asyncio.run(scenario())
    assert answer["type"] == "error" and "Cannot query field 'totl'" in answer["payload"][0]["message"]
    assert "Did you mean" not in json.dumps(answer)


# -- F11 and F12: credentials ------------------------------------------------------------------------------

MALFORMED_CREDENTIALS = ["Basic dXNlcjpwYXNzd29yZA==", "Bearer", "bearer", "", "Token rct_x", "Bearer rct_a rct_b"]


@pytest.mark.parametrize("authorization", MALFORMED_CREDENTIALS)
def test_malformed_credentials_get_a_401_with_a_bearer_challenge_never_the_public(
    served_shared_world, authorization
) -> None:
    response = post(served_shared_world, json.dumps({"query": "{ me { role } }"}), authorization=authorization)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith('Bearer realm="rectify", error="invalid_request"')
    assert "PUBLIC" not in response.text


def test_every_401_carries_a_bearer_challenge(served_shared_world) -> None:
    unknown = post(served_shared_world, json.dumps({"query": "{ head }"}), authorization="Bearer rct_never-issued")
    assert unknown.status_code == 401
    assert unknown.headers["www-authenticate"].startswith('Bearer realm="rectify", error="invalid_token"')
    twice = httpx.post(
        served_shared_world.server.graphql_url,
        json={"query": "{ head }"},
        headers=[("authorization", f"Bearer {served_shared_world.tokens['ADMIN']}"), ("authorization", "Bearer rct_x")],
        timeout=30,
        verify=TLS,
    )
    assert twice.status_code == 401 and twice.headers["www-authenticate"].startswith("Bearer ")


@pytest.mark.parametrize(
    "payload",
    [
        {"authorization": 123},
        {"authorization": ["Bearer x"]},
        {"authorization": "Basic dXNlcjpwYXNzd29yZA=="},
        {"authorization": "Bearer"},
        {"authorization": ""},
        {"token": ""},
    ],
)
def test_malformed_credentials_in_connection_init_close_the_websocket_with_4403(served_shared_world, payload) -> None:
    init = json.dumps({"type": "connection_init", "payload": payload})
    assert closes_with(served_shared_world.server.ws_url, [init]) == (4403, "Forbidden")


# -- the graphql-http audit -----------------------------------------------------------------------------------


def test_the_graphql_http_audit_scores_every_audit_ok(served_shared_world) -> None:
    node, audit = shutil.which("node"), ROOT / "node_modules" / "graphql-http"
    if node is None or not audit.is_dir():
        problem = "needs node and the npm devDependencies (npm ci)"
        if SYSTEM_PACKAGES_REQUIRED:
            pytest.fail(problem)
        pytest.skip(problem)
    script = Path(__file__).with_name("graphql_http_audit.cjs")
    ran = subprocess.run(
        [node, str(script), served_shared_world.server.graphql_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=ROOT,
        env={**os.environ, "NODE_PATH": str(ROOT / "node_modules")},
    )
    results = [json.loads(line) for line in ran.stdout.splitlines()]
    failing = [result for result in results if result["status"] != "ok"]
    assert len(results) == 61 and failing == [], failing
