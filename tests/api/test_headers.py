"""Every page sends nosniff, a Referrer-Policy and a CSP that forbids framing; no page runs inline script;
CORS is same-origin unless configured; notice Markdown is served so that no browser runs it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_harness import TLS, Server, World, start_server

ROOT = Path(__file__).parents[2]
SCRIPT = "<script>window.__xss = 1</script>"
IMAGE = '<img src="x" onerror="window.__xss = 2">'
ALLOWED_ORIGIN = "https://dashboard.example"


@pytest.fixture(scope="module")
def notice(served_shared_world: World) -> dict[str, Any]:
    """A notice whose narrative the unit typed with a script and an image that would run one."""
    unit = served_shared_world.client("UNIT")
    ids = {"roundId": str(served_shared_world.loaded.round_id), "unitId": str(served_shared_world.loaded.unit_id)}
    drafted = unit.mutate(
        "draftNarrative",
        {
            **ids,
            "section": "NEXT_STEPS",
            "intro": f"继续抓好整改。{SCRIPT}",
            "items": [{"title": IMAGE, "text": SCRIPT}],
        },
    )
    assert drafted["__typename"] == "Accepted", drafted
    published = unit.mutate("publishNotice", ids)
    assert published["__typename"] == "NoticePublished", published
    return published


def get(world: World, path: str, **headers: str) -> httpx.Response:
    return httpx.get(world.server.url + path, headers=headers, timeout=60, verify=TLS)


def pages(notice: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    url = notice["url"]
    return [
        ("/graphql", {"accept": "text/html"}),
        ("/dashboard", {}),
        ("/dashboard/dashboard.js", {}),
        ("/static/graphiql.js", {}),
        ("/notices", {}),
        (url, {}),
        (url + ".md", {}),
        (url + ".pdf", {}),
        ("/assets/plotly.min.js", {}),
        ("/assets/graphiql/graphiql.min.js", {}),
        ("/assets/graphql-ws/umd/graphql-ws.min.js", {}),
        ("/health", {}),
        ("/graphql?query={head}", {}),
        ("/", {}),
        ("/nowhere", {}),
    ]


def test_every_page_sends_nosniff_a_referrer_policy_and_a_csp_that_forbids_framing(served_shared_world, notice) -> None:
    for path, headers in pages(notice):
        response = get(served_shared_world, path, **headers)
        assert response.status_code in (200, 307, 404, 501), (path, response.status_code)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["referrer-policy"] == "no-referrer", path
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"], path
    posted = httpx.post(served_shared_world.server.graphql_url, json={"query": "{ head }"}, timeout=30, verify=TLS)
    assert posted.headers["x-content-type-options"] == "nosniff"
    assert posted.headers["content-security-policy"].startswith("default-src 'none'")


class Scripts(HTMLParser):
    """The <script> tags of a page, and any inline event handler attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str | None] = []
        self.inline: list[str] = []
        self.handlers: list[str] = []
        self._open = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script":
            self.sources.append(named.get("src"))
            self._open = named.get("src") is None
        self.handlers += [name for name, _ in attrs if name.startswith("on")]

    def handle_data(self, data: str) -> None:
        if self._open and data.strip():
            self.inline.append(data)

    def handle_endtag(self, tag: str) -> None:
        self._open = False


def test_the_dashboard_and_graphiql_run_only_script_files_under_a_policy_without_unsafe_script(
    served_shared_world,
) -> None:
    for path, headers in (("/dashboard", {}), ("/graphql", {"accept": "text/html"})):
        response = get(served_shared_world, path, **headers)
        policy = dict(
            (part.split(" ", 1) + [""])[:2]
            for part in (p.strip() for p in response.headers["content-security-policy"].split(";"))
        )
        assert policy["script-src"] == "'self'", (path, policy)
        assert "unsafe" not in policy["script-src"] and policy["object-src"] == "'none'"
        scripts = Scripts()
        scripts.feed(response.text)
        assert scripts.sources and all(scripts.sources), (path, scripts.sources)
        assert scripts.inline == [] and scripts.handlers == [], path
        for source in scripts.sources:
            assert source is not None and source.startswith("/") and get(served_shared_world, source).status_code == 200


