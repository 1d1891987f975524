"""The read side's front door: every read, for one audience at one log position, shaped for that audience.

A request (an HTTP query, one operation on a WebSocket, one push of a subscription) reads through
one `Reading`: the caller, and the position of the views pinned at its first read. Every field of
the request reads at that position, or at the past position its `asOf` names (resolved once per
request): sibling and nested fields never read different states of the log. The Reading applies
the read policy of rectify.access to everything it returns (filtering, paging, redaction) and
returns values already shaped for the audience: a finding as the public sees it has no department
to forget to hide, and positions shown to an audience move only on events it may see.

The values are plain objects whose attribute names are the API's field names, so that the GraphQL
layer maps them without a resolver per field (see docs/benchmarks.md).
"""

from __future__ import annotations

import base64
import binascii
import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from rectify import access, eventlog
from rectify.access import Actor
from rectify.application import RectifyApplication
from rectify.domain import Round as RoundAggregate
from rectify.domain import Unit as UnitAggregate
from rectify.domain import figures
from rectify.domain.errors import InvalidInput, NotFound, Unavailable
from rectify.domain.rule import PeriodStatus, RulePeriodResult, StandingRule
from rectify.domain.values import Attachment as AttachmentValue
from rectify.domain.values import Deadline as DeadlineValue
from rectify.domain.values import Disclosure, Edition, FindingStatus
from rectify.domain.values import Publication as PublicationValue
from rectify.domain.values import RepeatLink as RepeatLinkValue
from rectify.integrity import keys, proofs
from rectify.integrity.sealer import Sealer, Unsealable
from rectify.notice.service import Check, Notices
from rectify.projections import aftercare, ledger
from rectify.projections.ledger import LedgerRow, LightThresholds
from rectify.projections.progress import Progress, Scope, progress
from rectify.projections.store import place_key
from rectify.projections.views import At, ReadModels, View, rounds_of

if TYPE_CHECKING:
    from rectify.sheets.writer import Exported

MAX_PAGE = 100
MAX_EVENTS_PAGE = 500
#: Events looked at per page of the log: a reader of a small part of a long log gets a short page
#: and a cursor to go on from, rather than a scan of everything.
MAX_SCAN = 5000
#: Events after the views' position looked at for a position shown to an audience that may not see all.
HEAD_TAIL = 1000
#: Events just saved by this process that a position shown is looked for among before the views are asked.
SAVED_LOOKBACK = 8


# -- what a caller asks for -------------------------------------------------------------------


@dataclass(frozen=True)
class FindingFilter:
    """Which findings of a list; every given filter must hold."""

    unit_id: UUID | None = None
    status: tuple[FindingStatus, ...] | None = None
    category: tuple[int, ...] | None = None
    department: str | None = None
    overdue: bool | None = None
    light: str | None = None
    disclosure: Disclosure | None = None


def page_size(first: int, maximum: int = MAX_PAGE) -> int:
    if not 1 <= first <= maximum:
        raise InvalidInput("first", f"a page holds 1 to {maximum} items, asked for {first}")
    return first


def cursor_of(row: LedgerRow) -> str:
    return base64.urlsafe_b64encode(f"{place_key(row.place)}|{row.finding_id}".encode()).decode()


def after_cursor(cursor: str) -> tuple[str, str]:
    try:
        key, _, identifier = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput("after", "is not a cursor this API gave out") from None
    if not identifier:
        raise InvalidInput("after", "is not a cursor this API gave out")
    return key, identifier


# -- what a caller gets: values shaped for its audience ----------------------------------------


class Deadline:
    __slots__ = ("kind", "due_on", "_value")

    def __init__(self, value: DeadlineValue) -> None:
        self.kind = value.kind
        self.due_on = value.due_on
        self._value = value

    @property
    def label(self) -> str:
        """e.g. 2025-11-12, 立行立改, 长期坚持"""
        return ledger.deadline_label(self._value)


def deadline(value: DeadlineValue | None) -> Deadline | None:
    return None if value is None else Deadline(value)


class Measure:
    __slots__ = ("id", "ordinal", "text", "completed_on", "_activities", "_rules")

    def __init__(self, measure: Any, activities: Sequence[Any], rules: figures.RuleFigures | None = None) -> None:
        self.id = measure.measure_id
        self.ordinal = measure.ordinal
        self.text = measure.text
        self.completed_on = measure.completed_on
        self._activities = activities
        self._rules = rules

    @property
    def filled_text(self) -> str:
        """The text with each figure filled from the recorded activities (worked out only if asked)."""
        return figures.filled(self.text, self._activities, self._rules)


class Extension:
    __slots__ = ("previous", "new", "reason", "actor")

    def __init__(self, extension: Any) -> None:
        self.previous = Deadline(extension.previous)
        self.new = Deadline(extension.new)
        self.reason = extension.reason
        self.actor = extension.actor


