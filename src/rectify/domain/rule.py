"""Standing rules (长效机制): recurring obligations, adopted, amended and retired, checked period by period.

A rule binds a round (each of its units), a unit (all its findings, whatever the round), or one unit
within one round. Each period is met, missed or still running, worked out from the activities of the
rule's kind: periods are calendar months, quarters (Jan–Mar, …), half-years (Jan–Jun, Jul–Dec) or
years, the first one cut to begin on the rule's start date. An amendment applies from its date on:
the periods before it keep the terms they had, and a period cut short by an amendment or by the
rule's retirement without being met is ENDED, not missed (the obligation changed under it).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from uuid import UUID

from eventsourcing.domain import Aggregate

from rectify.domain.errors import IllegalTransition, InvalidInput
from rectify.domain.values import Activity, RulePeriod, RuleTerms


class PeriodStatus(enum.Enum):
    MET = "MET"
    MISSED = "MISSED"
    RUNNING = "RUNNING"  # not over yet, and not met yet
    ENDED = "ENDED"  # cut short by an amendment or the retirement before it was met: not counted as missed


@dataclass(frozen=True)
class RulePeriodResult:
    """One period of a rule as it stands on a day: what was asked, what was done."""

    starts_on: date
    ends_on: date  # the last day the period's terms apply (inclusive)
    label: str  # e.g. 2025年下半年
    activity_kind: str
    minimum: int
    count: int
    status: PeriodStatus


class StandingRule(Aggregate):
    """长效机制, e.g. 要求辖区物业企业每半年至少开展一次消防演练."""

    class Event(Aggregate.Event):
        actor: str

    class Adopted(Event, Aggregate.Created):
        round_id: UUID | None
        unit_id: UUID | None
        title: str
        terms: RuleTerms

        def apply(self, rule: StandingRule) -> None:
            rule.round_id = self.round_id
            rule.unit_id = self.unit_id
            rule.title = self.title
            rule.terms = (self.terms,)
            rule.retired_on = None
            rule.retirement_reason = ""

    class Amended(Event):
        terms: RuleTerms
        reason: str

        def apply(self, rule: StandingRule) -> None:
            kept = tuple(t for t in rule.terms if t.effective_from < self.terms.effective_from)
            rule.terms = (*kept, self.terms)

    class Retired(Event):
        occurred_on: date  # the first day the rule no longer applies
        reason: str

        def apply(self, rule: StandingRule) -> None:
            rule.retired_on = self.occurred_on
            rule.retirement_reason = self.reason

    def __init__(self) -> None:
        # State comes from the created event's apply(); see the attribute list below.
        pass

    round_id: UUID | None
    unit_id: UUID | None
    title: str
    terms: tuple[RuleTerms, ...]
    retired_on: date | None
    retirement_reason: str

    @classmethod
    def adopt(
        cls,
        *,
        rule_id: UUID,
        round_id: UUID | None,
        unit_id: UUID | None,
        title: str,
        terms: RuleTerms,
        actor: str,
    ) -> StandingRule:
        if round_id is None and unit_id is None:
            raise InvalidInput("round_id", "a standing rule binds a round, a unit, or a unit within a round")
        _check_terms(terms)
        return cls._create(
            cls.Adopted, id=rule_id, round_id=round_id, unit_id=unit_id, title=title, terms=terms, actor=actor
        )

    def amend(self, terms: RuleTerms, reason: str, *, actor: str) -> None:
        self._require_in_force()
        _check_terms(terms)
        first = self.terms[0].effective_from
        if terms.effective_from < first:
            raise InvalidInput("effective_from", f"must not be before the rule's start ({first.isoformat()})")
        if terms == self.current:
            raise InvalidInput("minimum", "the rule already asks exactly this")
        self.trigger_event(self.Amended, terms=terms, reason=reason, actor=actor)

    def retire(self, occurred_on: date, reason: str, *, actor: str) -> None:
        self._require_in_force()
        if occurred_on <= self.terms[0].effective_from:
            raise InvalidInput("occurred_on", f"must be after the rule's start ({self.terms[0].effective_from})")
        self.trigger_event(self.Retired, occurred_on=occurred_on, reason=reason, actor=actor)

    @property
    def current(self) -> RuleTerms:
        return self.terms[-1]

    @property
    def starts_on(self) -> date:
        return self.terms[0].effective_from

    def binds(self, round_id: UUID | None, unit_id: UUID) -> bool:
        """Whether the rule obliges this unit (in this round, for a round's rule)."""
        return (self.unit_id is None or self.unit_id == unit_id) and (
            self.round_id is None or self.round_id == round_id
        )

    def periods(self, activities: Iterable[Activity], today: date) -> list[RulePeriodResult]:
        return rule_periods(self.terms, self.retired_on, activities, today)

    def _require_in_force(self) -> None:
        if self.retired_on is not None:
            raise IllegalTransition("RETIRED", "the rule was retired; adopt a new one")


def _check_terms(terms: RuleTerms) -> None:
    if not terms.activity_kind.strip():
        raise InvalidInput("activity_kind", "must not be empty")
    if terms.minimum < 1:
        raise InvalidInput("minimum", f"must be at least 1, got {terms.minimum}")


# -- periods ----------------------------------------------------------------------------------------


def period_start(day: date, period: RulePeriod) -> date:
    """The first day of the calendar period holding `day`."""
    month = (day.month - 1) // period.months * period.months + 1
    return date(day.year, month, 1)


def next_period_start(start: date, period: RulePeriod) -> date:
    months = start.month - 1 + period.months
    return date(start.year + months // 12, months % 12 + 1, 1)


def period_label(start: date, period: RulePeriod) -> str:
    """2025年11月, 2025年第四季度, 2025年下半年, 2025年."""
    if period is RulePeriod.MONTH:
        return f"{start.year}年{start.month}月"
    if period is RulePeriod.QUARTER:
        return f"{start.year}年第{'一二三四'[(start.month - 1) // 3]}季度"
    if period is RulePeriod.HALF_YEAR:
        return f"{start.year}年{'上' if start.month <= 6 else '下'}半年"
    return f"{start.year}年"


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day where it is shorter: 2025-08-31 + 6 → 2026-02-28."""
    total = day.month - 1 + months
    year, month = day.year + total // 12, total % 12 + 1
    following = date(year + month // 12, month % 12 + 1, 1)
    return date(year, month, min(day.day, (following - timedelta(days=1)).day))


def rule_periods(
    terms: tuple[RuleTerms, ...], retired_on: date | None, activities: Iterable[Activity], today: date
) -> list[RulePeriodResult]:
    """Every period of a rule that has begun by `today`, with how many activities of the rule's kind fell in it by
    then (counted as figures count them: a record's count, retracted ones left out)."""
    live = [a for a in activities if not a.retracted and a.occurred_on <= today]
    results: list[RulePeriodResult] = []
    for index, term in enumerate(terms):
        following = terms[index + 1].effective_from if index + 1 < len(terms) else None
        stops = [d for d in (following, retired_on) if d is not None]
        last_day = min(stops) - timedelta(days=1) if stops else None
        start = period_start(term.effective_from, term.period)
        while start <= today and (last_day is None or start <= last_day):
            natural_end = next_period_start(start, term.period) - timedelta(days=1)
            begins = max(start, term.effective_from)
            ends = natural_end if last_day is None else min(natural_end, last_day)
            count = sum(a.count or 1 for a in live if a.kind == term.activity_kind and begins <= a.occurred_on <= ends)
            if count >= term.minimum:
                status = PeriodStatus.MET
            elif ends < natural_end and ends < today:
                status = PeriodStatus.ENDED
            elif natural_end < today:
                status = PeriodStatus.MISSED
            else:
                status = PeriodStatus.RUNNING
            label = period_label(start, term.period)
            results.append(RulePeriodResult(begins, ends, label, term.activity_kind, term.minimum, count, status))
            start = next_period_start(start, term.period)
    return results
