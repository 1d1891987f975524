"""Resolvers: parse the input, call one read-model or application method in a thread, map the outcome."""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Callable
from datetime import date
from typing import Any, TypeVar
from uuid import UUID

import strawberry
from starlette.concurrency import run_in_threadpool

from rectify import domain, eventlog
from rectify import validation as v
from rectify.access import Actor, Role
from rectify.domain import Round as RoundAggregate
from rectify.domain import Unit as UnitAggregate
from rectify.graphql.context import Context
from rectify.graphql.types import (
    AsOf,
    CategoryProgress,
    EventPage,
    Finding,
    FindingFilter,
    FindingPage,
    LoggedEvent,
    NoticeText,
    Progress,
    Publication,
    Round,
    ScopeInput,
    Unit,
    UnitProgress,
    after_cursor,
    at_of,
    cursor_of,
)
from rectify.notice.service import may_read_notice
from rectify.projections import ledger
from rectify.projections.progress import Scope, visible_to
from rectify.projections.store import place_key
from rectify.projections.views import At

T = TypeVar("T")
MAX_PAGE = 100
MAX_EVENTS_PAGE = 500
MAX_SCAN = 5000
#: Root query fields that read the log or a live position rather than the views: an answer
#: cached by the views' position could be stale, so the response cache leaves them alone.
LOG_FIELDS = frozenset({"head", "viewPosition", "events"})


def context(info: strawberry.Info) -> Context:
    return info.context


