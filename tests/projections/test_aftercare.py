"""What rectification leaves behind, read from the views and as of past positions on both stores: standing rules
period by period, relapse checks due and overdue, and relapse and repeat rates."""

from __future__ import annotations

from decimal import Decimal

from rectify.access import PUBLIC, Actor, Role
from rectify.domain.values import Disclosure, RelapseOutcome
from rectify.examples import songyuan
from rectify.projections.aftercare import CheckState
from rectify.projections.progress import Scope
from rectify.projections.views import At

INSPECTOR = Actor("巡察办", Role.INSPECTOR)
DRILLS = "加强安全隐患排查工作"
INTERNAL = next(p.heading for p in songyuan.FINDINGS if p.disclosure is Disclosure.INTERNAL)


def drill(system, loaded, heading: str, on: str) -> int:
    unit = Actor("松园", Role.UNIT, loaded.unit_id)
    position = system.app.record_activity(
        unit, finding_id=loaded.finding_ids[heading], kind=songyuan.FIRE_DRILL, occurred_on=on, count=1
    ).position
    system.projector.catch_up()
    return position


def periods(system, actor: Actor, at: At | None = None) -> list[tuple[str, int, str]]:
    (standing,) = system.queries.reading(actor).rules(Scope(), at)
    return [(p.label, p.count, p.status.value) for p in standing.periods]


def test_rule_periods_are_worked_out_as_of_any_past_position_by_the_same_fold(system, loaded) -> None:
    before = system.app.head()
    drilled = drill(system, loaded, DRILLS, "2026-03-01")
    rule_id = system.queries.reading(INSPECTOR).rules()[0].id
    amended = system.app.amend_rule(
        INSPECTOR, rule_id=rule_id, effective_from="2026-01-01", period="QUARTER", reason="改为每季度一次"
    ).position
    system.projector.catch_up()
    assert periods(system, INSPECTOR, At(position=before)) == [
        ("2025年上半年", 1, "MET"),
        ("2025年下半年", 1, "MET"),
        ("2026年上半年", 0, "RUNNING"),
    ]
    assert periods(system, INSPECTOR, At(position=drilled))[-1] == ("2026年上半年", 1, "MET")
    assert (
        periods(system, INSPECTOR)
        == periods(system, INSPECTOR, At(position=amended))
        == [
            ("2025年上半年", 1, "MET"),
            ("2025年下半年", 1, "MET"),
            ("2026年第一季度", 1, "MET"),
        ]
    )
    figures = system.queries.reading(INSPECTOR).progress(Scope(round_id=loaded.round_id), At(position=before))
    assert (figures.rule_periods_met, figures.rule_periods_missed, figures.rule_periods_running) == (2, 0, 1)


def test_the_public_sees_a_rules_periods_counted_without_an_internal_findings_activities(system, loaded) -> None:
    drill(system, loaded, INTERNAL, "2026-02-10")
    assert periods(system, INSPECTOR)[-1] == ("2026年上半年", 1, "MET")
    assert periods(system, PUBLIC)[-1] == ("2026年上半年", 0, "RUNNING")


def test_a_missed_period_counts_in_the_progress_figures(system, loaded) -> None:
    figures = system.queries.reading(INSPECTOR).progress(Scope(round_id=loaded.round_id), until=None)
    assert figures.rule_periods_missed == 0
    later = system.queries.reading(INSPECTOR)
    later.today = later.today.replace(year=2026, month=7, day=2)  # the first half of 2026 ended without a drill
    assert later.progress(Scope(round_id=loaded.round_id)).rule_periods_missed == 1


