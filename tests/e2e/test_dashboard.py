"""The live dashboard in a real browser (Debian's Chromium, headless, driven by Playwright)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_harness import TLS, open_served_world

from system_packages import require_system_packages

INTERNAL_HEADING = "规范工程项目资金管理"
SCREENSHOT = Path(__file__).parents[2] / "docs" / "dashboard-round.png"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    require_system_packages("chromium")
    url = f"sqlite:///{tmp_path_factory.mktemp('dashboard') / 'rectify.db'}"
    with open_served_world(url) as world:
        # a notice published as of 2026-03-12, so that the time line shows its mark
        ids = {"roundId": str(world.loaded.round_id), "unitId": str(world.loaded.unit_id)}
        notice = world.client("INSPECTOR").mutate("publishNotice", {**ids, "publishedOn": "2026-03-12"})
        assert notice["__typename"] == "NoticePublished", notice
        yield {"server": world.server, "loaded": world.loaded, "tokens": world.tokens, "notice": notice}


def open_round(browser: Any, site: dict[str, Any], token: str | None) -> Any:
    page = browser.new_page(viewport={"width": 1400, "height": 1100}, locale="zh-CN")
    query = f"?token={token}" if token else ""
    page.goto(f"{site['server'].url}/dashboard{query}#/round/{site['loaded'].round_id}")
    page.wait_for_selector("[data-testid=ledger-table] tbody tr")
    return page


def mutate(site: dict[str, Any], query: str, variables: dict[str, Any]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {site['tokens']['UNIT']}"}
    answer = httpx.post(
        f"{site['server'].url}/graphql",
        json={"query": query, "variables": variables},
        headers=headers,
        timeout=30,
        verify=TLS,
    ).json()
    assert "errors" not in answer, answer
    return answer["data"]


def clean_ups(page: Any) -> str:
    return page.locator("[data-testid='activity-total-大扫除']").inner_text()


def test_the_round_view_updates_without_a_reload_after_a_mutation(browser: Any, site: dict[str, Any]) -> None:
    page = open_round(browser, site, site["tokens"]["INSPECTOR"])
    before = int(clean_ups(page))
    page.evaluate("window.__marker = 'not reloaded'")
    finding = str(site["loaded"].finding_ids["人居环境品质有效提升"])
    mutate(
        site,
        "mutation($i: RecordActivityInput!) { recordActivity(input: $i) { __typename } }",
        {"i": {"findingId": finding, "kind": "大扫除", "occurredOn": "2026-03-10", "count": 1}},
    )
    page.wait_for_function(
        "expected => document.querySelector(\"[data-testid='activity-total-大扫除']\")?.textContent === expected",
        arg=str(before + 1),
        timeout=5000,
    )
    assert page.evaluate("window.__marker") == "not reloaded"
    shot = page.screenshot(full_page=True)
    assert shot.startswith(b"\x89PNG")
    if os.environ.get("RECTIFY_UPDATE_SCREENSHOT"):  # refreshes docs/dashboard-round.png, shown in the README
        SCREENSHOT.write_bytes(shot)
    page.close()


def test_the_time_slider_shows_the_earlier_figure(browser: Any, site: dict[str, Any]) -> None:
    page = open_round(browser, site, site["tokens"]["INSPECTOR"])
    now = int(clean_ups(page))
    finding = str(site["loaded"].finding_ids["人居环境品质有效提升"])
    receipt = mutate(
        site,
        "mutation($i: RecordActivityInput!) { recordActivity(input: $i) { ... on Accepted { position } } }",
        {"i": {"findingId": finding, "kind": "大扫除", "occurredOn": "2026-03-11", "count": 1}},
    )
    page.wait_for_function(
        "expected => document.querySelector(\"[data-testid='activity-total-大扫除']\")?.textContent === expected",
        arg=str(now + 1),
        timeout=5000,
    )
    earlier = receipt["recordActivity"]["position"] - 1
    page.evaluate(
        "position => { const s = document.querySelector('[data-testid=time-slider]'); s.value = String(position);"
        " s.dispatchEvent(new Event('change')); }",
        earlier,
    )
    page.wait_for_function(
        "expected => document.querySelector(\"[data-testid='activity-total-大扫除']\")?.textContent === expected",
        arg=str(now),
        timeout=5000,
    )
    assert "回溯" in page.locator("[data-testid=live-state]").inner_text()
    page.locator("[data-testid=back-to-now]").click()
    page.wait_for_function(
        "expected => document.querySelector(\"[data-testid='activity-total-大扫除']\")?.textContent === expected",
        arg=str(now + 1),
        timeout=5000,
    )
    page.close()


def test_the_public_sees_no_internal_item_and_the_inspector_does(browser: Any, site: dict[str, Any]) -> None:
    public = open_round(browser, site, None)
    assert INTERNAL_HEADING not in public.content()
    assert public.locator("[data-testid=kpi-undisclosed]").inner_text() == "1"
    public.close()
    inspector = open_round(browser, site, site["tokens"]["INSPECTOR"])
    assert INTERNAL_HEADING in inspector.locator("[data-testid=ledger-table]").inner_text()
    assert inspector.locator("[data-testid=kpi-undisclosed]").inner_text() == "0"
    inspector.close()


def test_the_district_overview_is_sortable_and_leads_to_the_round(browser: Any, site: dict[str, Any]) -> None:
    page = browser.new_page(locale="zh-CN")
    page.goto(f"{site['server'].url}/dashboard?token={site['tokens']['INSPECTOR']}#/")
    row = page.wait_for_selector("[data-testid=district-table] tbody tr")
    assert "松园社区党委" in row.inner_text()
    page.locator("[data-testid=district-table] th[data-key=rate]").click()
    assert "sorted-asc" in (page.locator("[data-testid=district-table] th[data-key=rate]").get_attribute("class") or "")
    row.click()
    page.wait_for_selector("[data-testid=round-title]")
    assert "罗湖区第四巡察组" in page.locator("[data-testid=round-title]").inner_text()
    page.close()


def test_a_published_notice_has_a_mark_on_the_time_line(browser: Any, site: dict[str, Any]) -> None:
    # published 2026-03-12 for 30 days: past its window, so marked for the office (not for the public)
    page = open_round(browser, site, site["tokens"]["INSPECTOR"])
    mark = page.wait_for_selector("[data-testid=notice-marks] .mark")
    assert mark.get_attribute("data-position") == str(site["notice"]["position"] - 1)
    assert "2026-03-12" in mark.inner_text()
    page.close()


def test_every_asset_the_page_loads_is_served_by_the_app(browser: Any, site: dict[str, Any]) -> None:
    page = browser.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{site['server'].url}/dashboard#/")
    page.wait_for_selector("[data-testid=district-table] tbody tr")
    foreign = [
        u
        for u in requested
        if not u.startswith(site["server"].url.replace("http", "ws")) and not u.startswith(site["server"].url)
    ]
    assert foreign == []
    assert any(u.endswith("/assets/plotly.min.js") for u in requested)
    page.close()


def test_a_units_feed_opens_on_its_last_twenty_events(browser: Any, site: dict[str, Any]) -> None:
    """A unit's events are sparse in the log: counted back twenty positions, its feed showed a few."""
    page = open_round(browser, site, site["tokens"]["UNIT"])
    page.wait_for_selector("[data-testid=feed] li[data-position]")
    shown = page.eval_on_selector_all(
        "[data-testid=feed] li[data-position]", "items => items.map(i => +i.dataset.position)"
    )
    headers = {"Authorization": f"Bearer {site['tokens']['UNIT']}"}
    positions, cursor = [], 0
    while True:
        page_of_log = httpx.post(
            f"{site['server'].url}/graphql",
            json={
                "query": "query($a: Int!) { events(after: $a, first: 500) { nextCursor events { position } } }",
                "variables": {"a": cursor},
            },
            headers=headers,
            timeout=30,
            verify=TLS,
        ).json()["data"]["events"]
        positions += [e["position"] for e in page_of_log["events"]]
        if not page_of_log["events"]:
            break
        cursor = page_of_log["nextCursor"]
    assert len(positions) > 20
    assert shown == sorted(positions[-20:], reverse=True)  # newest first
    page.close()
