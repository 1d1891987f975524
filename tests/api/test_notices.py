"""Publishing notices through the API, and the public notice pages at their stable URLs."""

from __future__ import annotations

from typing import Any

import pytest

from system_packages import require_system_packages  # type: ignore[import-not-found]

INTERNAL_HEADING = "规范工程项目资金管理"


def publish(world: Any, role: str = "UNIT", **input_fields: Any) -> dict[str, Any]:
    fields = {"roundId": str(world.loaded.round_id), "unitId": str(world.loaded.unit_id), **input_fields}
    return world.client(role).mutate("publishNotice", fields)


@pytest.fixture(scope="module")
def published(shared_world: Any) -> dict[str, dict[str, Any]]:
    """A public and an internal edition published today, and a public one whose window has passed."""
    notices = {
        "public": publish(shared_world),
        "internal": publish(shared_world, "INSPECTOR", edition="INTERNAL"),
        "expired": publish(shared_world, publishedOn="2026-03-12", windowDays=30),
    }
    for name, result in notices.items():
        assert result["__typename"] == "NoticePublished", (name, result)
    return notices


def test_a_published_notice_is_rebuilt_from_the_log_and_its_hash_checks(shared_world: Any, published: Any) -> None:
    query = "query($id: ID!) { notice(id: $id) { verified markdown publication { sha256 edition position url } } }"
    notice = shared_world.client("UNIT").data(query, {"id": published["public"]["id"]})["notice"]
    assert notice["verified"] is True
    assert notice["publication"]["sha256"] == published["public"]["sha256"]
    assert notice["publication"]["url"] == published["public"]["url"] == f"/notices/{published['public']['id']}"
    assert "累计开展 22 次" in notice["markdown"]
    assert INTERNAL_HEADING not in notice["markdown"]


def test_the_public_page_lists_the_notices_within_their_window_only(shared_world: Any, published: Any) -> None:
    page = shared_world.get("/notices")
    assert page.status_code == 200
    assert published["public"]["id"] in page.text
    assert published["internal"]["id"] not in page.text
    assert published["expired"]["id"] not in page.text


def test_a_notice_is_served_as_html_and_markdown_at_its_stable_url(shared_world: Any, published: Any) -> None:
    url = published["public"]["url"]
    html = shared_world.get(url)
    markdown = shared_world.get(url + ".md")
    assert html.status_code == markdown.status_code == 200
    assert html.headers["x-notice-verified"] == markdown.headers["x-notice-verified"] == "true"
    assert html.headers["x-notice-sha256"] == published["public"]["sha256"]
    assert "关于巡察整改进展情况的通报" in html.text and "<h2" in html.text
    assert markdown.headers["content-type"].startswith("text/markdown")
    graphql = shared_world.client().data(
        "query($id: ID!) { notice(id: $id) { markdown } }", {"id": published["public"]["id"]}
    )
    assert markdown.text == graphql["notice"]["markdown"]


def test_a_notice_is_served_as_pdf_at_its_stable_url(shared_world: Any, published: Any) -> None:
    # rendered in this process: without the HarfBuzz subsetter WeasyPrint warns, and the suite makes warnings errors
    require_system_packages("fonts-noto-cjk", "libharfbuzz-subset0")
    pdf = shared_world.get(published["public"]["url"] + ".pdf")
    if pdf.status_code == 501:
        pytest.skip(f"no PDF renderer in this installation: {pdf.text}")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")


def test_the_internal_edition_is_never_served_to_the_public(shared_world: Any, published: Any) -> None:
    internal = published["internal"]
    for suffix in ("", ".md", ".pdf"):
        assert shared_world.get(internal["url"] + suffix).status_code == 404
    query = "query($id: ID!) { notice(id: $id) { markdown } }"
    assert shared_world.client().data(query, {"id": internal["id"]}) == {"notice": None}
    assert shared_world.client("OTHER_UNIT").data(query, {"id": internal["id"]}) == {"notice": None}
    seen = shared_world.client("UNIT").data(query, {"id": internal["id"]})["notice"]["markdown"]
    assert INTERNAL_HEADING in seen


def test_a_notice_past_its_window_is_gone_from_the_public_page(shared_world: Any, published: Any) -> None:
    gone = shared_world.get(published["expired"]["url"])
    assert gone.status_code == 410
    assert "2026-04-11" in gone.text


def test_publishing_refuses_bad_input_and_appends_nothing(shared_world: Any) -> None:
    client = shared_world.client("UNIT")
    before = client.head()
    cases = {
        "windowDays": {"windowDays": 0},
        "position": {"position": before + 100},
        "publishedOn": {"publishedOn": "2099-01-01"},
        "roundId": {"roundId": "not-a-round"},
    }
    for field, bad in cases.items():
        result = publish(shared_world, **bad)
        assert result["__typename"] == "InvalidInput", (field, result)
        assert result["field"] == field
    assert publish(shared_world, "PUBLIC")["__typename"] == "Forbidden"
    assert publish(shared_world, "OTHER_UNIT")["__typename"] == "Forbidden"
    assert client.head() == before
