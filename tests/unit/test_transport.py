"""The HTTP transport's parts that need no server: media types, request parameters, credentials, messages."""

from __future__ import annotations

import json

import pytest

from rectify.web.app import Malformed, connection_secret, malformed
from rectify.web.transport import (
    GRAPHQL_RESPONSE,
    JSON,
    BadCredentials,
    Refused,
    bearer,
    decode_json,
    graphql_request,
    negotiate,
)


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/*", JSON),
        ("application/json", JSON),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, application/json;q=0.9", GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE}", JSON),
        (f"application/json;q=0.5, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, */*;q=0.1", GRAPHQL_RESPONSE),
        ("text/html, */*;q=0.8", JSON),
        ("application/json, multipart/mixed", JSON),
    ],
)
def test_the_answer_comes_in_the_preferred_media_type_the_client_accepts(accept: str | None, chosen: str) -> None:
    assert negotiate(accept) == chosen


def test_an_accept_header_that_allows_neither_media_type_gets_406() -> None:
    for accept in ("text/html", "application/xml", f"{GRAPHQL_RESPONSE};q=0, application/json;q=0"):
        with pytest.raises(Refused) as refused:
            negotiate(accept)
        assert refused.value.status == 406 and JSON in refused.value.message


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b'{"query": ', "not valid JSON"),
        (b'{"query": NaN}', "NaN is not a JSON value"),
        (b"[" * 5000 + b"]" * 5000, "nested more than 32 levels deep"),
        (b'{"variables": {"a": ' + b"[" * 40 + b"]" * 40 + b"}}", "nested more than 32 levels deep"),
        (b'{"n": ' + b"9" * 5000 + b"}", "not usable JSON"),
    ],
)
def test_a_body_that_is_not_usable_json_is_refused_with_its_reason(body: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        decode_json(body, 32)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (None, "a JSON object with a `query`, not null"),
        ("x", "not a string"),
        (1, "not a number"),
        (True, "not a boolean"),
        ([], "batched operations are not supported"),
        ([{"query": "{ head }"}], "batched operations are not supported"),
        ({}, "the request has no `query`"),
        ({"query": None}, "the request has no `query`"),
        ({"query": 1}, "`query` must be a string, not a number"),
        ({"query": ["{ head }"]}, "`query` must be a string, not an array"),
        ({"query": "{ head }", "operationName": {}}, "`operationName` must be a string or null, not an object"),
        ({"query": "{ head }", "variables": "x"}, "`variables` must be an object or null, not a string"),
        ({"query": "{ head }", "variables": [1]}, "`variables` must be an object or null, not an array"),
        ({"query": "{ head }", "extensions": 0}, "`extensions` must be an object or null, not a number"),
    ],
)
def test_request_parameters_of_the_wrong_type_are_refused_naming_the_parameter(params: object, message: str) -> None:
    with pytest.raises(Refused) as refused:
        graphql_request(params, nesting=32)
    assert refused.value.status == 400 and message in refused.value.message


def test_get_parameters_carry_variables_and_extensions_as_json_text() -> None:
    parsed = graphql_request(
        {"query": "{ head }", "variables": '{"a": 1}', "extensions": ""}, json_fields=True, nesting=32
    )
    assert (parsed.variables, parsed.extensions) == ({"a": 1}, None)
    with pytest.raises(Refused, match="`variables` is not valid JSON"):
        graphql_request({"query": "{ head }", "variables": "{"}, json_fields=True, nesting=32)
    with pytest.raises(Refused, match="`variables` must be an object or null, not an array"):
        graphql_request({"query": "{ head }", "variables": "[1]"}, json_fields=True, nesting=32)


def test_two_bodies_that_mean_the_same_request_share_one_cache_key() -> None:
    one = graphql_request(json.loads('{"query": "{ head }", "variables": {"a": 1, "b": 2}}'), nesting=32)
    two = graphql_request(json.loads('{"variables":{"b":2,"a":1},"query":"{ head }","operationName":null}'), nesting=32)
    assert one.canonical() == two.canonical()
    assert (
        one.canonical() != graphql_request({"query": "{ head }", "variables": {"a": 2, "b": 2}}, nesting=32).canonical()
    )


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer ",
        "bearer  ",
        "Token rct_x",
        "Bearer a b",
        "Bearer a\tb",
        "Bearer a\u3000b",
        'Ba"sic x',
    ],
)
def test_credentials_that_are_not_a_bearer_token_are_refused_never_read_as_the_public(value: str) -> None:
    with pytest.raises(BadCredentials) as refused:
        bearer(value)
    assert refused.value.status == 401
    challenge = refused.value.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="rectify", error="invalid_request"')
    assert challenge.count('"') - challenge.count('\\"') == 6  # three quoted values, nothing let loose


def test_a_bearer_token_is_read_whatever_the_scheme_s_case_and_no_header_is_no_token() -> None:
    assert bearer("Bearer rct_abc") == bearer("bearer rct_abc") == bearer("  BEARER   rct_abc ") == "rct_abc"
    assert bearer(None) is None


@pytest.mark.parametrize(
    "params",
    [
        {"authorization": 123},
        {"authorization": None},
        {"Authorization": ["Bearer rct_x"]},
        {"authorization": ""},
        {"authorization": "Basic abc"},
        {"authorization": "Bearer"},
        {"token": ""},
        {"token": 5},
        {"authorization": "Bearer rct_a", "token": "rct_b"},
    ],
)
def test_malformed_credentials_in_connection_init_are_refused(params: dict) -> None:
    with pytest.raises(BadCredentials):
        connection_secret(params, {})


def test_connection_init_credentials_come_from_the_payload_or_the_handshake() -> None:
    assert connection_secret({"Authorization": "Bearer rct_a"}, {}) == "rct_a"
    assert connection_secret({"token": "rct_b"}, {}) == "rct_b"
    assert connection_secret({}, {"authorization": "Bearer rct_c"}) == "rct_c"
    assert connection_secret({}, {}) is None
    with pytest.raises(BadCredentials):
        connection_secret({}, {"authorization": "Basic abc"})


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (Malformed("the message is nested more than 32 levels deep"), "nested more than 32"),
        (["connection_init"], "must be a JSON object, not an array"),
        ("x", "must be a JSON object, not a string"),
        ({"payload": {}}, "string `type`"),
        ({"type": 1}, "string `type`"),
        ({"type": "subscribe", "payload": {"query": "{ head }"}}, "string `id`"),
        ({"type": "subscribe", "id": ["1"], "payload": {"query": "{ head }"}}, "string `id`"),
        ({"type": "subscribe", "id": "1", "payload": "{ head }"}, "`payload` object"),
        ({"type": "subscribe", "id": "1", "payload": {"query": 1}}, "string `query`"),
        ({"type": "subscribe", "id": "1", "payload": {"query": "{ head }", "variables": []}}, "`variables`"),
        ({"type": "subscribe", "id": "1", "payload": {"query": "{ head }", "operationName": 1}}, "`operationName`"),
        ({"type": "complete", "id": 1}, "string `id`"),
    ],
)
def test_a_websocket_message_that_cannot_be_handled_is_named_with_its_fault(message: object, reason: str) -> None:
    problem = malformed(message)
    assert problem is not None and reason in problem


def test_well_formed_websocket_messages_pass() -> None:
    for message in (
        {"type": "connection_init"},
        {"type": "connection_init", "payload": {"authorization": "Bearer x"}},
        {"type": "ping"},
        {"type": "subscribe", "id": "1", "payload": {"query": "{ head }", "variables": None}},
        {"type": "complete", "id": "1"},
    ):
        assert malformed(message) is None