def test_a_notice_page_escapes_what_a_unit_typed_and_its_policy_runs_no_script(served_shared_world, notice) -> None:
    page = get(served_shared_world, notice["url"])
    assert page.status_code == 200
    assert SCRIPT not in page.text and "<img" not in page.text
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in page.text
    policy = page.headers["content-security-policy"]
    assert policy.startswith("default-src 'none'") and "script-src" not in policy


def test_a_notice_s_markdown_is_served_as_text_no_browser_runs(served_shared_world, notice) -> None:
    markdown = get(served_shared_world, notice["url"] + ".md")
    assert markdown.status_code == 200
    assert SCRIPT in markdown.text  # as the unit typed it: Markdown is the text, not a page
    assert markdown.headers["content-type"] == "text/markdown; charset=utf-8"
    assert markdown.headers["x-content-type-options"] == "nosniff"
    policy = markdown.headers["content-security-policy"]
    assert policy.startswith("default-src 'none'; sandbox;")
    assert markdown.headers["content-disposition"].startswith('inline; filename="notice-')
    assert markdown.headers["content-disposition"].endswith('.md"')


def test_only_the_front_end_packages_the_pages_load_are_served(served_shared_world) -> None:
    from rectify.web.app import ASSET_PACKAGES

    declared = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
    assert sorted(ASSET_PACKAGES) == sorted(declared["dependencies"])
    assert "graphql-http" in declared["devDependencies"]
    assert get(served_shared_world, "/assets/graphql-http/package.json").status_code == 404
    assert get(served_shared_world, "/assets/react/package.json").status_code == 200


# -- CORS ----------------------------------------------------------------------------------------------


def preflight(server: Server, origin: str) -> httpx.Response:
    headers = {
        "origin": origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
    }
    return httpx.options(server.graphql_url, headers=headers, timeout=30, verify=TLS)


@pytest.fixture(scope="module")
def open_to_one_origin(served_shared_world: World) -> Iterator[Server]:
    server = start_server(served_shared_world.database_url, env={"RECTIFY_ALLOWED_ORIGINS": ALLOWED_ORIGIN + "/"})
    yield server
    server.stop()


def test_cross_origin_requests_are_refused_by_default(served_shared_world) -> None:
    refused = preflight(served_shared_world.server, "https://elsewhere.example")
    assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
    answered = httpx.post(
        served_shared_world.server.graphql_url,
        json={"query": "{ head }"},
        headers={"origin": "https://elsewhere.example"},
        timeout=30,
        verify=TLS,
    )
    assert "access-control-allow-origin" not in answered.headers


def test_a_configured_origin_gets_its_preflight_answered_and_may_post_with_a_token(
    served_shared_world, open_to_one_origin
) -> None:
    answered = preflight(open_to_one_origin, ALLOWED_ORIGIN)
    assert answered.status_code == 200, answered.text
    assert answered.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert {"POST", "GET"} <= {m.strip() for m in answered.headers["access-control-allow-methods"].split(",")}
    assert "authorization" in answered.headers["access-control-allow-headers"].lower()
    assert answered.headers["x-content-type-options"] == "nosniff"
    posted = httpx.post(
        open_to_one_origin.graphql_url,
        json={"query": "{ me { role } }"},
        headers={"origin": ALLOWED_ORIGIN, "authorization": f"Bearer {served_shared_world.tokens['INSPECTOR']}"},
        timeout=30,
        verify=TLS,
    )
    assert posted.json() == {"data": {"me": {"role": "INSPECTOR"}}}
    assert posted.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "access-control-allow-origin" not in preflight(open_to_one_origin, "https://elsewhere.example").headers
