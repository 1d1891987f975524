"""GraphQL types: thin views of the read models, with what each audience may see."""

from __future__ import annotations

import base64
import binascii
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from rectify import domain
from rectify.access import Role
from rectify.application import Receipt
from rectify.domain import figures
from rectify.domain.values import (
    DeadlineKind,
    Disclosure,
    Edition,
    FindingStatus,
    NarrativeSection,
    RelapseOutcome,
)
from rectify.eventlog import LoggedEvent as LoggedEventRecord
from rectify.notice.service import may_read_notice
from rectify.projections import ledger, progress
from rectify.projections.store import place_key
from rectify.projections.views import At

strawberry.enum(FindingStatus, description="Where a finding stands in its lifecycle.")
strawberry.enum(Disclosure, description="PUBLIC, or INTERNAL (不宜公开): never shown to the public.")
strawberry.enum(DeadlineKind, description="完成时限: a date, 立行立改 (IMMEDIATE) or 长期坚持 (LONG_TERM).")
strawberry.enum(RelapseOutcome, description="回头看: HOLDING, or RELAPSED (which reopens the finding).")
strawberry.enum(NarrativeSection, description="The notice's free-text sections written by the unit.")
strawberry.enum(Role, description="Who a token stands for.")
strawberry.enum(Edition, description="社会通报 (PUBLIC, internal items left out) or 党内通报 (INTERNAL).")


@strawberry.enum(description="红黄绿灯: RED overdue, YELLOW close to the deadline, GREEN otherwise or done.")
class Light(Enum):
    GREEN = "GREEN"
    YELLOW = "YELLOW"
    RED = "RED"


# -- inputs ---------------------------------------------------------------------------------


@strawberry.input(
    description="A past point of the log: a position, or a record time (the last position at or before it)."
)
class AsOf:
    position: int | None = None
    recorded_at: datetime | None = None

    def to_at(self) -> At:
        if (self.position is None) == (self.recorded_at is None):
            raise domain.InvalidInput("asOf", "give either a position or a recordedAt")
        return At(position=self.position, recorded_at=self.recorded_at)


def at_of(as_of: AsOf | None) -> At | None:
    return as_of.to_at() if as_of is not None else None


@strawberry.input(description="Which findings a figure or a list covers; every given filter must hold.")
class ScopeInput:
    round_id: strawberry.ID | None = None
    unit_id: strawberry.ID | None = None
    category: list[int] | None = None
    department: str | None = None


@strawberry.input
class FindingFilter:
    unit_id: strawberry.ID | None = None
    status: list[FindingStatus] | None = None
    category: list[int] | None = None
    department: str | None = None
    overdue: bool | None = None
    light: Light | None = None
    disclosure: Disclosure | None = None


# -- values ---------------------------------------------------------------------------------


@strawberry.type
class Deadline:
    kind: DeadlineKind
    due_on: date | None
    label: str = strawberry.field(description="e.g. 2025-11-12, 立行立改, 长期坚持")

    @staticmethod
    def of(deadline: Any) -> Deadline | None:
        if deadline is None:
            return None
        return Deadline(kind=deadline.kind, due_on=deadline.due_on, label=ledger.deadline_label(deadline))


@strawberry.type
class Measure:
    id: strawberry.ID
    ordinal: int
    text: str = strawberry.field(
        description="As written, figures as placeholders such as {count:大扫除:to=2025-11-12}."
    )
    filled_text: str = strawberry.field(description="With each figure filled from the recorded activities.")
    completed_on: date | None


@strawberry.type
class ActivityTotal:
    kind: str
    unit: str
    records: int
    quantity: Decimal


@strawberry.type
class AmountInvolved:
    label: str
    amount: Decimal
    unit: str


@strawberry.type
class Extension:
    previous: Deadline
    new: Deadline
    reason: str
    actor: str


@strawberry.type
class Verification:
    passed: bool
    verified_by: str
    occurred_on: date
    comment: str


@strawberry.type
class CloseOut:
    occurred_on: date
    comment: str


@strawberry.type
class RelapseCheck:
    outcome: RelapseOutcome
    checked_by: str
    occurred_on: date
    comment: str


