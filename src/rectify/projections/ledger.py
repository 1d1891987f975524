"""The ledger (整改台账): one row per finding, derived from the folded Finding; overdue and lights."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import Enum
from typing import NamedTuple
from uuid import UUID

from rectify.domain import Finding
from rectify.domain.values import (
    Activity,
    ActivityKind,
    AmountInvolved,
    Attachment,
    CloseOut,
    Deadline,
    DeadlineKind,
    Disclosure,
    Extension,
    FindingStatus,
    Measure,
    MoneyRole,
    RelapseCheck,
    RelapseOutcome,
    RepeatLink,
    Report,
    Verification,
    money_role,
)

S = FindingStatus

#: Rectified, or carried on as a long-term obligation: no longer racing a deadline.
DONE = frozenset({S.REPORTED, S.VERIFIED, S.CLOSED, S.LONG_TERM})

#: Amount units that are money, with their value in 元: amounts involved and recovered are compared in 元.
MONEY = {"元": Decimal(1), "万元": Decimal(10_000), "亿元": Decimal(100_000_000)}
CENT = Decimal("0.01")
WAN = MONEY["万元"]


class LedgerStatus(Enum):
    """整改状态 as offices write it in the ledger, derived from the lifecycle (and the 部分整改 flag).

    A finding with a responsibility and planned measures is 整改中 although no measure is done yet:
    the unit is at work on it. Only a finding with no responsibility, or no measure, is 未启动.
    """

    NOT_STARTED = "未启动"
    IN_PROGRESS = "整改中"
    PARTLY = "部分整改"
    RECTIFIED = "已完成"  # reported done, awaiting the acceptance check
    LONG_TERM = "长期坚持"
    VERIFIED = "已验收"
    CLOSED = "已销号"

    @property
    def bucket(self) -> str:
        """Which count of the progress figures it falls in."""
        return BUCKETS[self]


BUCKETS = {
    LedgerStatus.NOT_STARTED: "not_started",
    LedgerStatus.IN_PROGRESS: "in_progress",
    LedgerStatus.RECTIFIED: "in_progress",  # still to be accepted
    LedgerStatus.PARTLY: "partly",
    LedgerStatus.LONG_TERM: "long_term",
    LedgerStatus.VERIFIED: "completed",
    LedgerStatus.CLOSED: "completed",
}


def cents(value: Decimal) -> Decimal:
    """An amount with exactly two decimals, rounded half-up: 0 → 0.00, 12.345 → 12.35."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def in_wan(yuan: Decimal) -> Decimal:
    """An amount in 元 as 万元, with two decimals."""
    return cents(yuan / WAN)


@dataclass(frozen=True)
class Money:
    """Money figures in 元, kept apart as audits keep them: amounts involved, rectified funds (set
    against the amounts involved), recoveries and retrieved losses (each on its own).

    `remaining` is what is still to be rectified: per finding the amount involved less its rectified
    funds, never below zero, so funds rectified beyond one finding's amount cannot hide another's."""

    involved: Decimal = Decimal(0)
    rectified: Decimal = Decimal(0)
    recovered: Decimal = Decimal(0)
    retrieved: Decimal = Decimal(0)
    remaining: Decimal = Decimal(0)

    def __add__(self, other: Money) -> Money:
        return Money(*(getattr(self, f) + getattr(other, f) for f in MONEY_FIELDS))

    def rounded(self) -> Money:
        return Money(*(cents(getattr(self, f)) for f in MONEY_FIELDS))

    def wan(self) -> Money:
        """The same figures in 万元, two decimals each."""
        return Money(*(in_wan(getattr(self, f)) for f in MONEY_FIELDS))


MONEY_FIELDS = ("involved", "rectified", "recovered", "retrieved", "remaining")


class SeriesPoint(NamedTuple):
    """The running total of a kind of activity on a business date."""

    on: date
    total: Decimal


@dataclass(frozen=True)
class ActivityFigure:
    """Activities of one kind and unit: how many records, their total, and the running total by date."""

    kind: str
    unit: str
    records: int
    total: Decimal
    series: tuple[SeriesPoint, ...]