class Evidence:
    """An attachment (佐证材料) as its audience sees it: who attached it and why one was withdrawn only for
    whoever may read the finding's unit in full (the public sees no withdrawn ones at all)."""

    __slots__ = ("finding_id", "_value", "full")

    def __init__(self, finding_id: UUID, attachment: AttachmentValue, full: bool) -> None:
        self.finding_id = finding_id
        self._value = attachment
        self.full = full

    id = property(lambda self: self._value.attachment_id)
    sha256 = property(lambda self: self._value.sha256)
    size = property(lambda self: self._value.size)
    media_type = property(lambda self: self._value.media_type)
    file_name = property(lambda self: self._value.file_name)
    target = property(lambda self: self._value.target)
    target_ref = property(lambda self: self._value.target_ref)
    note = property(lambda self: self._value.note)
    attached_on = property(lambda self: self._value.attached_on)
    withdrawn = property(lambda self: self._value.withdrawn)
    actor = property(lambda self: self._value.actor if self.full else None)
    withdrawal_reason = property(lambda self: self._value.withdrawal_reason if self.full else None)

    @property
    def disclosure(self) -> Disclosure:
        return self._value.disclosure

    @property
    def url(self) -> str:
        return evidence_url(self.finding_id, self._value.attachment_id)

    @property
    def thumbnail_url(self) -> str | None:
        return f"{self.url}/thumbnail" if self._value.media_type.startswith("image/") else None


def evidence_url(finding_id: UUID, attachment_id: UUID) -> str:
    return f"/findings/{finding_id}/evidence/{attachment_id}"


class RepeatOf:
    __slots__ = ("finding_id", "round_id", "code", "reason")

    def __init__(self, link: RepeatLinkValue) -> None:
        self.finding_id = link.earlier_finding_id
        self.round_id = link.earlier_round_id
        self.code = link.earlier_code
        self.reason = link.reason


class Finding:
    """A finding's ledger line as an audience that may not read its unit in full sees it: the
    restricted fields are None. (FullFinding is what the unit itself and the office see.)"""

    __slots__ = ("row", "_today", "_thresholds", "_actor", "_rules")
    full = False
    problem = withholding_reason = department = leader = person = original_deadline = None
    extensions = activity_totals = amounts_involved = amount_rectified = None
    last_verification = close_out = relapse_checks = None

    def __init__(
        self,
        row: LedgerRow,
        today: date,
        thresholds: LightThresholds,
        actor: Actor = access.PUBLIC,
        rules: figures.RuleFigures | None = None,
    ) -> None:
        self.row = row
        self._today = today
        self._thresholds = thresholds
        self._actor = actor
        self._rules = rules  # for a standing rule's figure in a measure's text (worked out only if one is there)

    id = property(lambda self: self.row.finding_id)
    round_id = property(lambda self: self.row.round_id)
    unit_id = property(lambda self: self.row.unit_id)
    code = property(lambda self: self.row.code)
    place = property(lambda self: self.row.place)
    heading = property(lambda self: self.row.heading)
    status = property(lambda self: self.row.status)
    disclosure = property(lambda self: self.row.disclosure)
    position = property(lambda self: self.row.position)  # of its last event: one its audience may see

    @property
    def deadline(self) -> Deadline | None:
        return deadline(self.row.deadline)

    @property
    def measures(self) -> list[Measure]:
        activities = self.row.activities
        return [Measure(m, activities, self._rules) for m in self.row.measures]

    @property
    def overdue(self) -> bool:
        return self.row.is_overdue(self._today)

    @property
    def days_left(self) -> int | None:
        return self.row.days_left(self._today)

    @property
    def light(self) -> str:
        return ledger.light(self.row, self._today, self._thresholds)

    @property
    def evidence(self) -> list[Evidence]:
        """The attachments the caller may see (rectify.access.may_see_attachment), in the order attached."""
        row, actor = self.row, self._actor
        return [
            Evidence(row.finding_id, a, self.full) for a in row.evidence if access.may_see_attachment(actor, row, a)
        ]

    @property
    def repeat_of(self) -> RepeatOf | None:
        """The earlier round's finding this one repeats (屡查屡犯), if the caller may see both."""
        link = self.row.repeat_of
        if link is None or not access.may_see_repeat(self._actor, self.row, link.earlier_disclosure):
            return None
        return RepeatOf(link)


class FullFinding(Finding):
    """A finding's ledger line as whoever may read its unit in full sees it."""

    __slots__ = ()
    full = True
    problem = property(lambda self: self.row.problem)
    withholding_reason = property(lambda self: self.row.withholding_reason)
    department = property(lambda self: self.row.department)
    leader = property(lambda self: self.row.leader)
    person = property(lambda self: self.row.person)
    original_deadline = property(lambda self: deadline(self.row.original_deadline))
    extensions = property(lambda self: [Extension(e) for e in self.row.extensions])
    activity_totals = property(lambda self: list(self.row.activity_totals))
    amounts_involved = property(lambda self: list(self.row.amounts_involved))
    amount_rectified = property(lambda self: self.row.amount_rectified)
    last_verification = property(lambda self: self.row.last_verification)
    close_out = property(lambda self: self.row.close_out)
    relapse_checks = property(lambda self: list(self.row.relapse_checks))