@strawberry.type
class LoggedEvent:
    position: int
    type: str
    aggregate_id: strawberry.ID
    version: int
    recorded_at: datetime
    actor: str
    business_date: date | None
    payload: JSON

    @staticmethod
    def of(record: LoggedEventRecord) -> LoggedEvent:
        return LoggedEvent(
            position=record.position,
            type=record.type,
            aggregate_id=strawberry.ID(str(record.aggregate_id)),
            version=record.version,
            recorded_at=record.recorded_at,
            actor=record.actor,
            business_date=record.business_date,
            payload=JSON(record.payload),
        )


@strawberry.type
class EventPage:
    events: list[LoggedEvent]
    next_cursor: int = strawberry.field(description="Pass as `after` for the next page.")
    head: int


# -- findings -------------------------------------------------------------------------------


@strawberry.type(description="One finding's ledger line (整改台账). Fields marked restricted are null for the public.")
class Finding:
    row: strawberry.Private[ledger.LedgerRow]
    full: strawberry.Private[bool]  # the caller may see everything of this finding
    today: strawberry.Private[date]
    thresholds: strawberry.Private[ledger.LightThresholds]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.finding_id))

    @strawberry.field
    def round_id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.round_id))

    @strawberry.field
    def unit_id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.unit_id))

    @strawberry.field
    def code(self) -> str:
        return self.row.code

    @strawberry.field(description="Its place in the category tree, e.g. [2, 4, 1] for (二) 4. (1).")
    def place(self) -> list[int]:
        return list(self.row.place)

    @strawberry.field
    def heading(self) -> str:
        return self.row.heading

    @strawberry.field
    def status(self) -> FindingStatus:
        return self.row.status

    @strawberry.field
    def disclosure(self) -> Disclosure:
        return self.row.disclosure

    @strawberry.field
    def deadline(self) -> Deadline | None:
        return Deadline.of(self.row.deadline)

    @strawberry.field
    def measures(self) -> list[Measure]:
        return [
            Measure(
                id=strawberry.ID(str(m.measure_id)),
                ordinal=m.ordinal,
                text=m.text,
                filled_text=figures.filled(m.text, self.row.activities),
                completed_on=m.completed_on,
            )
            for m in self.row.measures
        ]

    @strawberry.field(description="Derived, never stored: the deadline passed and it is not rectified.")
    def overdue(self) -> bool:
        return self.row.is_overdue(self.today)

    @strawberry.field
    def days_left(self) -> int | None:
        return self.row.days_left(self.today)

    @strawberry.field
    def light(self) -> Light:
        return Light(ledger.light(self.row, self.today, self.thresholds))

    @strawberry.field(description="The log position of its last event.")
    def position(self) -> int:
        return self.row.position

    # restricted ------------------------------------------------------------------------------

    @strawberry.field(description="Restricted. The problem as found (问题表现).")
    def problem(self) -> str | None:
        return self.row.problem if self.full else None

    @strawberry.field(description="Restricted.")
    def withholding_reason(self) -> str | None:
        return self.row.withholding_reason if self.full else None

    @strawberry.field(description="Restricted.")
    def department(self) -> str | None:
        return self.row.department if self.full else None

    @strawberry.field(description="Restricted.")
    def leader(self) -> str | None:
        return self.row.leader if self.full else None

    @strawberry.field(description="Restricted.")
    def person(self) -> str | None:
        return self.row.person if self.full else None

    @strawberry.field(description="Restricted. The deadline first assigned; extensions keep it visible.")
    def original_deadline(self) -> Deadline | None:
        return Deadline.of(self.row.original_deadline) if self.full else None

    @strawberry.field(description="Restricted.")
    def extensions(self) -> list[Extension] | None:
        if not self.full:
            return None
        return [
            Extension(previous=Deadline.of(e.previous), new=Deadline.of(e.new), reason=e.reason, actor=e.actor)  # type: ignore[arg-type] # an extension's deadlines are never None, and Deadline.of gives None only for None
            for e in self.row.extensions
        ]

    @strawberry.field(description="Restricted. Live activities per kind and unit.")
    def activity_totals(self) -> list[ActivityTotal] | None:
        if not self.full:
            return None
        return [
            ActivityTotal(kind=t.kind, unit=t.unit, records=t.records, quantity=t.total)
            for t in self.row.activity_totals
        ]

    @strawberry.field(description="Restricted.")
    def amounts_involved(self) -> list[AmountInvolved] | None:
        if not self.full:
            return None
        return [AmountInvolved(label=a.label, amount=a.amount, unit=a.unit) for a in self.row.amounts_involved]

    @strawberry.field(description="Restricted. Money rectified or recovered, in 元.")
    def amount_rectified(self) -> Decimal | None:
        return self.row.amount_rectified if self.full else None

    @strawberry.field(description="Restricted.")
    def last_verification(self) -> Verification | None:
        v = self.row.last_verification
        if not self.full or v is None:
            return None
        return Verification(passed=v.passed, verified_by=v.verified_by, occurred_on=v.occurred_on, comment=v.comment)

    @strawberry.field(description="Restricted.")
    def close_out(self) -> CloseOut | None:
        c = self.row.close_out
        return CloseOut(occurred_on=c.occurred_on, comment=c.comment) if self.full and c else None

    @strawberry.field(description="Restricted.")
    def relapse_checks(self) -> list[RelapseCheck] | None:
        if not self.full:
            return None
        return [
            RelapseCheck(outcome=c.outcome, checked_by=c.checked_by, occurred_on=c.occurred_on, comment=c.comment)
            for c in self.row.relapse_checks
        ]

    @strawberry.field(description="Restricted. Every event of this finding, oldest first.")
    async def history(self, info: strawberry.Info) -> list[LoggedEvent] | None:
        if not self.full:
            return None
        from rectify.graphql.resolvers import finding_history

        return await finding_history(info, self.row.finding_id, self.row.version)


