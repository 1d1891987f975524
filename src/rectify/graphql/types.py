"""GraphQL types: the fields of the values the read side's front door (rectify.queries) returns.

The front door shapes its answers for the caller: a type here only names and describes fields, read
as attributes of those values (no resolver per field), except where a field needs arguments or I/O.
Such a resolver takes the front door's value as its `strawberry.Parent` (at run time `self` is that value
too, not an instance of the class here) and says what it returns as the front door's type, the GraphQL
type given apart (`graphql_type`).
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from rectify import domain, eventlog, queries
from rectify import validation as v
from rectify.access import Role
from rectify.application import Receipt
from rectify.domain.rule import PeriodStatus
from rectify.domain.values import (
    DeadlineKind,
    Disclosure,
    Edition,
    EvidenceTarget,
    FindingStatus,
    NarrativeSection,
    RelapseOutcome,
    RulePeriod,
)
from rectify.graphql.context import blocking, reading
from rectify.projections.aftercare import CheckState
from rectify.projections.ledger import Light
from rectify.projections.progress import Progress as ProgressFigures
from rectify.projections.progress import Scope
from rectify.projections.views import At
from rectify.queries import FindingFilter as FindingQuery

strawberry.enum(FindingStatus, description="Where a finding stands in its lifecycle.")
strawberry.enum(Disclosure, description="PUBLIC, or INTERNAL (不宜公开): never shown to the public.")
strawberry.enum(DeadlineKind, description="完成时限: a date, 立行立改 (IMMEDIATE) or 长期坚持 (LONG_TERM).")
strawberry.enum(RelapseOutcome, description="回头看: HOLDING, or RELAPSED (which reopens the finding).")
strawberry.enum(NarrativeSection, description="The notice's free-text sections written by the unit.")
strawberry.enum(Role, description="Who a token stands for.")
strawberry.enum(Edition, description="社会通报 (PUBLIC, internal items left out) or 党内通报 (INTERNAL).")


strawberry.enum(Light, description="红黄绿灯: RED overdue, YELLOW close to the deadline, GREEN otherwise or done.")
strawberry.enum(
    EvidenceTarget,
    description="What evidence is attached to: a measure or activity (by id), or the finding's n-th report "
    "(of rectification or of phased results), verification, close-out or relapse check.",
)
strawberry.enum(
    RulePeriod, description="How often a standing rule must be met: calendar months, quarters, half-years, years."
)
strawberry.enum(
    PeriodStatus,
    description="A standing rule's period: MET, MISSED, RUNNING (not over, not met yet), or ENDED (cut short by an "
    "amendment or the retirement before it was met: not counted as missed).",
)
strawberry.enum(
    CheckState,
    name="RelapseCheckState",
    description="回头看: OVERDUE (its date has passed), DUE (within 30 days), LATER.",
)


@strawberry.enum(description="How relapse rates are grouped.")
class RelapseRateBy(enum.Enum):
    DEPARTMENT = "DEPARTMENT"
    CATEGORY = "CATEGORY"
    ROUND = "ROUND"


@strawberry.enum(description="How repeat rates (屡查屡犯) are grouped.")
class RepeatRateBy(enum.Enum):
    UNIT = "UNIT"
    DISTRICT = "DISTRICT"


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

    def parsed(self) -> Scope:
        return Scope(
            round_id=v.identifier("scope.roundId", self.round_id) if self.round_id else None,
            unit_id=v.identifier("scope.unitId", self.unit_id) if self.unit_id else None,
            category=tuple(v.ordinal("scope.category", n) for n in self.category) if self.category else None,
            department=self.department,
        )


def scope_of(scope: ScopeInput | None) -> Scope:
    return scope.parsed() if scope is not None else Scope()


@strawberry.input
class FindingFilter:
    unit_id: strawberry.ID | None = None
    status: list[FindingStatus] | None = None
    category: list[int] | None = None
    department: str | None = None
    overdue: bool | None = None
    light: Light | None = None
    disclosure: Disclosure | None = None

    def parsed(self) -> FindingQuery:
        return FindingQuery(
            unit_id=v.identifier("filter.unitId", self.unit_id) if self.unit_id else None,
            status=tuple(self.status) if self.status is not None else None,
            category=tuple(self.category) if self.category is not None else None,
            department=self.department,
            overdue=self.overdue,
            light=self.light.value if self.light is not None else None,
            disclosure=self.disclosure,
        )


def filter_of(wanted: FindingFilter | None) -> FindingQuery | None:
    return wanted.parsed() if wanted is not None else None


# -- values ---------------------------------------------------------------------------------


@strawberry.type
class Deadline:
    kind: DeadlineKind
    due_on: date | None
    label: str = strawberry.field(description="e.g. 2025-11-12, 立行立改, 长期坚持")


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
    total: Decimal = strawberry.field(name="quantity")


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


@strawberry.type
class EventPage:
    events: list[LoggedEvent]
    next_cursor: int = strawberry.field(description="Pass as `after` for the next page.")
    head: int


@strawberry.type(
    description="佐证材料: a file attached to a step of a finding, named by its SHA-256. The public sees public "
    "attachments of public findings only, and no withdrawn ones; restricted fields are null for it."
)
class Evidence:
    id: strawberry.ID
    finding_id: strawberry.ID
    sha256: str
    size: int = strawberry.field(description="In bytes.")
    media_type: str = strawberry.field(description="Sniffed from the content, never taken from the name.")
    file_name: str
    target: EvidenceTarget
    target_ref: str = strawberry.field(description="The measure's or activity's id, or the report's (…) number.")
    disclosure: Disclosure = strawberry.field(
        description="As given; an attachment of an internal finding is internal whatever it says."
    )
    note: str
    attached_on: date
    withdrawn: bool
    actor: str | None = strawberry.field(description="Restricted. Who attached it.")
    withdrawal_reason: str | None = strawberry.field(description="Restricted.")
    url: str = strawberry.field(description="The download (Content-Disposition: attachment).")
    thumbnail_url: str | None = strawberry.field(description="A small JPEG, for images.")


@strawberry.type(description="屡查屡犯: the earlier round's finding this one repeats.")
class RepeatOf:
    finding_id: strawberry.ID
    round_id: strawberry.ID
    code: str
    reason: str


# -- findings -------------------------------------------------------------------------------


@strawberry.type(description="One finding's ledger line (整改台账). Fields marked restricted are null for the public.")
class Finding:
    id: strawberry.ID
    round_id: strawberry.ID
    unit_id: strawberry.ID
    code: str
    place: list[int] = strawberry.field(description="Its place in the category tree, e.g. [2, 4, 1] for (二) 4. (1).")
    heading: str
    status: FindingStatus
    disclosure: Disclosure
    deadline: Deadline | None
    measures: list[Measure]
    overdue: bool = strawberry.field(description="Derived, never stored: the deadline passed and it is not rectified.")
    days_left: int | None
    light: Light
    position: int = strawberry.field(description="The log position of its last event.")

    # restricted ------------------------------------------------------------------------------

    problem: str | None = strawberry.field(description="Restricted. The problem as found (问题表现).")
    withholding_reason: str | None = strawberry.field(description="Restricted.")
    department: str | None = strawberry.field(description="Restricted.")
    leader: str | None = strawberry.field(description="Restricted.")
    person: str | None = strawberry.field(description="Restricted.")
    original_deadline: Deadline | None = strawberry.field(
        description="Restricted. The deadline first assigned; extensions keep it visible."
    )
    extensions: list[Extension] | None = strawberry.field(description="Restricted.")
    activity_totals: list[ActivityTotal] | None = strawberry.field(
        description="Restricted. Live activities per kind and unit."
    )
    amounts_involved: list[AmountInvolved] | None = strawberry.field(description="Restricted.")
    amount_rectified: Decimal | None = strawberry.field(description="Restricted. Money rectified or recovered, in 元.")
    last_verification: Verification | None = strawberry.field(description="Restricted.")
    close_out: CloseOut | None = strawberry.field(description="Restricted.")
    relapse_checks: list[RelapseCheck] | None = strawberry.field(description="Restricted.")
    evidence: list[Evidence] = strawberry.field(description="佐证材料 the caller may see, in the order attached.")
    repeat_of: RepeatOf | None = strawberry.field(
        description="屡查屡犯: the earlier round's finding of the same unit it repeats (if the caller may see it)."
    )

    @strawberry.field(
        graphql_type=list[LoggedEvent] | None, description="Restricted. Every event of this finding, oldest first."
    )
    async def history(
        self, info: strawberry.Info, finding: strawberry.Parent[queries.Finding]
    ) -> list[eventlog.LoggedEvent] | None:
        if not finding.full:
            return None
        return await blocking(reading(info).history, finding)


@strawberry.type
class FindingPage:
    items: list[Finding]
    total: int = strawberry.field(description="Findings matching, over all pages (visible to the caller).")
    next_cursor: str | None
    position: int = strawberry.field(description="The log position the page was read at.")


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


@strawberry.type(description="Progress figures; the public sees public findings only, and how many are withheld.")
class Progress:
    position: int = strawberry.field(
        description="The log position read at: for the public and other units, that of the last event they may see."
    )
    today: date
    cut: date | None = strawberry.field(description="Activities counted up to this business date, if given.")
    total: int
    completed: int
    long_term: int
    in_progress: int
    not_started: int
    partly: int = strawberry.field(description="部分整改: its own count, in none of the others.")
    completion_rate: Decimal | None = strawberry.field(description="完成率 in percent, rounded half-up to 0.01.")
    overdue: int
    green: int
    yellow: int
    red: int
    undisclosed: int | None = strawberry.field(
        description="Findings in scope the caller may not see: counted for the district, a round or a unit; "
        "null for a category or department, where the count would tell where they are."
    )
    extensions: int
    relapse_checked: int
    relapsed: int
    relapse_rate: Decimal | None
    amount_involved: Decimal = strawberry.field(description="In 元.")
    amount_rectified: Decimal = strawberry.field(description="In 元.")
    amount_remaining: Decimal = strawberry.field(description="In 元.")
    activities: list[ActivityFigure]
    activities_by_unit: list[UnitActivities]
    rule_periods_met: int = strawberry.field(description="长效机制: periods of the rules in scope that were met.")
    rule_periods_missed: int = strawberry.field(description="长效机制: periods that ended without being met.")
    rule_periods_running: int
    relapse_checks_overdue: int = strawberry.field(description="回头看: closed findings whose check is overdue.")
    relapse_checks_due: int = strawberry.field(description="回头看: checks falling due within 30 days.")
    repeats: int = strawberry.field(description="屡查屡犯: findings linked to an earlier round's finding.")
    repeat_rate: Decimal | None = strawberry.field(description="Repeats of all findings, in percent.")


@strawberry.type
class RulePeriodResult:
    starts_on: date
    ends_on: date
    label: str = strawberry.field(description="e.g. 2025年下半年")
    activity_kind: str
    minimum: int
    count: int
    status: PeriodStatus


@strawberry.type(description="长效机制: one unit's standing under one standing rule, period by period.")
class RuleStanding:
    id: strawberry.ID = strawberry.field(description="The rule's id.")
    title: str
    round_id: strawberry.ID | None
    unit_id: strawberry.ID = strawberry.field(description="The unit this standing is of.")
    bound_unit_id: strawberry.ID | None = strawberry.field(
        description="The unit the rule names; null: every unit of its round."
    )
    activity_kind: str
    minimum: int
    period: RulePeriod
    starts_on: date
    retired_on: date | None
    periods: list[RulePeriodResult]
    met: int
    missed: int
    running: int
    position: int


@strawberry.type(description="回头看: a closed finding awaiting its relapse check.")
class RelapseCheckDue:
    finding: Finding
    closed_on: date
    due_on: date
    state: CheckState


@strawberry.type
class Rate:
    key: str
    label: str
    part: int = strawberry.field(description="Relapsed, or repeats.")
    whole: int = strawberry.field(description="Checked, or findings.")
    rate: Decimal | None = strawberry.field(description="In percent, rounded half-up to 0.01.")


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


@strawberry.type
class NoticeText:
    publication: Publication
    markdown: str
    html: str
    verified: bool = strawberry.field(description="Rebuilt from the log at its position, its digest matches.")


@strawberry.type(
    description="Inclusion and consistency proofs of the log (RFC 9162), against a signed tree head; save "
    "`document` as a file and check it offline with `rectify verify-proof FILE --public-key KEY`."
)
class Proof:
    head_note: str = strawberry.field(
        name="head", description="The signed tree head proved against: the head, a blank line, the signature line."
    )
    size: int = strawberry.field(description="The head's tree size (leaves).")
    leaf_position: int | None = strawberry.field(description="The position of the event whose leaf is proved.")
    leaf_index: int | None = strawberry.field(description="Its place in the tree (0-based).")
    leaf_input_hex: str | None = strawberry.field(
        name="leafInput", description="What its leaf hash covers (hex): position, aggregate, version, time, topic, "
        "and the SHA-256 of the stored bytes."
    )  # fmt: skip
    inclusion_hex: list[str] = strawberry.field(name="inclusion", description="The audit path, leaf up (hex).")
    from_note: str | None = strawberry.field(
        name="fromHead", description="The earlier signed head (at the position asked for, or the notice's)."
    )
    consistency_hex: list[str] = strawberry.field(
        name="consistency", description="The consistency proof from `fromHead` to `head` (hex)."
    )
    document: JSON = strawberry.field(description="All of it as one JSON document (format rectify-proof/1).")


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
    id: strawberry.ID
    authority: str
    district: str
    team: str
    team_name: str = strawberry.field(description="e.g. 罗湖区第四巡察组")
    unit_ids: list[strawberry.ID]
    stationed_from: date
    stationed_to: date
    feedback_on: date | None
    rectification_until: date | None
    categories: list[Category]
    narratives: list[Narrative]
    publications: list[Publication] = strawberry.field(
        description="Notices published for this round that the caller may see."
    )
    evidence_required_for_close: bool = strawberry.field(description="销号需佐证: a close-out needs evidence first.")
    relapse_check_months: int = strawberry.field(description="回头看 falls due this many months after a close-out.")

    # Read at the round's own position (the parent is the front door's Round).

    @strawberry.field(graphql_type=list[Unit])
    async def units(self, info: strawberry.Info, round_: strawberry.Parent[queries.Round]) -> list[domain.Unit]:
        return await blocking(reading(info).round_units, round_)

    @strawberry.field(
        graphql_type=FindingPage, description="The round's findings the caller may see, in category order."
    )
    async def findings(
        self,
        info: strawberry.Info,
        round_: strawberry.Parent[queries.Round],
        filter: FindingFilter | None = None,  # noqa: A002
        first: int = 50,
        after: str | None = None,
    ) -> queries.FindingPage:
        return await blocking(reading(info).round_findings, round_, filter_of(filter), first, after)

    @strawberry.field(graphql_type=Progress)
    async def progress(
        self, info: strawberry.Info, round_: strawberry.Parent[queries.Round], until: date | None = None
    ) -> ProgressFigures:
        return await blocking(reading(info).round_progress, round_, until)

    @strawberry.field(graphql_type=list[UnitProgress], description="Progress of each unit inspected in this round.")
    async def unit_progress(
        self, info: strawberry.Info, round_: strawberry.Parent[queries.Round], until: date | None = None
    ) -> list[queries.UnitProgress]:
        return await blocking(reading(info).unit_progress, round_, until)

    @strawberry.field(
        graphql_type=list[CategoryProgress], description="Progress of each top-level category (方面) of this round."
    )
    async def category_progress(
        self, info: strawberry.Info, round_: strawberry.Parent[queries.Round], until: date | None = None
    ) -> list[queries.CategoryProgress]:
        return await blocking(reading(info).category_progress, round_, until)


# -- command results ------------------------------------------------------------------------


@strawberry.type(description="The command was carried out; read your own write at `position`.")
class Accepted:
    position: int
    id: strawberry.ID = strawberry.field(description="The new or changed entity (finding, measure, activity, …).")
    replayed: bool = strawberry.field(description="A retry of an earlier request with the same idempotency key.")
    views_caught_up: bool = strawberry.field(
        default=True,
        description="Whether the views included this write when it was answered. False: it is stored, "
        "and queries show it once the views catch up (GET /health tells when).",
    )

    @staticmethod
    def of(receipt: Receipt) -> Accepted:
        return Accepted(
            position=receipt.position,
            id=strawberry.ID(str(receipt.entity_id)),
            replayed=receipt.replayed,
            views_caught_up=receipt.views_caught_up,
        )


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


@strawberry.type(description="The event store could not carry out the command.")
class StoreFault:
    message: str
    reason: str = strawberry.field(description="UNAVAILABLE, TIMED_OUT, READ_ONLY or DISK_FULL.")
    may_have_appended: bool = strawberry.field(
        description="Whether the command may be stored all the same (its answer was lost). Either way, "
        "sending it again with the same idempotency key cannot carry it out twice."
    )


Problem = NotFound | InvalidInput | IllegalTransition | Conflict | Forbidden | StoreFault
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
    if isinstance(error, domain.StoreFault):
        return StoreFault(message=error.message, reason=error.reason, may_have_appended=error.may_have_appended)
    raise TypeError(f"unexpected error type {type(error)}")
