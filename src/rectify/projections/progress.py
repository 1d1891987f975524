"""Progress figures for a round, a unit, a category, a department or the district, from ledger rows."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from uuid import UUID

from rectify.access import Actor, may_see_finding, may_see_repeat
from rectify.domain.round import Round
from rectify.domain.rule import PeriodStatus, StandingRule
from rectify.domain.values import Activity, ActivityKind
from rectify.projections.aftercare import CheckState, obligations, pending_checks
from rectify.projections.ledger import (
    ActivityFigure,
    LedgerRow,
    LightThresholds,
    Money,
    activity_figures,
    light,
)

HUNDREDTH = Decimal("0.01")


@dataclass(frozen=True)
class Scope:
    """Which findings a figure covers; every given filter must hold (none given: the district)."""

    round_id: UUID | None = None
    unit_id: UUID | None = None
    category: tuple[int, ...] | None = None  # a category and everything under it
    department: str | None = None

    def matches(self, row: LedgerRow) -> bool:
        return (
            (self.round_id is None or row.round_id == self.round_id)
            and (self.unit_id is None or row.unit_id == self.unit_id)
            and (self.category is None or row.place[: len(self.category)] == self.category)
            and (self.department is None or row.department == self.department)
        )


def percentage(part: int, whole: int) -> Decimal | None:
    """An exact percentage rounded half-up to two decimals: 688 of 697 → 98.71."""
    if whole == 0:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(HUNDREDTH, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class UnitActivities:
    unit_id: UUID
    figures: tuple[ActivityFigure, ...]


@dataclass(frozen=True)
class Progress:
    position: int
    today: date
    cut: date | None
    total: int
    completed: int
    long_term: int
    in_progress: int
    not_started: int
    partly: int  # 部分整改: its own count, in none of the others
    completion_rate: Decimal | None
    overdue: int
    green: int
    yellow: int
    red: int
    undisclosed: int | None  # None where counting would place what is withheld (rectify.access)
    extensions: int
    relapse_checked: int
    relapsed: int
    relapse_rate: Decimal | None
    amount_involved: Decimal  # the amounts in 元, each with two decimals
    amount_rectified: Decimal
    amount_remaining: Decimal
    activities: tuple[ActivityFigure, ...]
    activities_by_unit: tuple[UnitActivities, ...]
    amount_recovered: Decimal = Decimal("0.00")
    amount_retrieved: Decimal = Decimal("0.00")
    in_wan: Money = Money()  # the same money figures in 万元, two decimals each
    # 长效机制: periods of the standing rules in scope (none for a category or department), per unit bound
    rule_periods_met: int = 0
    rule_periods_missed: int = 0
    rule_periods_running: int = 0
    # 回头看: closed findings whose relapse check is overdue, or due within 30 days
    relapse_checks_overdue: int = 0
    relapse_checks_due: int = 0
    # 屡查屡犯: findings linked as the same problem as an earlier round's finding (that the audience may see)
    repeats: int = 0
    repeat_rate: Decimal | None = None


def progress(
    rows: Sequence[LedgerRow],
    *,
    scope: Scope,
    audience: Actor,
    today: date,
    position: int,
    cut: date | None = None,
    thresholds: LightThresholds = LightThresholds(),
    catalogues: Mapping[UUID, tuple[ActivityKind, ...]] | None = None,
    rules: Sequence[StandingRule] = (),
    rounds: Mapping[UUID, Round] | None = None,
) -> Progress:
    """The figures of the rows in scope that the audience may see; hidden ones are only counted.
    `catalogues`: each round's catalogue of activity kinds, which says what counts as which money;
    `rules` and `rounds`: the standing rules and rounds at the same position (for rules and relapse checks)."""
    in_scope = [r for r in rows if scope.matches(r)]
    shown = [r for r in in_scope if may_see_finding(audience, r)]
    live_by_unit: dict[UUID, list[Activity]] = defaultdict(list)
    for row in shown:
        live_by_unit[row.unit_id].extend(
            a for a in row.activities if not a.retracted and (cut is None or a.occurred_on <= cut)
        )
    live = [a for activities in live_by_unit.values() for a in activities]
    lights = [light(r, today, thresholds) for r in shown]
    buckets = Counter(r.ledger_status.bucket for r in shown)
    completed = buckets["completed"]
    checked = [r for r in shown if r.relapse_checks]
    relapsed = sum(r.relapsed for r in checked)
    catalogue = catalogues or {}
    money = sum((r.money(catalogue.get(r.round_id, ()), cut) for r in shown), Money()).rounded()
    known_rounds = rounds or {}
    standing = (
        obligations(rules, known_rounds, shown, cut or today, round_id=scope.round_id, unit_id=scope.unit_id)
        if scope.category is None and scope.department is None
        else []
    )
    checks = Counter(c.state for c in pending_checks(shown, known_rounds, today))
    repeats = sum(
        r.repeat_of is not None and may_see_repeat(audience, r, r.repeat_of.earlier_disclosure) for r in shown
    )
    return Progress(
        position=position,
        today=today,
        cut=cut,
        total=len(shown),
        completed=completed,
        long_term=buckets["long_term"],
        in_progress=buckets["in_progress"],
        not_started=buckets["not_started"],
        partly=buckets["partly"],
        completion_rate=percentage(completed, len(shown)),
        overdue=sum(r.is_overdue(today) for r in shown),
        green=lights.count("GREEN"),
        yellow=lights.count("YELLOW"),
        red=lights.count("RED"),
        undisclosed=len(in_scope) - len(shown),
        extensions=sum(len(r.extensions) for r in shown),
        relapse_checked=len(checked),
        relapsed=relapsed,
        relapse_rate=percentage(relapsed, len(checked)),
        amount_involved=money.involved,
        amount_rectified=money.rectified,
        amount_remaining=money.remaining,
        amount_recovered=money.recovered,
        amount_retrieved=money.retrieved,
        in_wan=money.wan(),
        activities=activity_figures(live),
        activities_by_unit=tuple(
            UnitActivities(unit_id, activity_figures(activities))
            for unit_id, activities in sorted(live_by_unit.items(), key=lambda item: str(item[0]))
            if activities
        ),
        rule_periods_met=sum(o.count(PeriodStatus.MET) for o in standing),
        rule_periods_missed=sum(o.count(PeriodStatus.MISSED) for o in standing),
        rule_periods_running=sum(o.count(PeriodStatus.RUNNING) for o in standing),
        relapse_checks_overdue=checks[CheckState.OVERDUE],
        relapse_checks_due=checks[CheckState.DUE],
        repeats=repeats,
        repeat_rate=percentage(repeats, len(shown)),
    )
