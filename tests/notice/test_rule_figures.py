"""A notice cites a standing rule's figures through {met:…} and {missed:…}; the reference notice does not change."""

from __future__ import annotations

from datetime import date

import pytest

from rectify.access import Actor, Role
from rectify.domain import InvalidInput
from rectify.domain.figures import figures_in
from rectify.domain.values import Edition
from rectify.examples import songyuan

PUBLISHED_ON = date(2026, 3, 12)
#: The SHA-256 of the reference notice's Markdown as of 2026-03-12, as main printed it before standing rules came:
#: the scenario's log has grown by its 消防演练 rule since, and the notice must not change.
REFERENCE_SHA256 = "23512885459c009da63a2975b3e3c906b18c3a55bf2cbb81913355896f926dc4"
DRILLS = "加强安全隐患排查工作"


def test_the_reference_notice_prints_byte_identically_with_its_fire_drill_rule_in_the_log(system, loaded) -> None:
    rules = [
        r for r in system.queries.reading(Actor("t", Role.INSPECTOR)).rules() if r.title == songyuan.FIRE_DRILL_RULE
    ]
    assert [(p.label, p.status.value) for p in rules[0].periods] == [
        ("2025年上半年", "MET"),
        ("2025年下半年", "MET"),
        ("2026年上半年", "RUNNING"),
    ]
    for position in (loaded.position - 1, loaded.position):  # before and after the rule was adopted
        rendered = system.notices.draft(loaded.round_id, loaded.unit_id, Edition.PUBLIC, position, PUBLISHED_ON, 30)
        assert rendered.sha256 == REFERENCE_SHA256


def test_a_measure_cites_the_rules_periods_met_and_missed_as_of_the_notices_date(system, loaded) -> None:
    unit = Actor("松园", Role.UNIT, loaded.unit_id)
    system.app.plan_measure(
        unit,
        finding_id=loaded.finding_ids[DRILLS],
        text="消防演练已按要求开展 {met:消防演练} 个半年度，未达要求 {missed:消防演练} 个；"
        "截至 2025 年 12 月 1 日达标 {met:消防演练:to=2025-12-01} 个。",
    )
    system.projector.catch_up()

    def printed(on: date) -> str:
        rendered = system.notices.draft(loaded.round_id, loaded.unit_id, Edition.PUBLIC, system.app.head(), on, 30)
        return next(line for line in rendered.markdown.splitlines() if "消防演练已按要求" in line)

    assert "已按要求开展 2 个半年度，未达要求 0 个；截至 2025 年 12 月 1 日达标 1 个" in printed(PUBLISHED_ON)
    # Judged in July 2026 with no drill after 2025-12-16, the first half of 2026 was missed.
    assert "已按要求开展 2 个半年度，未达要求 1 个" in printed(date(2026, 7, 5))
    found = system.queries.reading(unit).finding(loaded.finding_ids[DRILLS])
    assert found is not None
    assert "已按要求开展 2 个半年度" in found.measures[-1].filled_text


def test_rule_figures_read_met_or_missed_and_nothing_else() -> None:
    assert [f.function for f in figures_in("{met:消防演练} {missed:消防演练:from=2026-01-01}")] == ["met", "missed"]
    with pytest.raises(InvalidInput, match="met:KIND"):
        figures_in("{rule:消防演练}")