@strawberry.type
class FindingPage:
    items: list[Finding]
    total: int = strawberry.field(description="Findings matching, over all pages (visible to the caller).")
    next_cursor: str | None
    position: int = strawberry.field(description="The log position the page was read at.")


def cursor_of(row: ledger.LedgerRow) -> str:
    return base64.urlsafe_b64encode(f"{place_key(row.place)}|{row.finding_id}".encode()).decode()


def after_cursor(cursor: str) -> tuple[str, str]:
    try:
        key, _, identifier = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise domain.InvalidInput("after", "is not a cursor this API gave out") from None
    if not identifier:
        raise domain.InvalidInput("after", "is not a cursor this API gave out")
    return key, identifier


# -- progress -------------------------------------------------------------------------------


@strawberry.type
class SeriesPoint:
    on: date
    total: Decimal


@strawberry.type
class ActivityFigure:
    kind: str
    unit: str
    records: int
    total: Decimal
    series: list[SeriesPoint] = strawberry.field(description="The running total by business date.")


@strawberry.type
class UnitActivities:
    unit_id: strawberry.ID
    figures: list[ActivityFigure]


def _figures(items: Any) -> list[ActivityFigure]:
    return [
        ActivityFigure(
            kind=f.kind,
            unit=f.unit,
            records=f.records,
            total=f.total,
            series=[SeriesPoint(on=d, total=t) for d, t in f.series],
        )
        for f in items
    ]


@strawberry.type(description="Progress figures; the public sees public findings only, and how many are withheld.")
class Progress:
    position: int
    today: date
    cut: date | None = strawberry.field(description="Activities counted up to this business date, if given.")
    total: int
    completed: int
    long_term: int
    in_progress: int
    not_started: int
    completion_rate: Decimal | None = strawberry.field(description="完成率 in percent, rounded half-up to 0.01.")
    overdue: int
    green: int
    yellow: int
    red: int
    undisclosed: int
    extensions: int
    relapse_checked: int
    relapsed: int
    relapse_rate: Decimal | None
    amount_involved: Decimal = strawberry.field(description="In 元.")
    amount_rectified: Decimal = strawberry.field(description="In 元.")
    amount_remaining: Decimal = strawberry.field(description="In 元.")
    activities: list[ActivityFigure]
    activities_by_unit: list[UnitActivities]

    @staticmethod
    def of(p: progress.Progress) -> Progress:
        fields = {k: getattr(p, k) for k in Progress.__annotations__ if k not in ("activities", "activities_by_unit")}
        return Progress(
            **fields,
            activities=_figures(p.activities),
            activities_by_unit=[
                UnitActivities(unit_id=strawberry.ID(str(u.unit_id)), figures=_figures(u.figures))
                for u in p.activities_by_unit
            ],
        )