@dataclass(frozen=True, slots=True)
class FindingPage:
    items: list[Finding]
    total: int  # findings matching, over all pages, that the caller may see
    next_cursor: str | None
    position: int  # the position the page was read at, as shown to the caller


@dataclass(frozen=True, slots=True)
class Publication:
    id: UUID
    round_id: UUID
    unit_id: UUID
    edition: Edition
    title: str
    position: int
    published_on: date
    window_until: date
    sha256: str
    template_version: str
    url: str

    @staticmethod
    def of(round_id: UUID, p: PublicationValue) -> Publication:
        return Publication(
            id=p.notice_id,
            round_id=round_id,
            unit_id=p.unit_id,
            edition=p.edition,
            title=p.title,
            position=p.position,
            published_on=p.published_on,
            window_until=p.window_until,
            sha256=p.sha256,
            template_version=p.template_version,
            url=f"/notices/{p.notice_id}",
        )


ROUND_FIELDS = frozenset(
    {
        "id",
        "authority",
        "district",
        "team",
        "team_name",
        "unit_ids",
        "stationed_from",
        "stationed_to",
        "feedback_on",
        "rectification_until",
        "categories",
        "narratives",
        "evidence_required_for_close",
        "relapse_check_months",
    }
)


class Round:
    """A round as read at `position`; its nested figures and lists are read at that same position."""

    __slots__ = ("aggregate", "position", "publications")

    def __init__(self, aggregate: RoundAggregate, position: int, publications: list[Publication]) -> None:
        self.aggregate = aggregate
        self.position = position
        self.publications = publications  # those the caller may read

    def __getattr__(self, name: str) -> Any:
        if name in ROUND_FIELDS:
            return getattr(self.aggregate, name)
        raise AttributeError(name)


@dataclass(frozen=True, slots=True)
class UnitProgress:
    unit: UnitAggregate
    progress: Progress


@dataclass(frozen=True, slots=True)
class CategoryProgress:
    path: tuple[int, ...]
    title: str
    progress: Progress


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[eventlog.LoggedEvent]
    next_cursor: int  # pass as `after` for the next page
    head: int


@dataclass(frozen=True)
class NoticeText:
    publication: Publication
    check: Check

    @property
    def markdown(self) -> str:
        return self.check.rendered.markdown

    @property
    def html(self) -> str:
        return self.check.rendered.html()

    @property
    def verified(self) -> bool:
        return self.check.ok


@dataclass(frozen=True)
class Gone:
    """A public notice whose publicity window has ended."""

    window_until: date


@dataclass(frozen=True)
class Standing:
    """The standing rules and rounds of a view (for rule periods and relapse checks)."""

    rules: list[StandingRule]
    rounds: dict[UUID, RoundAggregate]


def standing_of(view: View) -> Standing:
    return Standing(view.aggregates(StandingRule), rounds_of(view))


