"""What rectification leaves behind, from ledger rows: standing rules period by period, relapse checks due, and rates.

- **Standing rules (长效机制).** A rule obliges each unit it binds (every unit of its round, or its one unit);
  each obligation's periods are worked out (rectify.domain.rule) from the live activities of the rule's kind on
  that unit's findings (of the rule's round, for a round's rule) that the audience may see, as known at the
  view's position, with a business day for "today" (a cut, or today).
- **回头看.** A closed finding with no relapse check since its close-out awaits one; it falls due the round's
  set number of months (6 by default) after the close-out: DUE within DUE_WITHIN_DAYS of that, OVERDUE after.
- **Rates.** The relapse rate (findings found relapsed of those checked) per department, category or round; the
  repeat rate (屡查屡犯: findings linked to an earlier round's finding of the same unit, of all findings) per unit
  and for the district.

Every function takes the rows the audience may see (and, for repeats, tells links to findings the audience may
not see apart): nothing here decides who sees what, rectify.access does.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from uuid import UUID

from rectify.domain.round import DEFAULT_RELAPSE_CHECK_MONTHS, Round
from rectify.domain.rule import PeriodStatus, RulePeriodResult, StandingRule, add_months
from rectify.domain.values import Activity
from rectify.projections.ledger import LedgerRow

#: A relapse check is listed as due this many days before its date.
DUE_WITHIN_DAYS = 30
HUNDREDTH = Decimal("0.01")


def rate(part: int, whole: int) -> Decimal | None:
    """A percentage rounded half-up to two decimals; None of nothing."""
    if whole == 0:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(HUNDREDTH, rounding=ROUND_HALF_UP)


# -- standing rules ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Obligation:
    """One unit's standing under one rule: its periods as of a day."""

    rule: StandingRule
    unit_id: UUID
    periods: tuple[RulePeriodResult, ...]

    def count(self, status: PeriodStatus) -> int:
        return sum(p.status is status for p in self.periods)


def bound_units(rule: StandingRule, rounds: Mapping[UUID, Round]) -> tuple[UUID, ...]:
    if rule.unit_id is not None:
        return (rule.unit_id,)
    round_ = rounds.get(rule.round_id) if rule.round_id is not None else None
    return round_.unit_ids if round_ is not None else ()


def obligations(
    rules: Iterable[StandingRule],
    rounds: Mapping[UUID, Round],
    rows: Sequence[LedgerRow],
    today: date,
    *,
    round_id: UUID | None = None,
    unit_id: UUID | None = None,
) -> list[Obligation]:
    """Each (rule, unit) obligation in scope (a round's rules, a unit's, or all), from the rows given."""
    found = []
    for rule in rules:
        if round_id is not None and rule.round_id != round_id:
            continue
        for unit in bound_units(rule, rounds):
            if unit_id is not None and unit != unit_id:
                continue
            activities = activities_for(rule, unit, rows)
            found.append(Obligation(rule, unit, tuple(rule.periods(activities, today))))
    return sorted(found, key=lambda o: (o.rule.starts_on, o.rule.title, str(o.rule.id), str(o.unit_id)))


def activities_for(rule: StandingRule, unit_id: UUID, rows: Iterable[LedgerRow]) -> list[Activity]:
    return [
        activity
        for row in rows
        if rule.binds(row.round_id, unit_id) and row.unit_id == unit_id
        for activity in row.live_activities
    ]


# -- 回头看 -----------------------------------------------------------------------------------------


class CheckState(enum.Enum):
    OVERDUE = "OVERDUE"  # its date has passed
    DUE = "DUE"  # its date is within DUE_WITHIN_DAYS
    LATER = "LATER"


@dataclass(frozen=True)
class PendingCheck:
    """A closed finding awaiting its relapse check (回头看)."""

    row: LedgerRow
    closed_on: date
    due_on: date
    state: CheckState


def months_after_close(rounds: Mapping[UUID, Round], round_id: UUID) -> int:
    round_ = rounds.get(round_id)
    return round_.relapse_check_months if round_ is not None else DEFAULT_RELAPSE_CHECK_MONTHS


def pending_checks(rows: Iterable[LedgerRow], rounds: Mapping[UUID, Round], today: date) -> list[PendingCheck]:
    """Closed findings awaiting a relapse check, soonest due first."""
    pending = []
    for row in rows:
        if not row.awaiting_relapse_check or row.close_out is None:
            continue
        closed_on = row.close_out.occurred_on
        due_on = add_months(closed_on, months_after_close(rounds, row.round_id))
        if due_on < today:
            state = CheckState.OVERDUE
        elif due_on <= today + timedelta(days=DUE_WITHIN_DAYS):
            state = CheckState.DUE
        else:
            state = CheckState.LATER
        pending.append(PendingCheck(row, closed_on, due_on, state))
    return sorted(pending, key=lambda c: (c.due_on, c.row.place, str(c.row.finding_id)))


# -- rates ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """A rate for one group: e.g. relapsed of checked in a department, or repeats of findings of a unit."""

    key: str
    label: str
    part: int
    whole: int

    @property
    def rate(self) -> Decimal | None:
        return rate(self.part, self.whole)


def grouped(
    rows: Iterable[LedgerRow],
    key: Callable[[LedgerRow], tuple[str, str]],
    counts: Callable[[LedgerRow], tuple[bool, bool]],
) -> list[Rate]:
    """Per group (key → (key, label)): how many rows count for the part, of how many count for the whole."""
    parts: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        in_part, in_whole = counts(row)
        if not in_whole:
            continue
        tally = parts.setdefault(key(row), [0, 0])
        tally[0] += in_part
        tally[1] += 1
    return [Rate(k, label, part, whole) for (k, label), (part, whole) in sorted(parts.items())]


def relapse_counts(row: LedgerRow) -> tuple[bool, bool]:
    """(found relapsed, checked)."""
    return row.relapsed, bool(row.relapse_checks)


def repeat_counts(sees_earlier: Callable[[LedgerRow], bool]) -> Callable[[LedgerRow], tuple[bool, bool]]:
    """(a repeat the audience may know of, a finding)."""
    return lambda row: (row.repeat_of is not None and sees_earlier(row), True)


def top_category(rounds: Mapping[UUID, Round]) -> Callable[[LedgerRow], tuple[str, str]]:
    def key(row: LedgerRow) -> tuple[str, str]:
        round_ = rounds.get(row.round_id)
        top = row.category[:1]
        titles = {c.path: c.title for c in round_.categories} if round_ is not None else {}
        return f"{row.round_id}/{'.'.join(map(str, top))}", titles.get(top, ".".join(map(str, top)))

    return key


def by_round(rounds: Mapping[UUID, Round]) -> Callable[[LedgerRow], tuple[str, str]]:
    def key(row: LedgerRow) -> tuple[str, str]:
        round_ = rounds.get(row.round_id)
        label = (round_.title or round_.team_name) if round_ is not None else str(row.round_id)
        return str(row.round_id), label

    return key


def by_department(row: LedgerRow) -> tuple[str, str]:
    department = row.department or "（未分工）"
    return department, department


def by_unit(names: Mapping[UUID, str]) -> Callable[[LedgerRow], tuple[str, str]]:
    return lambda row: (str(row.unit_id), names.get(row.unit_id, str(row.unit_id)))
