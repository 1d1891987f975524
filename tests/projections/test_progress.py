"""Progress figures from ledger rows: buckets, 完成率, overdue, lights, amounts, activities, audiences."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from uuid import uuid4

from rectify.access import PUBLIC, Actor, Role
from rectify.domain.values import (
    Activity,
    ActivityKind,
    AmountInvolved,
    Deadline,
    DeadlineKind,
    Disclosure,
    FindingStatus,
    Measure,
    MoneyRole,
    RelapseCheck,
    RelapseOutcome,
    Report,
)
from rectify.projections.ledger import LedgerRow, LightThresholds, light
from rectify.projections.progress import Scope, percentage, progress

S = FindingStatus
TODAY = date(2026, 3, 12)
INSPECTOR = Actor("office", Role.INSPECTOR)
ROUND, UNIT = uuid4(), uuid4()


def row(status: FindingStatus = S.IN_PROGRESS, due: date | None = date(2026, 6, 1), **changes: object) -> LedgerRow:
    base = LedgerRow(
        finding_id=uuid4(),
        round_id=ROUND,
        unit_id=UNIT,
        code="一-1",
        category=(1,),
        ordinal=1,
        heading="h",
        problem="p",
        disclosure=Disclosure.PUBLIC,
        withholding_reason="",
        amounts_involved=(),
        department="党建办",
        leader="l",
        person="p",
        deadline=Deadline(DeadlineKind.DATE, due) if due else None,
        original_deadline=None,
        extensions=(),
        status=status,
        measures=(),
        activities=(),
        last_verification=None,
        close_out=None,
        relapse_checks=(),
        reopenings=0,
        version=1,
        position=1,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def activity(
    kind: str, day: date, *, count: int | None = 1, amount: str | None = None, unit: str = "次", retracted: bool = False
) -> Activity:
    return Activity(
        uuid4(),
        kind,
        day,
        unit,
        "",
        count=None if amount else count,
        amount=Decimal(amount) if amount else None,
        retracted=retracted,
    )


def figures(rows: list[LedgerRow], **kw: object):  # type: ignore[no-untyped-def]
    params = {"scope": Scope(), "audience": INSPECTOR, "today": TODAY, "position": 9, **kw}
    return progress(rows, **params)  # type: ignore[arg-type]


def test_completion_rate_is_exact_and_rounded_half_up() -> None:
    assert percentage(688, 697) == Decimal("98.71")
    assert percentage(1, 8) == Decimal("12.50")
    assert percentage(1, 200) == Decimal("0.50")
    assert percentage(1, 3) == Decimal("33.33") and percentage(2, 3) == Decimal("66.67")
    assert percentage(0, 0) is None


def test_statuses_fall_into_the_four_buckets() -> None:
    rows = [row(s) for s in S]
    result = figures(rows)
    assert (result.total, result.completed, result.long_term, result.in_progress, result.not_started) == (7, 2, 1, 2, 2)
    assert result.completion_rate == Decimal("28.57")


def test_overdue_and_lights_follow_the_deadline_and_configurable_thresholds() -> None:
    late = row(S.IN_PROGRESS, date(2026, 3, 11))
    close = row(S.ASSIGNED, date(2026, 3, 22))  # 10 days left
    far = row(S.IN_PROGRESS, date(2026, 3, 23))  # 11 days left
    done_late = row(S.CLOSED, date(2025, 1, 1))
    reported_late = row(S.REPORTED, date(2025, 1, 1))
    immediate = row(S.IN_PROGRESS, None, deadline=Deadline(DeadlineKind.IMMEDIATE))
    assert [light(r, TODAY) for r in (late, close, far, done_late, reported_late, immediate)] == [
        "RED",
        "YELLOW",
        "GREEN",
        "GREEN",
        "GREEN",
        "GREEN",
    ]
    assert light(far, TODAY, LightThresholds(yellow_within_days=11)) == "YELLOW"
    result = figures([late, close, far, done_late, reported_late, immediate])
    assert (result.overdue, result.red, result.yellow, result.green) == (1, 1, 1, 4)


def test_amounts_involved_and_recovered_are_compared_in_yuan_to_the_cent() -> None:
    refunds = (
        activity("清退资金", date(2025, 10, 1), amount="40.00", unit="万元"),
        activity("清退资金", date(2025, 12, 1), amount="0.01", unit="元"),
        activity("清退资金", date(2025, 12, 2), amount="5.00", unit="万元", retracted=True),
    )
    involved = (
        AmountInvolved("问题资金", Decimal("66.57"), "万元"),
        AmountInvolved("违规发放", Decimal("1234.56"), "元"),
    )
    finding = row(amounts_involved=involved, activities=refunds)
    result = figures([finding])
    assert result.amount_involved == Decimal("666934.56")
    assert result.amount_rectified == Decimal("400000.01") == finding.amount_rectified
    assert result.amount_remaining == Decimal("266934.55")
    cut = figures([finding], cut=date(2025, 11, 12))
    assert cut.amount_rectified == Decimal("400000.00")


def test_activity_figures_count_per_kind_with_a_running_total_by_business_date() -> None:
    finding = row(
        activities=(
            activity("大扫除", date(2025, 4, 2)),
            activity("大扫除", date(2025, 4, 2), count=2),
            activity("大扫除", date(2025, 11, 13)),
            activity("大扫除", date(2025, 5, 1), retracted=True),
        )
    )
    other_unit = row(unit_id=uuid4(), activities=(activity("培训", date(2025, 5, 1)),))
    result = figures([finding, other_unit])
    clean_ups = next(f for f in result.activities if f.kind == "大扫除")
    assert (clean_ups.records, clean_ups.total) == (3, Decimal(4))
    assert clean_ups.series == ((date(2025, 4, 2), Decimal(3)), (date(2025, 11, 13), Decimal(4)))
    assert {u.unit_id for u in result.activities_by_unit} == {finding.unit_id, other_unit.unit_id}
    assert [(t.kind, t.records, t.total) for t in finding.activity_totals] == [("大扫除", 3, Decimal(4))]
    cut = figures([finding, other_unit], cut=date(2025, 11, 12))
    assert next(f for f in cut.activities if f.kind == "大扫除").total == Decimal(3)


def test_extensions_and_relapses_are_counted() -> None:
    holding = RelapseCheck(RelapseOutcome.HOLDING, "x", date(2026, 1, 1), "")
    relapsed = RelapseCheck(RelapseOutcome.RELAPSED, "x", date(2026, 2, 1), "")
    rows = [
        row(S.CLOSED, relapse_checks=(holding,)),
        row(S.IN_PROGRESS, relapse_checks=(holding, relapsed)),
        row(S.CLOSED),
        row(extensions=("e1", "e2")),
    ]  # type: ignore[arg-type]
    result = figures(rows)
    assert (result.relapse_checked, result.relapsed, result.relapse_rate, result.extensions) == (
        2,
        1,
        Decimal("50.00"),
        2,
    )


def test_the_public_sees_only_how_many_items_are_withheld() -> None:
    public = row(activities=(activity("培训", TODAY),))
    internal = row(
        disclosure=Disclosure.INTERNAL,
        withholding_reason="在办案件",
        status=S.CLOSED,
        activities=(activity("清退资金", date(2025, 10, 1), amount="66.57", unit="万元"),),
    )
    seen = figures([public, internal], audience=PUBLIC)
    assert (seen.total, seen.undisclosed, seen.completed, seen.amount_rectified) == (1, 1, 0, Decimal(0))
    assert [f.kind for f in seen.activities] == ["培训"]
    own_unit = figures([public, internal], audience=Actor("u", Role.UNIT, UNIT))
    other_unit = figures([public, internal], audience=Actor("u", Role.UNIT, uuid4()))
    assert (own_unit.total, own_unit.undisclosed) == (2, 0)
    assert (other_unit.total, other_unit.undisclosed) == (1, 1)


def test_scopes_select_round_unit_category_and_department() -> None:
    a = row(category=(2, 4), ordinal=1)
    b = row(category=(2,), ordinal=5, department="民政办")
    c = row(round_id=uuid4(), unit_id=uuid4())
    rows = [a, b, c]
    assert figures(rows, scope=Scope(category=(2, 4))).total == 1
    assert figures(rows, scope=Scope(category=(2,))).total == 2
    assert figures(rows, scope=Scope(department="民政办")).total == 1
    assert figures(rows, scope=Scope(round_id=ROUND)).total == 2
    assert figures(rows, scope=Scope(unit_id=c.unit_id)).total == 1
    assert figures(rows).total == 3


def test_partial_rectification_has_its_own_count_and_an_assigned_finding_with_measures_is_in_progress() -> None:
    planned = (Measure(uuid4(), 1, "建立台账"),)
    partly = row(S.IN_PROGRESS, partly=Report(date(2025, 10, 1), "已追回部分资金"))
    assigned_with_measures = row(S.ASSIGNED, measures=planned)
    assigned_bare = row(S.ASSIGNED)
    result = figures([partly, assigned_with_measures, assigned_bare, row(S.IN_PROGRESS), row(S.CLOSED)])
    assert (result.partly, result.in_progress, result.not_started, result.completed) == (1, 2, 1, 1)
    assert result.total == result.partly + result.in_progress + result.not_started + result.completed
    assert [r.ledger_status.value for r in (partly, assigned_with_measures, assigned_bare)] == [
        "部分整改",
        "整改中",
        "未启动",
    ]


def test_recoveries_with_no_amount_involved_leave_nothing_negative_to_rectify() -> None:
    """The audit report that came out at −1582.07 万元: recoveries are shown on their own."""
    recovered_only = row(activities=(activity("追回资金", date(2025, 10, 1), amount="1582.07", unit="万元"),))
    over_rectified = row(
        amounts_involved=(AmountInvolved("涉及金额", Decimal("10.00"), "万元"),),
        activities=(activity("整改到位资金", date(2025, 10, 1), amount="12.00", unit="万元"),),
    )
    still_open = row(amounts_involved=(AmountInvolved("涉及金额", Decimal("5.25"), "万元"),))
    result = figures([recovered_only, over_rectified, still_open])
    assert result.amount_recovered == Decimal("15820700.00")
    assert result.amount_rectified == Decimal("120000.00")
    # 10 万元 rectified by 12: nothing left there, and the 2 over cannot hide the 5.25 still open elsewhere
    assert result.amount_remaining == Decimal("52500.00")
    assert result.in_wan.remaining == Decimal("5.25") and result.in_wan.recovered == Decimal("1582.07")


def test_the_rounds_catalogue_decides_what_counts_as_which_money_and_money_has_two_decimals() -> None:
    finding = row(
        amounts_involved=(AmountInvolved("涉及金额", Decimal("1234.56"), "元"),),
        activities=(
            activity("收回补贴", date(2025, 10, 1), amount="1000", unit="元"),
            activity("挽回损失", date(2025, 10, 2), amount="0.5", unit="万元"),
            activity("培训", date(2025, 10, 3)),
        ),
    )
    uncatalogued = figures([finding])
    assert (uncatalogued.amount_rectified, uncatalogued.amount_retrieved) == (Decimal("0.00"), Decimal("5000.00"))
    catalogue = (ActivityKind("收回补贴", MoneyRole.RECTIFIED),)
    result = figures([finding], catalogues={ROUND: catalogue})
    assert (result.amount_involved, result.amount_rectified, result.amount_remaining) == (
        Decimal("1234.56"),
        Decimal("1000.00"),
        Decimal("234.56"),
    )
    assert [str(x) for x in (result.in_wan.involved, result.in_wan.rectified, result.in_wan.remaining)] == [
        "0.12",
        "0.10",
        "0.02",
    ]
    empty = figures([])
    assert [str(getattr(empty, f)) for f in ("amount_involved", "amount_rectified", "amount_remaining")] == ["0.00"] * 3
    assert str(empty.in_wan.involved) == "0.00"
