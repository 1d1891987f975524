"""Standing rules (长效机制): periods met, missed or running across calendar boundaries, amended and retired."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from rectify.domain import IllegalTransition, InvalidInput
from rectify.domain.rule import PeriodStatus, StandingRule, add_months, rule_periods
from rectify.domain.values import Activity, RulePeriod, RuleTerms

WHO = "test:actor"
DRILL = "消防演练"


def drill(on: date, *, count: int = 1, retracted: bool = False, kind: str = DRILL) -> Activity:
    return Activity(uuid4(), kind, on, "次", "", count=count, retracted=retracted)


def half_yearly(start: date = date(2025, 3, 26), minimum: int = 1) -> StandingRule:
    return StandingRule.adopt(
        rule_id=uuid4(),
        round_id=uuid4(),
        unit_id=None,
        title="要求辖区物业企业每半年至少开展一次消防演练",
        terms=RuleTerms(start, DRILL, minimum, RulePeriod.HALF_YEAR),
        actor=WHO,
    )


def shown(rule: StandingRule, activities: list[Activity], today: date) -> list[tuple[str, int, str]]:
    return [(p.label, p.count, p.status.value) for p in rule.periods(activities, today)]


def test_half_years_are_calendar_halves_the_first_cut_to_begin_on_the_start_date() -> None:
    periods = half_yearly().periods([drill(date(2025, 6, 18)), drill(date(2025, 12, 16))], date(2026, 3, 12))
    assert [(p.starts_on, p.ends_on, p.label, p.status) for p in periods] == [
        (date(2025, 3, 26), date(2025, 6, 30), "2025年上半年", PeriodStatus.MET),
        (date(2025, 7, 1), date(2025, 12, 31), "2025年下半年", PeriodStatus.MET),
        (date(2026, 1, 1), date(2026, 6, 30), "2026年上半年", PeriodStatus.RUNNING),
    ]


def test_an_activity_counts_in_the_period_its_business_date_falls_in_at_either_side_of_a_boundary() -> None:
    rule = half_yearly()
    on_the_last_day = [drill(date(2025, 6, 30))]
    assert shown(rule, on_the_last_day, date(2026, 1, 1)) == [
        ("2025年上半年", 1, "MET"),
        ("2025年下半年", 0, "MISSED"),
        ("2026年上半年", 0, "RUNNING"),
    ]
    on_the_first_day = [drill(date(2025, 7, 1))]
    assert shown(rule, on_the_first_day, date(2026, 1, 1)) == [
        ("2025年上半年", 0, "MISSED"),
        ("2025年下半年", 1, "MET"),
        ("2026年上半年", 0, "RUNNING"),
    ]


def test_a_period_is_running_through_its_last_day_and_missed_the_day_after() -> None:
    rule = half_yearly(start=date(2025, 7, 1))
    assert shown(rule, [], date(2025, 12, 31)) == [("2025年下半年", 0, "RUNNING")]
    assert shown(rule, [], date(2026, 1, 1)) == [("2025年下半年", 0, "MISSED"), ("2026年上半年", 0, "RUNNING")]


def test_a_minimum_counts_the_records_counts_and_leaves_retracted_and_other_kinds_out() -> None:
    rule = half_yearly(start=date(2025, 1, 1), minimum=3)
    activities = [
        drill(date(2025, 2, 1), count=2),
        drill(date(2025, 3, 1), retracted=True),
        drill(date(2025, 4, 1), kind="培训"),
    ]
    assert shown(rule, activities, date(2025, 7, 2))[0] == ("2025年上半年", 2, "MISSED")
    assert shown(rule, [*activities, drill(date(2025, 5, 1))], date(2025, 7, 2))[0] == ("2025年上半年", 3, "MET")


def test_months_quarters_and_years_are_labelled_as_offices_write_them() -> None:
    def labels(period: RulePeriod) -> list[str]:
        terms = (RuleTerms(date(2025, 11, 20), DRILL, 1, period),)
        return [p.label for p in rule_periods(terms, None, [], date(2026, 2, 1))]

    assert labels(RulePeriod.MONTH) == ["2025年11月", "2025年12月", "2026年1月", "2026年2月"]
    assert labels(RulePeriod.QUARTER) == ["2025年第四季度", "2026年第一季度"]
    assert labels(RulePeriod.YEAR) == ["2025年", "2026年"]


def test_an_amendment_applies_from_its_date_and_a_period_it_cuts_short_unmet_is_ended_not_missed() -> None:
    rule = half_yearly(start=date(2025, 1, 1))
    rule.amend(RuleTerms(date(2025, 10, 1), DRILL, 1, RulePeriod.QUARTER), "改为每季度一次", actor=WHO)
    periods = shown(rule, [drill(date(2025, 3, 1)), drill(date(2025, 11, 5))], date(2026, 4, 2))
    assert periods == [
        ("2025年上半年", 1, "MET"),
        ("2025年下半年", 0, "ENDED"),  # Jul–Sep under the old terms, cut by the amendment
        ("2025年第四季度", 1, "MET"),
        ("2026年第一季度", 0, "MISSED"),
        ("2026年第二季度", 0, "RUNNING"),
    ]


def test_a_retired_rule_asks_nothing_from_its_retirement_on() -> None:
    rule = half_yearly(start=date(2025, 1, 1))
    rule.retire(date(2025, 10, 1), "机制已并入物业管理规约", actor=WHO)
    assert shown(rule, [], date(2026, 6, 1)) == [("2025年上半年", 0, "MISSED"), ("2025年下半年", 0, "ENDED")]
    with pytest.raises(IllegalTransition):
        rule.amend(RuleTerms(date(2025, 11, 1), DRILL, 2, RulePeriod.QUARTER), "太晚了", actor=WHO)


def test_a_rule_binds_a_round_or_a_unit_and_asks_for_at_least_one() -> None:
    with pytest.raises(InvalidInput, match="round_id"):
        StandingRule.adopt(
            rule_id=uuid4(), round_id=None, unit_id=None, title="x",
            terms=RuleTerms(date(2025, 1, 1), DRILL, 1, RulePeriod.YEAR), actor=WHO,
        )  # fmt: skip
    with pytest.raises(InvalidInput, match="minimum"):
        half_yearly(minimum=0)
    rule = half_yearly()
    with pytest.raises(InvalidInput, match="effective_from"):
        rule.amend(RuleTerms(date(2025, 1, 1), DRILL, 2, RulePeriod.YEAR), "早于开始", actor=WHO)


def test_a_relapse_check_falls_due_months_after_on_the_same_day_or_the_months_last() -> None:
    assert add_months(date(2025, 11, 30), 6) == date(2026, 5, 30)
    assert add_months(date(2025, 8, 31), 6) == date(2026, 2, 28)
    assert add_months(date(2025, 12, 15), 1) == date(2026, 1, 15)