@dataclass(frozen=True, slots=True)
class RulePeriod:
    starts_on: date
    ends_on: date
    label: str
    activity_kind: str
    minimum: int
    count: int
    status: PeriodStatus

    @staticmethod
    def of(result: RulePeriodResult) -> RulePeriod:
        return RulePeriod(
            result.starts_on, result.ends_on, result.label, result.activity_kind, result.minimum, result.count,
            result.status,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class RuleStanding:
    """One unit's standing under one rule (长效机制), as of a day: each period met, missed or running."""

    id: UUID
    title: str
    round_id: UUID | None
    unit_id: UUID
    bound_unit_id: UUID | None  # the unit the rule names (None: every unit of its round)
    activity_kind: str
    minimum: int
    period: Any
    starts_on: date
    retired_on: date | None
    periods: list[RulePeriod]
    met: int
    missed: int
    running: int
    position: int


@dataclass(frozen=True, slots=True)
class RelapseCheckDue:
    finding: Finding
    closed_on: date
    due_on: date
    state: aftercare.CheckState


@dataclass(frozen=True, slots=True)
class RateRow:
    key: str
    label: str
    part: int
    whole: int
    rate: Decimal | None


# -- the front door ---------------------------------------------------------------------------


class Queries:
    """What every read goes through; `reading(actor)` starts one request's reads."""

    def __init__(
        self,
        app: RectifyApplication,
        read: ReadModels,
        notices: Notices,
        owners: eventlog.Owners,
        kept: int = 256,
        sealer: Sealer | None = None,
    ) -> None:
        self.app = app
        self.sealer = sealer  # for proofs; None: no proofs are given
        self.read = read
        self.notices = notices
        self.owners = owners
        self._checks: OrderedDict[UUID, Check] = OrderedDict()  # a published notice never changes
        self._kept = kept
        self._lock = threading.Lock()

    def reading(self, actor: Actor) -> Reading:
        return Reading(self, actor)

    def publication(self, notice_id: UUID) -> PublicationValue:
        """A published notice's record, for whoever published it (NotFound if there is none)."""
        return self.notices.find(notice_id)[1]

    def check(self, notice_id: UUID) -> Check | None:
        """A published notice rebuilt at its position and checked against its digest (kept once made);
        None if there is no such notice."""
        with self._lock:
            kept = self._checks.get(notice_id)
        if kept is not None:
            return kept
        try:
            check = self.notices.rebuild(notice_id)
        except NotFound:
            return None
        with self._lock:
            self._checks[notice_id] = check
            while len(self._checks) > self._kept:
                self._checks.popitem(last=False)
        return check


class Reading:
    """One request's reads, for one audience at one position of the log (pinned at the first read).

    Fields resolve concurrently in the thread pool, so the pinned position and what is worked out
    once per request are kept under a lock."""

    def __init__(self, queries: Queries, actor: Actor) -> None:
        self.queries = queries
        self.actor = actor
        self.today = queries.read.today()
        self._audiences = access.audiences(actor)
        self._lock = threading.Lock()
        self._now: int | None = None
        self._resolved: dict[At, int] = {}
        self._shown: dict[int, int] = {}
        #: the round's ledger rows read at the pinned position, by (finding id, position)
        self._pinned_rows: dict[tuple[str, int], LedgerRow] = {}

    # -- positions ----------------------------------------------------------------------------

    @contextmanager
    def view(self, at: At | int | None = None, scope: Scope = Scope()) -> Iterator[View]:
        """The read models at the request's position (None), a past point (At), or a position read
        before in this request (int). The request's position is the views' at its first read; if the
        views have moved on since, the state at that position is folded again."""
        read = self.queries.read
        position = self._resolve(at) if isinstance(at, At) else at
        with read.store.snapshot() as stored:
            with self._lock:
                pinned = False
                if self._now is None:
                    self._now, pinned = stored.position, True
                wanted = self._now if position is None else position
            if pinned and scope.round_id is not None:
                # The round's rows as of the pinned position are kept by the request: if a write moves
                # the views on before a later read of it, that read finds them instead of folding those
                # findings' whole histories again. (The store keeps the last few versions of each row
                # read too, but under a stream of writes and reads the request's may be gone by then.)
                rows = {(str(r.finding_id), r.position): r for r in stored.ledger(Scope(round_id=scope.round_id))}
                with self._lock:
                    self._pinned_rows = rows
            if stored.position == wanted:
                yield stored
                return
        with self._lock:
            pinned_rows = self._pinned_rows if wanted == self._now else {}
        yield read.as_of(wanted, scope, pinned_rows)

    def now(self) -> int:
        """The position the views were at when this request first read them."""
        if self._now is None:
            with self.view():
                pass
        assert self._now is not None
        return self._now

    def _resolve(self, at: At) -> int:
        with self._lock:
            found = self._resolved.get(at)
        if found is None:
            found = self.queries.read.resolve(at)
            with self._lock:
                found = self._resolved.setdefault(at, found)
        return found

    # -- the 台账 as a workbook -----------------------------------------------------------------

    def ledger_workbook(self, scope: Scope, at: At | None = None) -> Exported:
        """The 台账 of a round, a unit or the district as an .xlsx workbook (rectify.sheets.writer), as this
        audience may see it: its findings, its figures and the position it prints."""
        from rectify.sheets import writer  # openpyxl: imported on the first export, not by every process

        return writer.export(self.queries.read, scope, self.actor, at, shown_as=self.shown)

    def ledger_template(self, round_id: UUID) -> bytes | None:
        """The empty 台账 to fill in for a round the caller may see (its units and categories to pick); None
        for a round it may not see, as for none."""
        found = self.round(round_id)
        if found is None:
            return None
        from rectify.sheets import writer

        return writer.template(found.aggregate, self.round_units(found))

    def shown(self, position: int) -> int:
        """A position as this audience is shown it: that of the last event at or before it that the
        audience may see (every event, for the office). The views' audience index tells; the few
        events the views have not reached yet are looked at one by one."""
        if self._audiences is None:
            return position
        with self._lock:
            found = self._shown.get(position)
        if found is None:
            found = self._seen_among_saved(position)
        if found is None:
            found, indexed = self.queries.read.last_seen(self._texts(), position)
            if position > indexed:
                found = max(found, self._last_seen_in_tail(indexed, position))
            with self._lock:
                self._shown[position] = found
        return found

    def _seen_among_saved(self, position: int) -> int | None:
        """The last event the audience may see among the few up to `position` that this process has
        just saved (its own write's, as a rule), read from memory; None when none of those is or they
        are not at hand. A command's answer asks this right after its write."""
        app, sees = self.queries.app, self._sees()
        for at in range(position, max(0, position - SAVED_LOOKBACK), -1):
            saved = app.recent.after(at - 1, 1)
            if not saved:
                return None
            if sees(app.mapper.to_domain_event(saved[0])):
                return at
        return None

    def _last_seen_in_tail(self, indexed: int, position: int) -> int:
        """The last event in (indexed, position] the audience may see (of the last HEAD_TAIL of them)."""
        app, sees = self.queries.app, self._sees()
        start = max(indexed, position - HEAD_TAIL)
        last = 0
        for record in eventlog.read(app.recorder, app.mapper, after=start, limit=position - start, recent=app.recent):
            if record.position > position:
                break
            if sees(record.event):
                last = record.position
        return last

    def _sees(self) -> Callable[[Any], bool]:
        """Whether this audience may see a (domain) event of the log, classified on its own."""
        assert self._audiences is not None
        owners, audiences = self.queries.owners, set(self._audiences)
        return lambda event: owners.audience_of(event) in audiences

    def _texts(self) -> list[str]:
        assert self._audiences is not None
        return [str(a) for a in self._audiences]

    def head(self) -> int:
        """The last event of the log this audience may see."""
        return self.shown(self.queries.app.head())

    def view_position(self) -> int:
        return self.shown(self.now())

    # -- units, rounds, findings ----------------------------------------------------------------

    def units(self, at: At | None = None) -> list[UnitAggregate]:
        with self.view(at) as view:
            return view.aggregates(UnitAggregate)

    def rounds(self, at: At | None = None) -> list[Round]:
        with self.view(at) as view:
            return [self._round(r, view.position) for r in view.aggregates(RoundAggregate)]

    def round(self, round_id: UUID, at: At | None = None) -> Round | None:
        with self.view(at, Scope(round_id=round_id)) as view:
            found = view.aggregate(round_id)
            return self._round(found, view.position) if isinstance(found, RoundAggregate) else None

    def _round(self, aggregate: RoundAggregate, position: int) -> Round:
        publications = [
            Publication.of(aggregate.id, p)
            for p in aggregate.publications
            if access.may_read_notice(p, self.actor, self.today)
        ]
        return Round(aggregate, position, publications)

    def sees_whole_round(self, round_id: UUID) -> bool:
        """Whether the caller may read every finding of the round, internal ones included."""
        with self.view(None, Scope(round_id=round_id)) as view:
            found = view.aggregate(round_id)
        return isinstance(found, RoundAggregate) and all(self.actor.may_read_unit(u) for u in found.unit_ids)

    def round_units(self, round_: Round) -> list[UnitAggregate]:
        with self.view(round_.position, Scope(round_id=round_.aggregate.id)) as view:
            found = [view.aggregate(u) for u in round_.aggregate.unit_ids]
        return [u for u in found if isinstance(u, UnitAggregate)]

    def finding(self, finding_id: UUID, at: At | None = None) -> Finding | None:
        """One finding, if the caller may see it: the same answer (None) for an internal finding as
        for none at all."""
        if at is None:
            with self.view() as view:
                row = view.finding(finding_id)
        else:
            with self.queries.read.store.snapshot() as current:
                now = current.finding(finding_id)  # which round to fold again, if any
            if now is None:
                return None
            with self.view(at, Scope(round_id=now.round_id)) as view:
                row = view.finding(finding_id)
        if row is None or not access.may_see_finding(self.actor, row):
            return None
        return self._finding(row)

    def _finding(self, row: LedgerRow) -> Finding:
        shape = FullFinding if self.actor.may_read_unit(row.unit_id) else Finding
        rules = functools.partial(self._rule_figure, row.round_id, row.unit_id)
        return shape(row, self.today, self.queries.read.thresholds, self.actor, rules)

    def _rule_figure(self, round_id: UUID, unit_id: UUID, figure: figures.Figure) -> Decimal:
        """A standing rule's figure in a measure's text, from the unit's findings in the round the caller may see,
        at the request's position."""
        scope = Scope(round_id=round_id, unit_id=unit_id)
        with self.view(None, scope) as view:
            rows = [r for r in view.ledger(scope) if access.may_see_finding(self.actor, r)]
            rules = [r for r in view.aggregates(StandingRule) if r.binds(round_id, unit_id)]
        return figures.rule_figure(figure, rules, [a for r in rows for a in r.activities], self.today)

    def ledger(
        self,
        scope: Scope = Scope(),
        wanted: FindingFilter | None = None,
        first: int = 50,
        after: str | None = None,
        at: At | int | None = None,
    ) -> FindingPage:
        """A page of the findings the caller may see in the scope, in category order."""
        size = page_size(first)
        access.may_count_by_department(self.actor, scope.department, scope.unit_id)
        access.may_filter_by_department(self.actor, wanted.department if wanted else None)
        start = after_cursor(after) if after else None
        with self.view(at, scope) as view:
            position, rows = view.position, view.ledger(scope)
        matching = [r for r in rows if access.may_see_finding(self.actor, r) and self._matches(r, wanted)]
        if start is not None:
            matching_after = [r for r in matching if (place_key(r.place), str(r.finding_id)) > start]
        else:
            matching_after = matching
        items = matching_after[:size]
        return FindingPage(
            items=[self._finding(r) for r in items],
            total=len(matching),
            next_cursor=cursor_of(items[-1]) if len(matching_after) > size else None,
            position=self.shown(position),
        )

    def round_findings(
        self, round_: Round, wanted: FindingFilter | None, first: int = 50, after: str | None = None
    ) -> FindingPage:
        return self.ledger(Scope(round_id=round_.aggregate.id), wanted, first, after, round_.position)

    def _matches(self, row: LedgerRow, wanted: FindingFilter | None) -> bool:
        if wanted is None:
            return True
        today, thresholds = self.today, self.queries.read.thresholds
        return (
            (wanted.unit_id is None or row.unit_id == wanted.unit_id)
            and (wanted.status is None or row.status in wanted.status)
            and (wanted.category is None or Scope(category=wanted.category).matches(row))
            # A department is restricted: a row the caller may not read in full matches no department.
            and (
                wanted.department is None
                or (self.actor.may_read_unit(row.unit_id) and row.department == wanted.department)
            )
            and (wanted.overdue is None or row.is_overdue(today) == wanted.overdue)
            and (wanted.light is None or ledger.light(row, today, thresholds) == wanted.light)
            and (wanted.disclosure is None or row.disclosure is wanted.disclosure)
        )

    def history(self, finding: Finding) -> list[eventlog.LoggedEvent] | None:
        """Every event of a finding up to the version read (restricted: None unless read in full)."""
        if not finding.full:
            return None
        app = self.queries.app
        with self.queries.read.store.snapshot() as view:
            positions = view.positions_of(finding.row.finding_id)
        return eventlog.history(app.recorder, app.mapper, finding.row.finding_id, positions, finding.row.version)

    # -- figures --------------------------------------------------------------------------------

    def progress(self, scope: Scope = Scope(), at: At | int | None = None, until: date | None = None) -> Progress:
        """Figures of the findings the caller may see in the scope, and (where that places nothing)
        how many it may not."""
        access.may_count_by_department(self.actor, scope.department, scope.unit_id)
        with self.view(at, scope) as view:
            return self._progress(view.ledger(scope), scope, view.position, until, standing_of(view))

    def _progress(
        self, rows: list[LedgerRow], scope: Scope, position: int, until: date | None, standing: Standing
    ) -> Progress:
        figures = progress(
            rows,
            scope=scope,
            audience=self.actor,
            today=self.today,
            position=position,
            cut=until,
            thresholds=self.queries.read.thresholds,
            rules=standing.rules,
            rounds=standing.rounds,
        )
        counted = access.counts_withheld(
            self.actor, unit_id=scope.unit_id, category=scope.category, department=scope.department
        )
        return replace(figures, position=self.shown(position), undisclosed=figures.undisclosed if counted else None)

    def round_progress(self, round_: Round, until: date | None = None) -> Progress:
        return self.progress(Scope(round_id=round_.aggregate.id), round_.position, until)

    def unit_progress(self, round_: Round, until: date | None = None) -> list[UnitProgress]:
        """Figures per unit of a round, all read from one view."""
        scope = Scope(round_id=round_.aggregate.id)
        with self.view(round_.position, scope) as view:
            rows, position = view.ledger(scope), view.position
            units = [view.aggregate(u) for u in round_.aggregate.unit_ids]
            standing = standing_of(view)
        return [
            UnitProgress(unit, self._progress(rows, replace(scope, unit_id=unit.id), position, until, standing))
            for unit in units
            if isinstance(unit, UnitAggregate)
        ]

    def category_progress(self, round_: Round, until: date | None = None) -> list[CategoryProgress]:
        """Figures per top-level category (方面) of a round, all read from one view."""
        scope = Scope(round_id=round_.aggregate.id)
        tops = [c for c in round_.aggregate.categories if len(c.path) == 1]
        with self.view(round_.position, scope) as view:
            rows, position = view.ledger(scope), view.position
            standing = standing_of(view)
        return [
            CategoryProgress(
                c.path, c.title, self._progress(rows, replace(scope, category=c.path), position, until, standing)
            )
            for c in tops
        ]

    # -- what rectification leaves behind ---------------------------------------------------------

    def rules(
        self, scope: Scope = Scope(), at: At | int | None = None, until: date | None = None
    ) -> list[RuleStanding]:
        """Each unit's standing under each standing rule in scope (a round's, a unit's, or all), period by period,
        as of the position read and the business day `until` (default today), from the activities the caller
        may see."""
        if scope.category is not None or scope.department is not None:
            raise InvalidInput("scope", "standing rules belong to rounds and units, not to categories or departments")
        with self.view(at, scope) as view:
            rows, position, standing = view.ledger(scope), view.position, standing_of(view)
        shown = [r for r in rows if access.may_see_finding(self.actor, r)]
        found = aftercare.obligations(
            standing.rules, standing.rounds, shown, until or self.today, round_id=scope.round_id, unit_id=scope.unit_id
        )
        return [
            RuleStanding(
                id=o.rule.id,
                title=o.rule.title,
                round_id=o.rule.round_id,
                unit_id=o.unit_id,
                bound_unit_id=o.rule.unit_id,
                activity_kind=o.rule.current.activity_kind,
                minimum=o.rule.current.minimum,
                period=o.rule.current.period,
                starts_on=o.rule.starts_on,
                retired_on=o.rule.retired_on,
                periods=[RulePeriod.of(p) for p in o.periods],
                met=o.count(PeriodStatus.MET),
                missed=o.count(PeriodStatus.MISSED),
                running=o.count(PeriodStatus.RUNNING),
                position=self.shown(position),
            )
            for o in found
        ]

    def relapse_checks(
        self, scope: Scope = Scope(), states: tuple[aftercare.CheckState, ...] | None = None, at: At | int | None = None
    ) -> list[RelapseCheckDue]:
        """Closed findings awaiting their relapse check (回头看), soonest due first: by default the due and the
        overdue ones."""
        access.may_count_by_department(self.actor, scope.department, scope.unit_id)
        wanted = states or (aftercare.CheckState.OVERDUE, aftercare.CheckState.DUE)
        with self.view(at, scope) as view:
            rows, standing = view.ledger(scope), standing_of(view)
        shown = [r for r in rows if access.may_see_finding(self.actor, r)]
        return [
            RelapseCheckDue(self._finding(c.row), c.closed_on, c.due_on, c.state)
            for c in aftercare.pending_checks(shown, standing.rounds, self.today)
            if c.state in wanted
        ]

    def relapse_rates(self, by: str, scope: Scope = Scope(), at: At | int | None = None) -> list[RateRow]:
        """The relapse rate (relapsed of checked) per DEPARTMENT, CATEGORY or ROUND."""
        if by == "DEPARTMENT":
            access.may_count_by_department(self.actor, "", scope.unit_id)
        with self.view(at, scope) as view:
            rows, standing = view.ledger(scope), standing_of(view)
        shown = [r for r in rows if access.may_see_finding(self.actor, r)]
        key: Callable[[LedgerRow], tuple[str, str]]
        if by == "DEPARTMENT":
            # A unit token counts the departments of its own unit only.
            shown = [r for r in shown if self.actor.may_read_unit(r.unit_id)]
            key = aftercare.by_department
        elif by == "CATEGORY":
            key = aftercare.top_category(standing.rounds)
        elif by == "ROUND":
            key = aftercare.by_round(standing.rounds)
        else:
            raise InvalidInput("by", f"must be DEPARTMENT, CATEGORY or ROUND, got {by!r}")
        return [_rate(r) for r in aftercare.grouped(shown, key, aftercare.relapse_counts)]

    def repeat_rates(self, by: str, scope: Scope = Scope(), at: At | int | None = None) -> list[RateRow]:
        """The repeat rate (屡查屡犯: findings linked to an earlier round's finding, of all findings) per UNIT, or
        for the DISTRICT as one row."""
        with self.view(at, scope) as view:
            rows = view.ledger(scope)
            names = {u.id: u.short_name for u in view.aggregates(UnitAggregate)}
        shown = [r for r in rows if access.may_see_finding(self.actor, r)]
        actor = self.actor

        def sees_earlier(row: LedgerRow) -> bool:
            assert row.repeat_of is not None
            return access.may_see_repeat(actor, row, row.repeat_of.earlier_disclosure)

        key: Callable[[LedgerRow], tuple[str, str]]
        if by == "UNIT":
            key = aftercare.by_unit(names)
        elif by == "DISTRICT":
            key = lambda row: ("district", "全区")  # noqa: E731
        else:
            raise InvalidInput("by", f"must be UNIT or DISTRICT, got {by!r}")
        return [_rate(r) for r in aftercare.grouped(shown, key, aftercare.repeat_counts(sees_earlier))]

    def attachment(self, finding_id: UUID, attachment_id: UUID) -> AttachmentValue | None:
        """An attachment for download, if the caller may see it: None alike for none, another unit's internal
        finding, an internal attachment, or (for the public) a withdrawn one."""
        with self.view() as view:
            row = view.finding(finding_id)
        if row is None or not access.may_see_finding(self.actor, row):
            return None
        for found in row.evidence:
            if found.attachment_id == attachment_id:
                return found if access.may_see_attachment(self.actor, row, found) else None
        return None

    # -- notices --------------------------------------------------------------------------------

    def published(self, notice_id: UUID) -> Check | Gone | None:
        """A published notice as rebuilt from the log, if the caller may read it today; Gone for a
        public notice past its window; None for anything else (no such notice, or not for the caller)."""
        check = self.queries.check(notice_id)
        if check is None:
            return None
        p = check.publication
        if access.may_read_notice(p, self.actor, self.today):
            return check
        if p.edition is Edition.PUBLIC and self.today > p.window_until:
            return Gone(p.window_until)
        return None

    def notice(self, notice_id: UUID) -> NoticeText | None:
        found = self.published(notice_id)
        if not isinstance(found, Check):
            return None  # the same answer as for no such notice
        round_, _ = self.queries.notices.find(notice_id)
        return NoticeText(Publication.of(round_.id, found.publication), found)

    def notices_now(self) -> list[Publication]:
        """The notices the caller may read today, newest first."""
        with self.view() as view:
            rounds = view.aggregates(RoundAggregate)
        found = [
            Publication.of(r.id, p)
            for r in rounds
            for p in r.publications
            if access.may_read_notice(p, self.actor, self.today)
        ]
        return sorted(found, key=lambda p: (p.published_on, p.position), reverse=True)

    # -- proofs -----------------------------------------------------------------------------------

    def proof(self, position: int) -> proofs.Proof | None:
        """Proofs for the event at `position`: that it is in the signed tree head at the last position the
        caller may see, and that the log has only grown since the head at `position`. None alike for no event
        there, and an event the caller may not see (its leaf input would tell its aggregate, type and time)."""
        sealer = self.queries.sealer
        if sealer is None or not 1 <= position <= self.queries.app.head() or self.shown(position) != position:
            return None
        try:
            return proofs.make_proof(sealer, target=self.head(), leaf_at=position, first_at=position)
        except Unsealable as error:
            raise Unavailable(f"no proof for position {position}: {error}") from None
        except proofs.ProofUnavailable as error:
            if "holds no sealed event" in str(error):
                return None
            raise Unavailable(str(error)) from None

    def notice_proof(self, notice_id: UUID) -> proofs.Proof | None:
        """Proofs for a published notice the caller may read: that the log has only grown since the tree head
        the notice prints (v2 on; for a v1 notice, the head at its position), to the head at the last position
        the caller may see; and the leaf of the notice's last event, when the caller may see that event."""
        sealer = self.queries.sealer
        found = self.published(notice_id)
        if sealer is None or not isinstance(found, Check):
            return None
        p = found.publication
        printed = found.rendered.notice.tree_head
        first = keys.parse_note(printed.note) if printed is not None else None
        if first is None:
            first = sealer.head_at(p.position)
        last = first.head.position
        leaf = last if last >= 1 and self.shown(last) == last else None
        notice = proofs.NoticeRef(str(p.notice_id), p.sha256, p.position, p.template_version)
        try:
            return proofs.make_proof(
                sealer, target=max(self.head(), p.position), leaf_at=leaf, first=first, notice=notice
            )
        except (Unsealable, proofs.ProofUnavailable) as error:
            raise Unavailable(f"no proof for notice {notice_id}: {error}") from None

    # -- the event log ----------------------------------------------------------------------------

    def events(self, after: int = 0, first: int = 100) -> EventPage:
        """The log after a position: all of it for the office, a unit's own part for a unit."""
        access.log_scope(self.actor)
        size = page_size(first, MAX_EVENTS_PAGE)
        if after < 0:
            raise InvalidInput("after", "a position is 0 or more")
        head = self.head()
        events, cursor = self.log_after(after, size)
        return EventPage(events=events, next_cursor=cursor, head=head)

    def latest_events(self, up_to: int | None = None, last: int = 20) -> EventPage:
        """The last `last` events the caller may read at or before `up_to` (the head by default), oldest
        first: a feed's opening page. Positions are not counted back (the log has gaps where a transaction
        was rolled back, and a unit sees only its own part): windows are read backwards, each twice the last,
        until enough are found or MAX_SCAN positions were looked at."""
        unit = access.log_scope(self.actor)
        size = page_size(last, MAX_EVENTS_PAGE)
        if up_to is not None and up_to < 0:
            raise InvalidInput("upTo", "a position is 0 or more")
        head = self.head()
        top = head if up_to is None else min(up_to, head)
        app = self.queries.app
        found: list[eventlog.LoggedEvent] = []
        high, window = top, size
        while high > 0 and len(found) < size and top - high < MAX_SCAN:
            low = max(0, high - window)
            read = eventlog.read(app.recorder, app.mapper, after=low, limit=high - low)
            seen = [r for r in read if r.position <= high and (unit is None or unit in self.queries.owners.units(r))]
            found = seen + found
            high, window = low, window * 2
        found = found[-size:]
        return EventPage(events=found, next_cursor=found[-1].position if found else top, head=head)

    def log_after(self, after: int, size: int = MAX_EVENTS_PAGE) -> tuple[list[eventlog.LoggedEvent], int]:
        """Up to `size` events the caller may read after `after`, and the position to go on from."""
        unit = access.log_scope(self.actor)
        app = self.queries.app
        found: list[eventlog.LoggedEvent] = []
        scanned, looked_at = after, 0
        for record in eventlog.read(app.recorder, app.mapper, after=after, limit=MAX_SCAN):
            scanned, looked_at = record.position, looked_at + 1
            if unit is None or unit in self.queries.owners.units(record):
                found.append(record)
                if len(found) == size:
                    break
        if unit is None:
            return found, scanned
        # A unit's cursor must not tell how far the log reaches beyond what it may see: it goes on
        # from the last event the unit may see (or, past a long stretch it may not, the one before
        # the next it may).
        cursor = max(found[-1].position if found else after, self.shown(min(scanned, self.now())))
        if cursor == after and looked_at == MAX_SCAN:
            following = self.queries.read.next_seen(self._texts(), after)
            if following is not None:
                cursor = following - 1
        return found, cursor


def _rate(found: aftercare.Rate) -> RateRow:
    return RateRow(found.key, found.label, found.part, found.whole, found.rate)