def activity_figures(activities: Iterable[Activity]) -> tuple[ActivityFigure, ...]:
    """Live activities grouped by kind and unit, with running totals by business date (the caller
    leaves out what it must: retracted activities, or those after a business-date cut)."""
    by_kind: dict[tuple[str, str], dict[date, tuple[int, Decimal]]] = defaultdict(dict)
    for activity in activities:
        days = by_kind[(activity.kind, activity.unit)]
        records, total = days.get(activity.occurred_on, (0, Decimal(0)))
        days[activity.occurred_on] = (records + 1, total + activity.quantity)
    figures = []
    for (kind, unit), days in sorted(by_kind.items()):
        running = Decimal(0)
        series = []
        for day in sorted(days):
            running += days[day][1]
            series.append(SeriesPoint(day, running))
        figures.append(ActivityFigure(kind, unit, sum(r for r, _ in days.values()), running, tuple(series)))
    return tuple(figures)


def money_of(involved: Decimal, activities: Iterable[Activity], catalogue: tuple[ActivityKind, ...] = ()) -> Money:
    """The money figures of one finding (in 元) from its amount involved and the live activities
    given, each kind counted as the round's catalogue (or the default) says."""
    sums = {role: Decimal(0) for role in MoneyRole}
    for activity in activities:
        if activity.amount is not None and activity.unit in MONEY:
            sums[money_role(catalogue, activity.kind)] += money(activity.amount, activity.unit)
    rectified = sums[MoneyRole.RECTIFIED]
    return Money(
        involved=involved,
        rectified=rectified,
        recovered=sums[MoneyRole.RECOVERED],
        retrieved=sums[MoneyRole.RETRIEVED],
        remaining=max(involved - rectified, Decimal(0)),
    )


@dataclass(frozen=True)
class LedgerRow:
    finding_id: UUID
    round_id: UUID
    unit_id: UUID
    code: str
    category: tuple[int, ...]
    ordinal: int
    heading: str
    problem: str
    disclosure: Disclosure
    withholding_reason: str
    amounts_involved: tuple[AmountInvolved, ...]
    department: str | None
    leader: str | None
    person: str | None
    deadline: Deadline | None
    original_deadline: Deadline | None
    extensions: tuple[Extension, ...]
    status: FindingStatus
    measures: tuple[Measure, ...]
    #: retracted ones too, marked: figures skip them. The finding's own sequence (Activities), shared, not copied:
    #: rows of one finding at successive positions hold the same chunks.
    activities: Sequence[Activity]
    last_verification: Verification | None
    close_out: CloseOut | None
    relapse_checks: tuple[RelapseCheck, ...]
    reopenings: int
    version: int
    position: int
    partly: Report | None = None
    report: Report | None = None
    long_term: Report | None = None
    progress_text: str = ""
    remark: str = ""
    evidence: tuple[Attachment, ...] = ()  # withdrawn ones too, marked
    repeat_of: RepeatLink | None = None
    awaiting_relapse_check: bool = False  # closed, and no relapse check (回头看) since the close-out

    @property
    def place(self) -> tuple[int, ...]:
        return (*self.category, self.ordinal)

    @property
    def is_public(self) -> bool:
        return self.disclosure is Disclosure.PUBLIC

    @property
    def due_on(self) -> date | None:
        return self.deadline.due_on if self.deadline else None

    @property
    def amount_involved(self) -> Decimal:
        """The finding's money amounts, in 元."""
        return sum((money(a.amount, a.unit) for a in self.amounts_involved), Decimal(0))

    @property
    def live_activities(self) -> tuple[Activity, ...]:
        return tuple(a for a in self.activities if not a.retracted)

    @property
    def activity_totals(self) -> tuple[ActivityFigure, ...]:
        return activity_figures(self.live_activities)

    def money(self, catalogue: tuple[ActivityKind, ...] = (), cut: date | None = None) -> Money:
        """Its money figures in 元, by its round's catalogue of activity kinds; with `cut`, only
        activities up to that business date count."""
        live = (a for a in self.live_activities if cut is None or a.occurred_on <= cut)
        return money_of(self.amount_involved, live, catalogue)

    @property
    def amount_rectified(self) -> Decimal:
        """Rectified funds (整改到位资金) in 元, by the default catalogue of activity kinds
        (progress figures use the round's own catalogue)."""
        return self.money().rectified

    @property
    def ledger_status(self) -> LedgerStatus:
        status = self.status
        if status is S.CLOSED:
            return LedgerStatus.CLOSED
        if status is S.VERIFIED:
            return LedgerStatus.VERIFIED
        if status is S.LONG_TERM:
            return LedgerStatus.LONG_TERM
        if status is S.REPORTED:
            return LedgerStatus.RECTIFIED
        if status is S.IN_PROGRESS:
            return LedgerStatus.PARTLY if self.partly is not None else LedgerStatus.IN_PROGRESS
        if status is S.ASSIGNED and self.measures:
            return LedgerStatus.IN_PROGRESS
        return LedgerStatus.NOT_STARTED

    @property
    def relapsed(self) -> bool:
        return any(c.outcome is RelapseOutcome.RELAPSED for c in self.relapse_checks)

    def days_left(self, today: date) -> int | None:
        due = self.due_on
        return None if due is None else (due - today).days

    def is_overdue(self, today: date) -> bool:
        """Derived, never stored: the deadline passed and the finding is not yet rectified."""
        due = self.due_on
        return due is not None and due < today and self.status not in DONE


