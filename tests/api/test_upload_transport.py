"""The GraphQL multipart request spec over a real server (uvicorn) and a real HTTP client, on each store: files
mapped into variables, a header no cross-site form can send, size limits as the body streams in, and malformed
requests refused with one clear message before anything runs."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from api_harness import STORES, TLS, World, open_served_world, per_store
from api_uploads import ATTACH, PREFLIGHT, answer, upload

from evidence_files import pdf, photo

CLEAN_UPS = "人居环境品质有效提升"
LIMIT = 64 * 1024  # RECTIFY_EVIDENCE_MAX_BYTES of this module's server
CAP = LIMIT * 4 + 64 * 1024  # the whole request: the files allowed (4) at the limit, and the JSON cap


@pytest.fixture(scope="module", params=STORES)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from per_store(
        request, tmp_path_factory, functools.partial(open_served_world, env={"RECTIFY_EVIDENCE_MAX_BYTES": str(LIMIT)})
    )


def variables(world: World, **input_: Any) -> dict[str, Any]:
    return {"input": {"findingId": world.finding_ids[CLEAN_UPS], "target": "REPORT", **input_}, "file": None}


def raw(world: World, role: str, fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> Any:
    """A multipart request put together by hand (to get it wrong on purpose), files or none."""
    boundary = "rectify-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts += [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{file_name}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + b"\r\n"
        for name, (file_name, data) in files.items()
    ]
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    headers = {**PREFLIGHT, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    return world.http(role).post("/graphql", content=body, headers=headers)


def head(world: World) -> int:
    return world.client("INSPECTOR").head()


def test_a_file_in_a_multipart_request_reaches_its_variable_and_is_stored(world: World) -> None:
    before = head(world)
    response = upload(world.http("UNIT"), ATTACH, variables(world), {"file": ("整改照片.jpg", photo())})
    assert response.headers["content-type"].startswith("application/json")
    attached = answer(response)["attachEvidence"]
    assert attached["__typename"] == "Accepted", attached
    assert head(world) > before
    url = f"/findings/{world.finding_ids[CLEAN_UPS]}/evidence/{attached['id']}"
    assert httpx.get(world.server.url + url, timeout=10, verify=TLS).content == photo()


def test_a_multipart_request_without_a_preflight_header_or_a_token_is_refused_before_it_is_read(world: World) -> None:
    before = head(world)
    response = upload(world.http("PUBLIC"), ATTACH, variables(world), {"file": ("a.jpg", photo())}, headers={})
    assert response.status_code == 400
    assert "GraphQL-Require-Preflight" in response.json()["errors"][0]["message"]
    # With the token (a header no form can send either), the same request runs, as the caller.
    with_token = upload(
        world.http("UNIT"), ATTACH, variables(world), {"file": ("b.jpg", photo(colour=(1, 2, 3)))}, headers={}
    )
    assert answer(with_token)["attachEvidence"]["__typename"] == "Accepted"
    assert head(world) > before


def test_a_file_over_the_limit_is_read_and_dropped_and_its_mutation_names_the_field(world: World) -> None:
    before = head(world)
    response = upload(world.http("UNIT"), ATTACH, variables(world), {"file": ("大.pdf", pdf(padding=LIMIT + 10))})
    refused = answer(response)["attachEvidence"]
    assert refused["__typename"] == "InvalidInput", refused
    assert refused["field"] == "file"
    assert f"larger than the limit of {LIMIT} bytes" in refused["reason"]
    assert head(world) == before


def test_a_request_over_the_whole_cap_is_refused_with_413_as_it_streams_in(world: World) -> None:
    before = head(world)
    body, content_type = multipart_body(world, pdf(padding=CAP + 1000))

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server counts as the body comes
        yield from (body[i : i + 65536] for i in range(0, len(body), 65536))

    headers = {**PREFLIGHT, "Content-Type": content_type, "Authorization": f"Bearer {world.tokens['UNIT']}"}
    response = httpx.post(world.server.graphql_url, content=chunks(), headers=headers, timeout=30, verify=TLS)
    assert response.status_code == 413
    assert f"over {CAP} bytes" in response.json()["errors"][0]["message"]
    declared = httpx.post(world.server.graphql_url, content=body, headers=headers, timeout=30, verify=TLS)
    assert declared.status_code == 413
    assert head(world) == before


def multipart_body(world: World, data: bytes) -> tuple[bytes, str]:
    request = httpx.Request(
        "POST",
        world.server.graphql_url,
        data={
            "operations": json.dumps({"query": ATTACH, "variables": variables(world)}),
            "map": json.dumps({"0": ["variables.file"]}),
        },
        files={"0": ("big.pdf", data, "application/pdf")},
    )
    return request.read(), request.headers["content-type"]


OPERATIONS = json.dumps({"query": "mutation($file: Upload!) { __typename }", "variables": {"file": None}})


@pytest.mark.parametrize(
    ("fields", "files", "says"),
    [
        ({"map": "{}"}, {}, "has no `operations` field"),
        ({"operations": OPERATIONS}, {"0": ("a.jpg", b"x")}, "has no `map` field"),
        ({"operations": "[1]", "map": "{}"}, {}, "batched operations are not supported"),
        ({"operations": OPERATIONS, "map": "{"}, {}, "`map` is not valid JSON"),
        ({"operations": OPERATIONS, "map": '{"0": ["variables.file"]}'}, {}, "no part of the request has it"),
        ({"operations": OPERATIONS, "map": '{"0": ["variables.other"]}'}, {"0": ("a", b"x")}, "leads to no variable"),
        ({"operations": OPERATIONS, "map": '{"0": ["query"]}'}, {"0": ("a", b"x")}, "must start with `variables.`"),
        ({"operations": OPERATIONS, "map": "{}"}, {"0": ("a", b"x")}, "is not in `map`"),
        (
            {"operations": json.dumps({"query": "{ head }", "variables": {"file": "text"}}),
             "map": '{"0": ["variables.file"]}'},
            {"0": ("a", b"x")},
            "must lead to a null",
        ),
    ],
    ids=["no operations", "no map", "a batch", "map not JSON", "a file missing", "a path to nothing",
         "a path outside variables", "a file mapped nowhere", "a path to a value"],
)  # fmt: skip
def test_a_malformed_multipart_request_is_refused_with_400_naming_what_is_wrong(
    world: World, fields: dict[str, str], files: dict[str, tuple[str, bytes]], says: str
) -> None:
    response = raw(world, "UNIT", fields, files)
    assert response.status_code == 400, response.text
    assert says in response.json()["errors"][0]["message"]


def test_a_query_in_a_multipart_request_runs_and_other_content_types_are_still_refused(world: World) -> None:
    operations = json.dumps({"query": "{ head }"})
    response = raw(world, "INSPECTOR", {"operations": operations, "map": "{}"}, {})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["head"] == head(world)
    form = world.http("UNIT").post("/graphql", content=b"query=%7Bhead%7D", headers={**PREFLIGHT,
                                   "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert form.status_code == 415
