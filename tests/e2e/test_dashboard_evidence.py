"""Evidence, standing rules and 回头看 on the dashboard, in a real browser: thumbnails fetched with the caller's token,
and the public shown public evidence only.

The photo is attached through the application beside the server (as `rectify evidence attach` does); uploading
through the page (attachEvidence over a multipart request) is test_dashboard_files.py's."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_harness import SYSTEM, open_served_world

from evidence_files import pdf, photo
from rectify import settings
from rectify.bootstrap import open_application
from system_packages import require_system_packages

CLEAN_UPS = "人居环境品质有效提升"
SCREENSHOT = Path(__file__).parents[2] / "docs" / "dashboard-evidence.png"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    require_system_packages("chromium")
    url = f"sqlite:///{tmp_path_factory.mktemp('evidence') / 'rectify.db'}"
    with open_served_world(url) as world:
        app = open_application(settings.load({}, database_url=url))
        try:
            finding = app.finding(world.loaded.finding_ids[CLEAN_UPS])
            target = {"target": "MEASURE", "target_ref": finding.measures[0].measure_id}
            app.attach_evidence(
                SYSTEM, finding_id=finding.id, stream=io.BytesIO(photo()), file_name="大扫除现场.jpg", **target
            )
            app.attach_evidence(
                SYSTEM, finding_id=finding.id, stream=io.BytesIO(pdf()), file_name="内部核查记录.pdf",
                disclosure="INTERNAL", **target,
            )  # fmt: skip
        finally:
            app.close()
        yield {"server": world.server, "loaded": world.loaded, "tokens": world.tokens}


def open_round(browser: Any, site: dict[str, Any], token: str | None) -> Any:
    page = browser.new_page(viewport={"width": 1400, "height": 1400}, locale="zh-CN")
    page.goto(f"{site['server'].url}/dashboard{f'?token={token}' if token else ''}#/round/{site['loaded'].round_id}")
    page.wait_for_selector("[data-testid=ledger-table] tbody tr")
    return page


def thumbnail_shown(page: Any) -> None:
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=evidence-thumbnail]')]"
        ".some(i => i.src.startsWith('blob:') && i.complete && i.naturalWidth > 0)",
        timeout=10_000,
    )


def test_the_unit_sees_its_photos_thumbnail_and_its_internal_evidence_marked(browser, site) -> None:
    page = open_round(browser, site, site["tokens"]["UNIT"])
    thumbnail_shown(page)
    row = page.locator("[data-testid=ledger-table] tbody tr", has_text=CLEAN_UPS)
    assert row.locator("[data-testid=evidence-link]").count() == 2
    assert "内部" in row.inner_text()
    width = page.evaluate("document.querySelector('[data-testid=evidence-thumbnail]').naturalWidth")
    assert width == 320  # Pillow's thumbnail of the 1200 × 800 photo
    page.locator("[data-testid=rules]").scroll_into_view_if_needed()
    if os.environ.get("RECTIFY_UPDATE_SCREENSHOT"):  # refreshes docs/dashboard-evidence.png, shown in the README
        page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_the_public_sees_only_the_public_evidence(browser, site) -> None:
    page = open_round(browser, site, None)
    thumbnail_shown(page)
    row = page.locator("[data-testid=ledger-table] tbody tr", has_text=CLEAN_UPS)
    assert row.locator("[data-testid=evidence-link]").count() == 1
    assert "内部核查记录" not in page.content()
    assert "内部核查记录" not in page.locator("body").inner_text()


def test_the_standing_rule_shows_each_half_year_met_or_missed_and_relapse_checks_are_listed(browser, site) -> None:
    page = open_round(browser, site, site["tokens"]["INSPECTOR"])
    page.wait_for_selector("[data-testid=rule-period]")
    periods = page.locator("[data-testid=rule-period]")
    labels = [periods.nth(i).inner_text() for i in range(periods.count())]
    assert labels[:2] == ["2025年上半年 达标（1/1）", "2025年下半年 达标（1/1）"]
    statuses = {periods.nth(i).get_attribute("data-status") for i in range(periods.count())}
    assert statuses <= {"MET", "MISSED", "RUNNING"}
    missed = page.locator("[data-testid=rule-period][data-status=MISSED]")
    if missed.count():  # a half-year that ended without a drill is red
        colour = missed.first.evaluate("e => getComputedStyle(e).color")
        assert colour == "rgb(198, 40, 40)"
    page.goto(f"{site['server'].url}/dashboard?token={site['tokens']['INSPECTOR']}#/")
    page.wait_for_selector("[data-testid=repeat-rates] tbody tr")
    assert "松园社区党委" in page.locator("[data-testid=repeat-rates]").inner_text()
    assert "罗湖区第四巡察组" in page.locator("[data-testid=relapse-rates]").inner_text()