async def blocking(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Runs store code (synchronous) in the thread pool, off the event loop."""
    return await run_in_threadpool(functools.partial(function, *args, **kwargs))


def may_ask_department(actor: Actor, department: str | None) -> None:
    if department is not None and actor.role is Role.PUBLIC:
        raise domain.Forbidden("department: responsibilities are not shown to the public")


def scope_of(actor: Actor, scope: ScopeInput | None) -> Scope:
    if scope is None:
        return Scope()
    may_ask_department(actor, scope.department)
    unit_id = v.identifier("scope.unitId", scope.unit_id) if scope.unit_id else None
    if scope.department is not None and actor.role is Role.UNIT and unit_id != actor.unit_id:
        # Another unit's responsibilities are not the caller's to see, nor to count.
        raise domain.Forbidden(
            "department: a unit token sees the departments of its own unit only (scope it with unitId)"
        )
    return Scope(
        round_id=v.identifier("scope.roundId", scope.round_id) if scope.round_id else None,
        unit_id=unit_id,
        category=tuple(v.ordinal("scope.category", n) for n in scope.category) if scope.category else None,
        department=scope.department,
    )


def page_size(first: int, maximum: int = MAX_PAGE) -> int:
    if not 1 <= first <= maximum:
        raise domain.InvalidInput("first", f"a page holds 1 to {maximum} items, asked for {first}")
    return first


def finding_type(ctx: Context, row: ledger.LedgerRow) -> Finding:
    read = ctx.system.read
    return Finding(row=row, full=ctx.actor.may_read_unit(row.unit_id), today=read.today(), thresholds=read.thresholds)


# -- queries --------------------------------------------------------------------------------


def _matches(
    row: ledger.LedgerRow,
    wanted: FindingFilter | None,
    unit: UUID | None,
    actor: Actor,
    today: date,
    thresholds: ledger.LightThresholds,
) -> bool:
    if wanted is None:
        return True
    return (
        (unit is None or row.unit_id == unit)
        and (wanted.status is None or row.status in wanted.status)
        and (wanted.category is None or Scope(category=tuple(wanted.category)).matches(row))
        # A department is restricted: a row the caller may not read in full matches no department.
        and (wanted.department is None or (actor.may_read_unit(row.unit_id) and row.department == wanted.department))
        and (wanted.overdue is None or row.is_overdue(today) == wanted.overdue)
        and (wanted.light is None or ledger.light(row, today, thresholds) == wanted.light.value)
        and (wanted.disclosure is None or row.disclosure is wanted.disclosure)
    )


async def finding_page(
    info: strawberry.Info,
    scope: ScopeInput | None,
    wanted: FindingFilter | None,
    first: int,
    after: str | None,
    at: At | None,
) -> FindingPage:
    ctx = context(info)
    actor = ctx.actor
    size = page_size(first)
    view_scope = scope_of(actor, scope)
    may_ask_department(actor, wanted.department if wanted else None)
    unit = v.identifier("filter.unitId", wanted.unit_id) if wanted and wanted.unit_id else None
    start = after_cursor(after) if after else None
    position, rows = await blocking(ctx.system.read.ledger, view_scope, actor, at)
    read = ctx.system.read
    today = read.today()
    matching = [r for r in rows if _matches(r, wanted, unit, actor, today, read.thresholds)]
    if start is not None:
        matching_after = [r for r in matching if (place_key(r.place), str(r.finding_id)) > start]
    else:
        matching_after = matching
    items = matching_after[:size]
    more = len(matching_after) > size
    return FindingPage(
        items=[finding_type(ctx, r) for r in items],
        total=len(matching),
        next_cursor=cursor_of(items[-1]) if more else None,
        position=position,
    )


async def progress_of(info: strawberry.Info, scope: ScopeInput | None, at: At | None, until: date | None) -> Progress:
    ctx = context(info)
    figures = await blocking(ctx.system.read.progress, scope_of(ctx.actor, scope), ctx.actor, at, until)
    return Progress.of(figures)


async def progress_by_unit(
    info: strawberry.Info, round_: RoundAggregate, at: At | None, until: date | None
) -> list[UnitProgress]:
    ctx = context(info)

    def load() -> list[UnitProgress]:
        with ctx.system.read.view(at, Scope(round_id=round_.id)) as view:
            units = [view.aggregate(u) for u in round_.unit_ids]
        return [
            UnitProgress(
                unit=Unit.of(unit),
                progress=Progress.of(
                    ctx.system.read.progress(Scope(round_id=round_.id, unit_id=unit.id), ctx.actor, at, until)
                ),
            )
            for unit in units
            if isinstance(unit, UnitAggregate)
        ]

    return await blocking(load)


async def progress_by_category(
    info: strawberry.Info, round_: RoundAggregate, at: At | None, until: date | None
) -> list[CategoryProgress]:
    ctx = context(info)
    tops = [c for c in round_.categories if len(c.path) == 1]

    def load() -> list[CategoryProgress]:
        return [
            CategoryProgress(
                path=list(c.path),
                title=c.title,
                progress=Progress.of(
                    ctx.system.read.progress(Scope(round_id=round_.id, category=c.path), ctx.actor, at, until)
                ),
            )
            for c in tops
        ]

    return await blocking(load)


async def units_of_round(info: strawberry.Info, round_: RoundAggregate, at: At | None) -> list[Unit]:
    ctx = context(info)

    def load() -> list[Unit]:
        with ctx.system.read.view(at, Scope(round_id=round_.id)) as view:
            units = [view.aggregate(u) for u in round_.unit_ids]
        return [Unit.of(u) for u in units if isinstance(u, UnitAggregate)]

    return await blocking(load)


async def finding_history(info: strawberry.Info, finding_id: UUID, version: int) -> list[LoggedEvent]:
    ctx = context(info)
    app = ctx.system.app

    def load() -> list[LoggedEvent]:
        with ctx.system.store.snapshot() as view:
            positions = view.positions_of(finding_id)
        return [LoggedEvent.of(r) for r in eventlog.history(app.recorder, app.mapper, finding_id, positions, version)]

    return await blocking(load)


@strawberry.type
class Me:
    name: str
    role: Role
    unit_id: strawberry.ID | None


@strawberry.type
class Query:
    @strawberry.field(description="The position of the last event in the log.")
    async def head(self, info: strawberry.Info) -> int:
        return await blocking(context(info).system.app.head)

    @strawberry.field(description="The position the views have reached.")
    async def view_position(self, info: strawberry.Info) -> int:
        return await blocking(context(info).system.store.tracking_position)

    @strawberry.field(description="Who the bearer token stands for (the public without one).")
    def me(self, info: strawberry.Info) -> Me:
        actor = context(info).actor
        return Me(
            name=actor.name, role=actor.role, unit_id=strawberry.ID(str(actor.unit_id)) if actor.unit_id else None
        )

    @strawberry.field
    async def units(self, info: strawberry.Info, as_of: AsOf | None = None) -> list[Unit]:
        ctx = context(info)

        def load() -> list[Unit]:
            with ctx.system.read.view(at_of(as_of)) as view:
                return [Unit.of(u) for u in view.aggregates(UnitAggregate)]  # type: ignore[arg-type] # aggregates(cls) gives instances of cls; it is declared to give Aggregates

        return await blocking(load)

    @strawberry.field
    async def rounds(self, info: strawberry.Info, as_of: AsOf | None = None) -> list[Round]:
        ctx = context(info)
        at = at_of(as_of)

        def load() -> list[Round]:
            with ctx.system.read.view(at) as view:
                return [Round(aggregate=r, at=at) for r in view.aggregates(RoundAggregate)]  # type: ignore[arg-type] # aggregates(cls) gives instances of cls; it is declared to give Aggregates

        return await blocking(load)

    @strawberry.field
    async def round(self, info: strawberry.Info, id: strawberry.ID, as_of: AsOf | None = None) -> Round | None:  # noqa: A002
        ctx = context(info)
        round_id = v.identifier("id", id)
        at = at_of(as_of)

        def load() -> RoundAggregate | None:
            with ctx.system.read.view(at, Scope(round_id=round_id)) as view:
                found = view.aggregate(round_id)
                return found if isinstance(found, RoundAggregate) else None

        found = await blocking(load)
        return Round(aggregate=found, at=at) if found else None

    @strawberry.field(description="One finding, if the caller may see it.")
    async def finding(self, info: strawberry.Info, id: strawberry.ID, as_of: AsOf | None = None) -> Finding | None:  # noqa: A002
        ctx = context(info)
        finding_id = v.identifier("id", id)
        at = at_of(as_of)

        def load() -> ledger.LedgerRow | None:
            with ctx.system.store.snapshot() as current:
                found = current.finding(finding_id)
            if at is None or found is None:
                return found
            with ctx.system.read.view(at, Scope(round_id=found.round_id)) as past:
                return past.finding(finding_id)

        row = await blocking(load)
        if row is None or not visible_to(ctx.actor, row):
            return None  # the same answer for an internal finding as for none at all
        return finding_type(ctx, row)

    @strawberry.field(description="The ledger (整改台账): findings the caller may see, in category order.")
    async def ledger(
        self,
        info: strawberry.Info,
        scope: ScopeInput | None = None,
        filter: FindingFilter | None = None,  # noqa: A002
        first: int = 50,
        after: str | None = None,
        as_of: AsOf | None = None,
    ) -> FindingPage:
        return await finding_page(info, scope, filter, first, after, at_of(as_of))

    @strawberry.field(description="Progress figures of a round, unit, category, department or the district.")
    async def progress(
        self,
        info: strawberry.Info,
        scope: ScopeInput | None = None,
        as_of: AsOf | None = None,
        until: date | None = None,
    ) -> Progress:
        return await progress_of(info, scope, at_of(as_of), until)

    @strawberry.field(
        description="A published notice's text, rebuilt from the log at its position, if the caller may see it."
    )
    async def notice(self, info: strawberry.Info, id: strawberry.ID) -> NoticeText | None:  # noqa: A002
        ctx = context(info)
        notice_id = v.identifier("id", id)

        def load() -> NoticeText | None:
            try:
                check = ctx.system.notices.rebuild(notice_id)
            except domain.NotFound:
                return None
            p = check.publication
            if may_read_notice(p, ctx.actor, ctx.system.read.today()):
                round_, _ = ctx.system.notices.find(notice_id)
                return NoticeText(
                    publication=Publication.of(round_.id, p),
                    markdown=check.rendered.markdown,
                    html=check.rendered.html(),
                    verified=check.ok,
                )
            return None  # the same answer as for no such notice

        return await blocking(load)

    @strawberry.field(
        description="The event log after a position (audit, replication): all of it for the inspection office "
        "and admins, a unit's own part for a unit token."
    )
    async def events(self, info: strawberry.Info, after: int = 0, first: int = 100) -> EventPage:
        ctx = context(info)
        readable = log_reader(ctx)
        size = page_size(first, MAX_EVENTS_PAGE)
        if after < 0:
            raise domain.InvalidInput("after", "a position is 0 or more")
        app = ctx.system.app

        def load() -> EventPage:
            head = app.head()
            records, cursor = read_log(ctx, readable, after, size)
            return EventPage(events=[LoggedEvent.of(r) for r in records], next_cursor=cursor, head=head)

        return await blocking(load)


def log_reader(ctx: Context) -> Callable[[eventlog.LoggedEvent], bool]:
    """Which events of the log the caller may read; the public may read none."""
    actor = ctx.actor
    if actor.role in (Role.INSPECTOR, Role.ADMIN, Role.SYSTEM):
        return lambda record: True
    if actor.role is Role.UNIT and actor.unit_id is not None:
        owners, unit_id = ctx.system.owners, actor.unit_id
        return lambda record: unit_id in owners.units(record)
    raise domain.Forbidden("the event log is open to the inspection office, admins, and a unit for its own part")


def read_log(
    ctx: Context, readable: Callable[[eventlog.LoggedEvent], bool], after: int, size: int
) -> tuple[list[eventlog.LoggedEvent], int]:
    """Up to `size` readable events after `after`, and the position read up to (the next cursor).

    At most MAX_SCAN events are looked at per call, so that a reader of a small part of a long
    log gets a short page and a cursor to go on from, rather than a scan of everything."""
    app = ctx.system.app
    found: list[eventlog.LoggedEvent] = []
    cursor = after
    for record in eventlog.read(app.recorder, app.mapper, after=after, limit=MAX_SCAN):
        cursor = record.position
        if readable(record):
            found.append(record)
            if len(found) == size:
                break
    return found, cursor


# -- subscriptions --------------------------------------------------------------------------


async def still_authorised(ctx: Context) -> None:
    """Ends a subscription whose token was revoked since the connection opened."""
    if ctx.recheck is not None and await ctx.recheck() is None:
        raise domain.Forbidden("the token of this connection was revoked")


def sees_whole_round(ctx: Context, round_id: UUID) -> bool:
    with ctx.system.read.view() as view:
        found = view.aggregate(round_id)
    return isinstance(found, RoundAggregate) and all(ctx.actor.may_read_unit(u) for u in found.unit_ids)


def figures(progress: Progress) -> dict[str, Any]:
    return {k: v for k, v in vars(progress).items() if k != "position"}


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="A round's progress now, then again after each committed event of it (for the public and "
        "other units: after each event that changes what they can see)."
    )
    async def progress_changed(
        self, info: strawberry.Info, round_id: strawberry.ID, until: date | None = None
    ) -> AsyncGenerator[Progress, None]:
        ctx = context(info)
        identifier = v.identifier("roundId", round_id)
        scope = ScopeInput(round_id=round_id)
        signals = ctx.feed.signals()
        try:
            sees_all = await blocking(sees_whole_round, ctx, identifier)
            latest = await progress_of(info, scope, None, until)
            yield latest
            async for signal in signals:
                await still_authorised(ctx)
                if signal.views and signal.position > latest.position and signal.touches(identifier):
                    fresh = await progress_of(info, scope, None, until)
                    if sees_all or figures(fresh) != figures(latest):
                        # Whoever may not see every finding hears only of changes to what they see:
                        # work on an internal finding must not show even as a moment.
                        yield fresh
                    latest = fresh
        finally:
            await signals.aclose()

    @strawberry.subscription(description="The log from a position on, every event in order, then live.")
    async def event_appended(self, info: strawberry.Info, after: int = 0) -> AsyncGenerator[LoggedEvent, None]:
        ctx = context(info)
        readable = log_reader(ctx)
        cursor = after
        signals = ctx.feed.signals()
        try:
            while True:
                await still_authorised(ctx)
                batch, read_to = await blocking(read_log, ctx, readable, cursor, MAX_EVENTS_PAGE)
                for record in batch:
                    yield LoggedEvent.of(record)
                if read_to == cursor:
                    await anext(signals)  # nothing new: wait until something is appended somewhere
                cursor = read_to
        finally:
            await signals.aclose()