# -- units and rounds -----------------------------------------------------------------------


@strawberry.type
class Contact:
    address: str
    phone: str
    postcode: str
    email: str
    postal_address: str
    area_code: str


@strawberry.type
class Unit:
    id: strawberry.ID
    name: str
    short_name: str
    contact: Contact

    @staticmethod
    def of(unit: domain.Unit) -> Unit:
        c = unit.contact
        return Unit(
            id=strawberry.ID(str(unit.id)),
            name=unit.name,
            short_name=unit.short_name,
            contact=Contact(
                address=c.address,
                phone=c.phone,
                postcode=c.postcode,
                email=c.email,
                postal_address=c.postal_address,
                area_code=c.area_code,
            ),
        )


@strawberry.type
class Category:
    path: list[int]
    title: str


@strawberry.type
class NarrativeItem:
    title: str
    text: str


@strawberry.type
class Narrative:
    unit_id: strawberry.ID
    section: NarrativeSection
    intro: str
    items: list[NarrativeItem]


@strawberry.type(description="A published notice (通报): what it was built from, and the digest of its text.")
class Publication:
    id: strawberry.ID
    round_id: strawberry.ID
    unit_id: strawberry.ID
    edition: Edition
    title: str
    position: int = strawberry.field(description="The log position the notice was built at.")
    published_on: date = strawberry.field(description="The first day of the publicity window (公开期限).")
    window_until: date
    sha256: str = strawberry.field(description="SHA-256 of the Markdown text as published.")
    template_version: str
    url: str = strawberry.field(description="The public page (public edition, within its window).")

    @staticmethod
    def of(round_id: Any, p: Any) -> Publication:
        return Publication(
            id=strawberry.ID(str(p.notice_id)),
            round_id=strawberry.ID(str(round_id)),
            unit_id=strawberry.ID(str(p.unit_id)),
            edition=p.edition,
            title=p.title,
            position=p.position,
            published_on=p.published_on,
            window_until=p.window_until,
            sha256=p.sha256,
            template_version=p.template_version,
            url=f"/notices/{p.notice_id}",
        )


@strawberry.type
class NoticeText:
    publication: Publication
    markdown: str
    html: str
    verified: bool = strawberry.field(description="Rebuilt from the log at its position, its digest matches.")


@strawberry.type
class UnitProgress:
    unit: Unit
    progress: Progress


@strawberry.type
class CategoryProgress:
    path: list[int]
    title: str
    progress: Progress