class Light(Enum):
    """红黄绿灯 of a finding."""

    GREEN = "GREEN"
    YELLOW = "YELLOW"
    RED = "RED"


@dataclass(frozen=True)
class LightThresholds:
    """红黄绿灯: yellow when `yellow_within_days` or fewer are left; red when overdue."""

    yellow_within_days: int = 10


def light(row: LedgerRow, today: date, thresholds: LightThresholds = LightThresholds()) -> str:
    if row.status in DONE:
        return "GREEN"
    if row.is_overdue(today):
        return "RED"
    left = row.days_left(today)
    if left is not None and left <= thresholds.yellow_within_days:
        return "YELLOW"
    return "GREEN"


def money(amount: Decimal, unit: str) -> Decimal:
    """An amount in 元, or 0 for a unit that is not money (次, 人, 项…)."""
    return amount * MONEY[unit] if unit in MONEY else Decimal(0)


def ledger_row(finding: Finding, position: int, *, with_activities: bool = True) -> LedgerRow:
    """The finding's row; the views' store asks for it without activities, which it keeps in chunks of
    their own so that recording one does not rewrite the row (reading the row brings them back)."""
    responsibility = finding.responsibility
    return LedgerRow(
        finding_id=finding.id,
        round_id=finding.round_id,
        unit_id=finding.unit_id,
        code=finding.code,
        category=finding.category,
        ordinal=finding.ordinal,
        heading=finding.heading,
        problem=finding.problem,
        disclosure=finding.disclosure,
        withholding_reason=finding.withholding_reason,
        amounts_involved=finding.amounts,
        department=responsibility.department if responsibility else None,
        leader=responsibility.leader if responsibility else None,
        person=responsibility.person if responsibility else None,
        deadline=responsibility.deadline if responsibility else None,
        original_deadline=finding.original_deadline,
        extensions=finding.extensions,
        status=finding.status,
        measures=finding.measures,
        activities=finding.activities if with_activities else (),
        last_verification=finding.verifications[-1] if finding.verifications else None,
        close_out=finding.close_outs[-1] if finding.close_outs else None,
        relapse_checks=finding.relapse_checks,
        reopenings=len(finding.reopenings),
        version=finding.version,
        position=position,
        partly=finding.partly,
        report=finding.report,
        long_term=finding.long_term,
        progress_text=finding.progress_text,
        remark=finding.remark,
        evidence=finding.evidence,
        repeat_of=finding.repeat_of,
        awaiting_relapse_check=finding.status is S.CLOSED and not finding.checked_since_close,
    )


def deadline_label(deadline: Deadline | None) -> str:
    if deadline is None:
        return ""
    if deadline.kind is DeadlineKind.IMMEDIATE:
        return "立行立改" + (f"（{deadline.due_on.isoformat()}前）" if deadline.due_on else "")
    if deadline.kind is DeadlineKind.LONG_TERM:
        return "长期坚持"
    assert deadline.due_on is not None
    return deadline.due_on.isoformat()