def test_relapse_checks_fall_due_the_rounds_months_after_a_close_out(system, loaded) -> None:
    reading = system.queries.reading(INSPECTOR)
    assert reading.relapse_checks() == []  # six months after the close-outs of late 2025 is after 2026-03-12
    later = {
        c.finding.code: (c.closed_on.isoformat(), c.due_on.isoformat(), c.state)
        for c in reading.relapse_checks(states=tuple(CheckState))
    }
    assert later["二-1"] == ("2025-11-30", "2026-05-30", CheckState.LATER)
    assert "一-1" not in later  # checked since its close-out
    system.app.set_relapse_check_interval(INSPECTOR, round_id=loaded.round_id, months=3)
    system.projector.catch_up()
    reading = system.queries.reading(INSPECTOR)
    due = {c.finding.code: c for c in reading.relapse_checks()}
    assert due["二-1"].due_on.isoformat() == "2026-02-28" and due["二-1"].state is CheckState.OVERDUE
    assert due["二-5"].due_on.isoformat() == "2026-04-09" and due["二-5"].state is CheckState.DUE
    assert "三-2-(2)" not in due  # closed 2026-01-14: due 2026-04-14, more than 30 days ahead
    figures = reading.progress(Scope(round_id=loaded.round_id))
    assert (figures.relapse_checks_overdue, figures.relapse_checks_due) == (7, 1)


def test_relapse_rates_per_department_category_and_round(system, loaded) -> None:
    for heading, outcome in (
        ("强化公章使用管理", RelapseOutcome.RELAPSED),
        ("加强社区公共文化服务", RelapseOutcome.HOLDING),
    ):
        system.app.record_relapse_check(
            INSPECTOR, finding_id=loaded.finding_ids[heading], outcome=outcome, checked_by="区委巡察办",
            occurred_on="2026-03-10", comment="回头看（示例）",
        )  # fmt: skip
    system.projector.catch_up()
    reading = system.queries.reading(INSPECTOR)
    by_department = {r.label: (r.part, r.whole, r.rate) for r in reading.relapse_rates("DEPARTMENT")}
    assert by_department == {"党群服务中心": (1, 2, Decimal("50.00")), "党建办": (0, 1, Decimal("0.00"))}
    by_category = {r.label[:6]: (r.part, r.whole) for r in reading.relapse_rates("CATEGORY")}
    assert by_category == {"关于贯彻落实": (0, 1), "关于纵深推进": (1, 2)}
    (by_round,) = reading.relapse_rates("ROUND")
    assert (by_round.label, by_round.part, by_round.whole, by_round.rate) == (
        "罗湖区第四巡察组",
        1,
        3,
        Decimal("33.33"),
    )


def test_repeat_rates_per_unit_and_district_count_links_the_caller_may_see(system, loaded) -> None:
    app = system.app
    later = app.open_round(
        INSPECTOR, authority="区委", district="罗湖区", team="第二巡察组", unit_ids=[loaded.unit_id],
        stationed_from="2026-01-05", stationed_to="2026-02-05",
    ).entity_id  # fmt: skip
    app.deliver_feedback(INSPECTOR, round_id=later, occurred_on="2026-03-01")
    app.define_category(INSPECTOR, round_id=later, path=[1], title="全面从严治党方面")
    again = [
        app.raise_finding(
            INSPECTOR, round_id=later, unit_id=loaded.unit_id, category=[1], ordinal=n, heading=h, problem="再次发现"
        ).entity_id
        for n, h in enumerate(("公章管理仍不规范", "工程资金再次多付", "新问题"), start=1)
    ]
    app.link_repeat(INSPECTOR, finding_id=again[0], earlier_finding_id=loaded.finding_ids["强化公章使用管理"])
    app.link_repeat(INSPECTOR, finding_id=again[1], earlier_finding_id=loaded.finding_ids[INTERNAL], reason="同一问题")
    system.projector.catch_up()
    office = {r.label: (r.part, r.whole, r.rate) for r in system.queries.reading(INSPECTOR).repeat_rates("UNIT")}
    assert office == {"松园社区党委": (2, 17, Decimal("11.76"))}
    public = system.queries.reading(PUBLIC)
    assert {r.label: (r.part, r.whole) for r in public.repeat_rates("DISTRICT")} == {"全区": (1, 16)}
    seen = public.finding(again[1])
    assert seen is not None and seen.repeat_of is None  # its earlier finding is internal: the public is not told
    assert public.progress(Scope(round_id=later)).repeats == 1