@strawberry.type
class Round:
    aggregate: strawberry.Private[domain.Round]
    at: strawberry.Private[At | None]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.aggregate.id))

    @strawberry.field
    def authority(self) -> str:
        return self.aggregate.authority

    @strawberry.field
    def district(self) -> str:
        return self.aggregate.district

    @strawberry.field
    def team(self) -> str:
        return self.aggregate.team

    @strawberry.field(description="e.g. 罗湖区第四巡察组")
    def team_name(self) -> str:
        return self.aggregate.team_name

    @strawberry.field
    def unit_ids(self) -> list[strawberry.ID]:
        return [strawberry.ID(str(u)) for u in self.aggregate.unit_ids]

    @strawberry.field
    def stationed_from(self) -> date:
        return self.aggregate.stationed_from

    @strawberry.field
    def stationed_to(self) -> date:
        return self.aggregate.stationed_to

    @strawberry.field
    def feedback_on(self) -> date | None:
        return self.aggregate.feedback_on

    @strawberry.field
    def rectification_until(self) -> date | None:
        return self.aggregate.rectification_until

    @strawberry.field
    def categories(self) -> list[Category]:
        return [Category(path=list(c.path), title=c.title) for c in self.aggregate.categories]

    @strawberry.field
    def narratives(self) -> list[Narrative]:
        return [
            Narrative(
                unit_id=strawberry.ID(str(n.unit_id)),
                section=n.section,
                intro=n.intro,
                items=[NarrativeItem(title=i.title, text=i.text) for i in n.items],
            )
            for n in self.aggregate.narratives
        ]

    @strawberry.field
    async def units(self, info: strawberry.Info) -> list[Unit]:
        from rectify.graphql.resolvers import units_of_round

        return await units_of_round(info, self.aggregate, self.at)

    @strawberry.field(description="The round's findings the caller may see, in category order.")
    async def findings(
        self,
        info: strawberry.Info,
        filter: FindingFilter | None = None,  # noqa: A002
        first: int = 50,
        after: str | None = None,
    ) -> FindingPage:
        from rectify.graphql.resolvers import finding_page

        scope = ScopeInput(round_id=strawberry.ID(str(self.aggregate.id)))
        return await finding_page(info, scope, filter, first, after, self.at)

    @strawberry.field
    async def progress(self, info: strawberry.Info, until: date | None = None) -> Progress:
        from rectify.graphql.resolvers import progress_of

        return await progress_of(info, ScopeInput(round_id=strawberry.ID(str(self.aggregate.id))), self.at, until)

    @strawberry.field(description="Progress of each unit inspected in this round.")
    async def unit_progress(self, info: strawberry.Info, until: date | None = None) -> list[UnitProgress]:
        from rectify.graphql.resolvers import progress_by_unit

        return await progress_by_unit(info, self.aggregate, self.at, until)

    @strawberry.field(description="Progress of each top-level category (方面) of this round.")
    async def category_progress(self, info: strawberry.Info, until: date | None = None) -> list[CategoryProgress]:
        from rectify.graphql.resolvers import progress_by_category

        return await progress_by_category(info, self.aggregate, self.at, until)

    @strawberry.field(description="Notices published for this round that the caller may see.")
    def publications(self, info: strawberry.Info) -> list[Publication]:
        context = info.context
        today = context.system.read.today()
        return [
            Publication.of(self.aggregate.id, p)
            for p in self.aggregate.publications
            if may_read_notice(p, context.actor, today)
        ]


# -- command results ------------------------------------------------------------------------


@strawberry.type(description="The command was carried out; read your own write at `position`.")
class Accepted:
    position: int
    id: strawberry.ID = strawberry.field(description="The new or changed entity (finding, measure, activity, …).")
    replayed: bool = strawberry.field(description="A retry of an earlier request with the same idempotency key.")

    @staticmethod
    def of(receipt: Receipt) -> Accepted:
        return Accepted(position=receipt.position, id=strawberry.ID(str(receipt.entity_id)), replayed=receipt.replayed)


@strawberry.type(description="A notice was published; it can be rebuilt byte for byte from the log.")
class NoticePublished:
    position: int
    id: strawberry.ID
    sha256: str
    url: str


@strawberry.type(description="A token was issued. The secret is shown this once; only its digest is kept.")
class TokenIssued:
    position: int
    id: strawberry.ID
    secret: str | None


@strawberry.type
class NotFound:
    message: str
    kind: str
    identifier: str


@strawberry.type
class InvalidInput:
    message: str
    field: str
    reason: str


@strawberry.type
class IllegalTransition:
    message: str
    status: str = strawberry.field(description="The current status the command is not allowed in.")


@strawberry.type
class Conflict:
    message: str


@strawberry.type
class Forbidden:
    message: str


Problem = NotFound | InvalidInput | IllegalTransition | Conflict | Forbidden
CommandResult = Annotated[Accepted | Problem, strawberry.union("CommandResult")]
IssueTokenResult = Annotated[TokenIssued | Problem, strawberry.union("IssueTokenResult")]
PublishNoticeResult = Annotated[NoticePublished | Problem, strawberry.union("PublishNoticeResult")]


def problem_of(error: domain.RectifyError) -> Any:
    """The typed GraphQL error for an expected failure."""
    if isinstance(error, domain.InvalidInput):
        return InvalidInput(message=error.message, field=error.field, reason=error.reason)
    if isinstance(error, domain.NotFound):
        return NotFound(message=error.message, kind=error.kind, identifier=error.identifier)
    if isinstance(error, domain.IllegalTransition):
        return IllegalTransition(message=error.message, status=error.status)
    if isinstance(error, domain.Conflict):
        return Conflict(message=error.message)
    if isinstance(error, domain.Forbidden):
        return Forbidden(message=error.message)
    raise TypeError(f"unexpected error type {type(error)}")
