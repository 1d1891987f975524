"""Pages under their content security policies in a real browser: everything works, nothing is blocked,
and a script a unit typed runs nowhere it is shown (Debian's Chromium, headless, driven by Playwright)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from api_harness import World, open_served_world  # type: ignore[import-not-found]

from system_packages import require_system_packages  # type: ignore[import-not-found]

SCRIPT = "<script>window.__xss = 1</script>"
IMAGE = '<img src="x" onerror="window.__xss = 2">'
#: Recorded before any page script runs: every CSP violation the page reports.
WATCH = (
    "window.__violations = []; document.addEventListener('securitypolicyviolation', e => "
    "window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, dict[str, Any]]]:
    """The reference scenario, with a unit that typed markup into its narrative and its department."""
    require_system_packages("chromium")
    with open_served_world(f"sqlite:///{tmp_path_factory.mktemp('csp') / 'rectify.db'}") as world:
        unit = world.client("UNIT")
        ids = {"roundId": str(world.loaded.round_id), "unitId": str(world.loaded.unit_id)}
        narrative = {**ids, "section": "NEXT_STEPS", "intro": SCRIPT, "items": [{"title": IMAGE, "text": SCRIPT}]}
        assert unit.mutate("draftNarrative", narrative)["__typename"] == "Accepted"
        responsibility = {
            "findingId": world.finding_ids["人居环境品质有效提升"],
            "department": IMAGE,
            "leader": SCRIPT,
            "person": "负责人",
            "deadlineKind": "LONG_TERM",
        }
        assert unit.mutate("assignResponsibility", responsibility)["__typename"] == "Accepted"
        published = unit.mutate("publishNotice", ids)
        assert published["__typename"] == "NoticePublished", published
        yield world, published


def watched_page(browser: Any) -> tuple[Any, list[str]]:
    """A new page whose console errors, dialogs and CSP violations are recorded."""
    page = browser.new_page(locale="zh-CN")
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("dialog", lambda dialog: (problems.append("dialog: " + dialog.message), dialog.dismiss()))
    page.add_init_script(WATCH)
    return page, problems


def assert_clean(page: Any, problems: list[str]) -> None:
    """Nothing the unit typed ran, the page hit no limit of its policy, and the policy is in force:
    an inline script put into the page now (as markup that slipped through would be) is blocked."""
    assert page.evaluate("window.__xss") is None
    assert page.evaluate("window.__violations") == []
    assert [p for p in problems if "Content Security Policy" in p or p.startswith("dialog")] == []
    injected = page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.__inline = 1';"
        " document.body.appendChild(s); return window.__inline; }"
    )
    assert injected is None
    page.wait_for_function("() => window.__violations.length > 0")
    assert page.evaluate("window.__violations")[0].startswith("script-src")


def test_the_dashboard_works_under_its_policy_and_shows_typed_markup_as_text(browser, site) -> None:
    world, _ = site
    page, problems = watched_page(browser)
    page.goto(f"{world.server.url}/dashboard?token={world.tokens['UNIT']}#/round/{world.loaded.round_id}")
    page.wait_for_selector("[data-testid=ledger-table] tbody tr")
    page.wait_for_selector("#category-chart .main-svg")  # Plotly drew its chart
    assert IMAGE in page.locator("[data-testid=ledger-table]").inner_text()
    assert_clean(page, problems)
    page.close()


def test_graphiql_works_under_its_policy(browser, site) -> None:
    world, _ = site
    page, problems = watched_page(browser)
    page.goto(world.server.graphql_url, wait_until="networkidle")
    page.wait_for_selector(".graphiql-container")
    page.locator(".graphiql-execute-button").click()
    page.locator(".result-window", has_text="teamName").wait_for(timeout=10000)
    assert "罗湖区第四巡察组" in page.locator(".result-window").inner_text()
    assert_clean(page, problems)
    page.close()


def test_a_script_a_unit_typed_does_not_run_on_the_notice_page(browser, site) -> None:
    world, published = site
    page, problems = watched_page(browser)
    page.goto(world.server.url + published["url"])
    text = page.locator("body").inner_text()
    assert SCRIPT in text and IMAGE in text  # shown as the text it is
    assert page.locator("script").count() == 0 and page.locator("img").count() == 0
    assert_clean(page, problems)
    page.close()
