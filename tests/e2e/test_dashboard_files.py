"""Files on the dashboard, in a real browser against a real server: the 台账 template and ledger downloaded, a ledger
imported through the page (a dry run first, then the import), evidence uploaded on a finding, and the public page
never showing internal evidence."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_harness import TLS, open_served_world
from openpyxl import load_workbook

from evidence_files import pdf, photo
from system_packages import require_system_packages

CLEAN_UPS = "人居环境品质有效提升"
MEASURE = "三是建立每月环境卫生巡查制度"
RECORDED = "建立每月环境卫生巡查制度"  # the measure as recorded: without its numbering (三是)
SCREENSHOT = Path(__file__).parents[2] / "docs" / "dashboard-files.png"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    require_system_packages("chromium")
    with open_served_world(f"sqlite:///{tmp_path_factory.mktemp('files') / 'rectify.db'}") as world:
        yield world


def open_round(browser: Any, site: Any, role: str | None) -> Any:
    page = browser.new_page(viewport={"width": 1400, "height": 1400}, locale="zh-CN", accept_downloads=True)
    token = f"?token={site.tokens[role]}" if role else ""
    page.goto(f"{site.server.url}/dashboard{token}#/round/{site.loaded.round_id}")
    page.wait_for_selector("[data-testid=ledger-table] tbody tr")
    page.wait_for_selector("[data-testid=files]:not([hidden])")
    return page


def edited_ledger(site: Any, tmp_path: Path) -> Path:
    """The round's ledger as the office downloads it, with one more measure for the clean-ups."""
    headers = {"Authorization": f"Bearer {site.tokens['INSPECTOR']}"}
    url = f"{site.server.url}/rounds/{site.loaded.round_id}/ledger.xlsx"
    book = load_workbook(io.BytesIO(httpx.get(url, headers=headers, timeout=30, verify=TLS).content))
    sheet = book["台账"]
    header = {str(c.value): c.column for c in sheet[3] if c.value}
    for row in range(4, sheet.max_row + 1):
        if sheet.cell(row, header["问题标题"]).value == CLEAN_UPS:
            cell = sheet.cell(row, header["整改措施"])
            cell.value = f"{cell.value}\n{MEASURE}"
    path = tmp_path / "台账.xlsx"
    book.save(path)
    return path


def measures(site: Any) -> list[str]:
    query = "query($id: ID!) { finding(id: $id) { measures { text } } }"
    variables = {"id": str(site.loaded.finding_ids[CLEAN_UPS])}
    headers = {"Authorization": f"Bearer {site.tokens['INSPECTOR']}"}
    answer = httpx.post(
        site.server.graphql_url, json={"query": query, "variables": variables}, headers=headers, verify=TLS
    )
    return [m["text"] for m in answer.json()["data"]["finding"]["measures"]]


def test_the_template_and_the_ledger_download_as_workbooks(browser: Any, site: Any, tmp_path: Path) -> None:
    page = open_round(browser, site, "UNIT")
    for button, title in (("download-template", "整改台账"), ("download-ledger", CLEAN_UPS)):
        with page.expect_download() as started:
            page.click(f"[data-testid={button}]")
        saved = tmp_path / f"{button}.xlsx"
        started.value.save_as(saved)
        book = load_workbook(saved)
        text = "\n".join(str(c.value) for s in book.worksheets for r in s.iter_rows() for c in r if c.value)
        assert title in text
        assert "整改措施" in text


def test_a_ledger_is_imported_through_the_page_after_a_dry_run(browser: Any, site: Any, tmp_path: Path) -> None:
    path = edited_ledger(site, tmp_path)
    page = open_round(browser, site, "UNIT")
    page.set_input_files("[data-testid=import-file]", str(path))
    page.click("[data-testid=import-dry-run]")
    page.wait_for_selector("[data-testid=import-result][data-state=dry-run]")
    assert "将写入 1 个事件" in page.inner_text("[data-testid=import-result]")
    assert "Finding.MeasurePlanned" in page.inner_text("[data-testid=import-rows]")
    assert RECORDED not in measures(site)  # a dry run appends nothing

    page.click("[data-testid=import-run]")
    page.wait_for_selector("[data-testid=import-result][data-state=imported]")
    assert "写入 1 个事件" in page.inner_text("[data-testid=import-result]")
    assert RECORDED in measures(site)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=feed]')?.innerText.includes('Finding.MeasurePlanned')",
        timeout=10_000,
    )


def test_a_sheet_with_a_problem_is_refused_on_the_page_naming_the_problem(
    browser: Any, site: Any, tmp_path: Path
) -> None:
    path = tmp_path / "台账.xlsx"
    path.write_text("编号,具体问题\n1,问题\n", encoding="utf-8")
    page = open_round(browser, site, "UNIT")
    page.set_input_files("[data-testid=import-file]", str(path))
    page.click("[data-testid=import-dry-run]")
    page.wait_for_selector("[data-testid=import-result][data-state=refused]")
    assert "plain text (a CSV?)" in page.inner_text("[data-testid=import-rows]")


def test_evidence_uploaded_on_a_finding_appears_and_the_public_never_sees_the_internal_file(
    browser: Any, site: Any, tmp_path: Path
) -> None:
    page = open_round(browser, site, "UNIT")
    row = page.locator("[data-testid=ledger-table] tbody tr", has_text=CLEAN_UPS)
    before = row.locator("[data-testid=evidence-link]").count()
    finding = str(site.loaded.finding_ids[CLEAN_UPS])
    for name, data, disclosure in (("整改现场.jpg", photo(colour=(30, 90, 200)), "PUBLIC"),
                                   ("内部谈话记录.pdf", pdf(), "INTERNAL")):  # fmt: skip
        (tmp_path / name).write_bytes(data)
        page.select_option("[data-testid=evidence-finding]", finding)
        page.select_option("[data-testid=evidence-disclosure]", disclosure)
        page.set_input_files("[data-testid=evidence-file]", str(tmp_path / name))
        page.click("[data-testid=evidence-upload]")
        page.wait_for_function(
            "name => document.querySelector('[data-testid=evidence-result]').innerText.includes(name)", arg=name
        )
    page.wait_for_function(
        "n => [...document.querySelectorAll('[data-testid=ledger-table] tbody tr')].some(r => r.innerText.includes("
        f"'{CLEAN_UPS}') && r.querySelectorAll('[data-testid=evidence-link]').length === n)",
        arg=before + 2,
        timeout=10_000,
    )
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=evidence-thumbnail]')].some(i => i.alt === '整改现场.jpg' "
        "&& i.complete && i.naturalWidth > 0)",
        timeout=10_000,
    )
    page.locator("[data-testid=files]").scroll_into_view_if_needed()
    if os.environ.get("RECTIFY_UPDATE_SCREENSHOT"):  # refreshes docs/dashboard-files.png, shown in the README
        page.screenshot(path=str(SCREENSHOT), full_page=True)

    public = open_round(browser, site, None)
    public.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=evidence-link]')]"
        ".some(a => a.title.startsWith('整改现场.jpg'))",
        timeout=10_000,
    )
    assert "内部谈话记录" not in public.content()
    assert public.locator("[data-testid=import-form]").is_hidden()
    assert public.locator("[data-testid=evidence-form]").is_hidden()
