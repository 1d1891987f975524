"""Queries and subscriptions: parse the input, call one method of the read side's front door in a thread, return
what it shaped.

A resolver's return annotation is the front door's value; the GraphQL type that reads it is given apart
(`graphql_type`), so that the type checker holds each resolver to what the front door returns."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import date
from typing import Any

import strawberry

from rectify import domain, eventlog, queries
from rectify import validation as v
from rectify.access import Role
from rectify.graphql.context import Context, blocking, context, reading
from rectify.graphql.mutations import LedgerImportProgress, ledger_import_progress
from rectify.graphql.types import (
    AsOf,
    EventPage,
    Finding,
    FindingFilter,
    FindingPage,
    LoggedEvent,
    NoticeText,
    Progress,
    Proof,
    Rate,
    RelapseCheckDue,
    RelapseRateBy,
    RepeatRateBy,
    Round,
    RuleStanding,
    ScopeInput,
    Unit,
    at_of,
    filter_of,
    scope_of,
)
from rectify.integrity import proofs
from rectify.projections.aftercare import CheckState
from rectify.projections.progress import Progress as ProgressFigures
from rectify.projections.progress import Scope
from rectify.queries import MAX_EVENTS_PAGE

#: Root query fields that read the log or a live position rather than the views: an answer
#: cached by the views' position could be stale, so the response cache leaves them alone.
LOG_FIELDS = frozenset({"head", "viewPosition", "events", "ledgerImport", "proof", "noticeProof"})


@strawberry.type
class Me:
    name: str
    role: Role
    unit_id: strawberry.ID | None


@strawberry.type
class Query:
    @strawberry.field(
        description="The position of the last event in the log (for the public and a unit: the last one they may see)."
    )
    async def head(self, info: strawberry.Info) -> int:
        return await blocking(reading(info).head)

    @strawberry.field(
        description="The position the views have reached (for the public and a unit: the last event they may see)."
    )
    async def view_position(self, info: strawberry.Info) -> int:
        return await blocking(reading(info).view_position)

    @strawberry.field(description="Who the bearer token stands for (the public without one).")
    def me(self, info: strawberry.Info) -> Me:
        actor = context(info).actor
        return Me(
            name=actor.name, role=actor.role, unit_id=strawberry.ID(str(actor.unit_id)) if actor.unit_id else None
        )

    @strawberry.field(graphql_type=list[Unit])
    async def units(self, info: strawberry.Info, as_of: AsOf | None = None) -> list[domain.Unit]:
        return await blocking(reading(info).units, at_of(as_of))

    @strawberry.field(graphql_type=list[Round])
    async def rounds(self, info: strawberry.Info, as_of: AsOf | None = None) -> list[queries.Round]:
        return await blocking(reading(info).rounds, at_of(as_of))

    @strawberry.field(graphql_type=Round | None)
    async def round(
        self,
        info: strawberry.Info,
        id: strawberry.ID,  # noqa: A002
        as_of: AsOf | None = None,
    ) -> queries.Round | None:
        return await blocking(reading(info).round, v.identifier("id", id), at_of(as_of))

    @strawberry.field(graphql_type=Finding | None, description="One finding, if the caller may see it.")
    async def finding(
        self,
        info: strawberry.Info,
        id: strawberry.ID,  # noqa: A002
        as_of: AsOf | None = None,
    ) -> queries.Finding | None:
        return await blocking(reading(info).finding, v.identifier("id", id), at_of(as_of))

    @strawberry.field(
        graphql_type=FindingPage, description="The ledger (整改台账): findings the caller may see, in category order."
    )
    async def ledger(
        self,
        info: strawberry.Info,
        scope: ScopeInput | None = None,
        filter: FindingFilter | None = None,  # noqa: A002
        first: int = 50,
        after: str | None = None,
        as_of: AsOf | None = None,
    ) -> queries.FindingPage:
        asked = (scope_of(scope), filter_of(filter), first, after, at_of(as_of))
        return await blocking(reading(info).ledger, *asked)

    @strawberry.field(
        graphql_type=Progress, description="Progress figures of a round, unit, category, department or the district."
    )
    async def progress(
        self,
        info: strawberry.Info,
        scope: ScopeInput | None = None,
        as_of: AsOf | None = None,
        until: date | None = None,
    ) -> ProgressFigures:
        return await blocking(reading(info).progress, scope_of(scope), at_of(as_of), until)

    @strawberry.field(
        graphql_type=list[RuleStanding],
        description="长效机制: each unit's standing under each standing rule in scope (a round's, a unit's, or all), "
        "period by period, from the activities the caller may see; `until`: the business day to judge on.",
    )
    async def rules(
        self,
        info: strawberry.Info,
        scope: ScopeInput | None = None,
        as_of: AsOf | None = None,
        until: date | None = None,
    ) -> list[queries.RuleStanding]:
        return await blocking(reading(info).rules, scope_of(scope), at_of(as_of), until)

    @strawberry.field(
        graphql_type=list[RelapseCheckDue],
        description="回头看: closed findings awaiting their relapse check, soonest first (default: DUE and OVERDUE).",
    )
    async def relapse_checks(
        self,
        info: strawberry.Info,
        scope: ScopeInput | None = None,
        states: list[CheckState] | None = None,
        as_of: AsOf | None = None,
    ) -> list[queries.RelapseCheckDue]:
        wanted = tuple(states) if states else None
        return await blocking(reading(info).relapse_checks, scope_of(scope), wanted, at_of(as_of))

    @strawberry.field(
        graphql_type=list[Rate], description="The relapse rate (relapsed of checked) per department, category or round."
    )
    async def relapse_rates(
        self, info: strawberry.Info, by: RelapseRateBy, scope: ScopeInput | None = None, as_of: AsOf | None = None
    ) -> list[queries.RateRow]:
        return await blocking(reading(info).relapse_rates, by.value, scope_of(scope), at_of(as_of))

    @strawberry.field(
        graphql_type=list[Rate],
        description="The repeat rate (屡查屡犯: findings linked to an earlier round's, of all findings) per unit or "
        "for the district.",
    )
    async def repeat_rates(
        self, info: strawberry.Info, by: RepeatRateBy, scope: ScopeInput | None = None, as_of: AsOf | None = None
    ) -> list[queries.RateRow]:
        return await blocking(reading(info).repeat_rates, by.value, scope_of(scope), at_of(as_of))

    @strawberry.field(
        graphql_type=NoticeText | None,
        description="A published notice's text, rebuilt from the log at its position, if the caller may see it.",
    )
    async def notice(self, info: strawberry.Info, id: strawberry.ID) -> queries.NoticeText | None:  # noqa: A002
        return await blocking(reading(info).notice, v.identifier("id", id))

    @strawberry.field(
        graphql_type=Proof | None,
        description="Proofs for the event at a position: that it is in the signed tree head at the last position the "
        "caller may see, and that the log has only grown since the head at that position. Null for no event there "
        "and for an event the caller may not see.",
    )
    async def proof(self, info: strawberry.Info, position: int) -> proofs.Proof | None:
        return await blocking(reading(info).proof, position)

    @strawberry.field(
        graphql_type=Proof | None,
        description="Proofs for a published notice the caller may read: that the log has only grown since the tree "
        "head the notice prints.",
    )
    async def notice_proof(self, info: strawberry.Info, id: strawberry.ID) -> proofs.Proof | None:  # noqa: A002
        return await blocking(reading(info).notice_proof, v.identifier("id", id))

    @strawberry.field(
        graphql_type=EventPage,
        description="The event log after a position (audit, replication): all of it for the inspection office "
        "and admins, a unit's own part for a unit token.",
    )
    async def events(self, info: strawberry.Info, after: int = 0, first: int = 100) -> queries.EventPage:
        return await blocking(reading(info).events, after, first)

    @strawberry.field(
        graphql_type=EventPage,
        description="The last `last` events the caller may read at or before `upTo` (the head by default), oldest "
        "first: a feed's opening page, counted in events, not positions. Go on with `events(after: nextCursor)`.",
    )
    async def latest_events(self, info: strawberry.Info, up_to: int | None = None, last: int = 20) -> queries.EventPage:
        return await blocking(reading(info).latest_events, up_to, last)

    ledger_import: LedgerImportProgress | None = strawberry.field(
        resolver=ledger_import_progress,
        description="How far the caller's own import (importLedger with this progressId) has got, on this server.",
    )


# -- subscriptions --------------------------------------------------------------------------


async def still_authorised(ctx: Context) -> None:
    """Ends a subscription whose token was revoked since the connection opened."""
    if ctx.recheck is not None and await ctx.recheck() is None:
        raise domain.Forbidden("the token of this connection was revoked")


def figures(progress: Any) -> tuple[Any, ...]:
    """What a progress push says, but for the position it was read at."""
    return tuple(value for name, value in vars(progress).items() if name != "position")


@strawberry.type
class Subscription:
    @strawberry.subscription(
        graphql_type=Progress,
        description="A round's progress now, then again after each committed event of it (for the public and "
        "other units: after each event that changes what they can see).",
    )
    async def progress_changed(
        self, info: strawberry.Info, round_id: strawberry.ID, until: date | None = None
    ) -> AsyncGenerator[ProgressFigures, None]:
        ctx = context(info)
        identifier = v.identifier("roundId", round_id)
        scope = Scope(round_id=identifier)
        signals = ctx.feed.signals()
        try:
            fresh = ctx.queries.reading(ctx.actor)  # each push reads at one position of its own
            sees_all = await blocking(fresh.sees_whole_round, identifier)
            latest = await blocking(fresh.progress, scope, None, until)
            read_at = fresh.now()
            yield latest
            async for signal in signals:
                await still_authorised(ctx)
                if signal.views and signal.position > read_at and signal.touches(identifier):
                    fresh = ctx.queries.reading(ctx.actor)
                    progress = await blocking(fresh.progress, scope, None, until)
                    read_at = fresh.now()
                    if sees_all or figures(progress) != figures(latest):
                        # Whoever may not see every finding hears only of changes to what they see (and
                        # the position they are shown moves only on what they may see): work on an
                        # internal finding must not show even as a moment.
                        yield progress
                    latest = progress
        finally:
            await signals.aclose()

    @strawberry.subscription(
        graphql_type=LoggedEvent, description="The log from a position on, every event in order, then live."
    )
    async def event_appended(self, info: strawberry.Info, after: int = 0) -> AsyncGenerator[eventlog.LoggedEvent, None]:
        ctx = context(info)
        cursor = after
        signals = ctx.feed.signals()
        try:
            while True:
                await still_authorised(ctx)
                batch, read_to = await blocking(ctx.queries.reading(ctx.actor).log_after, cursor, MAX_EVENTS_PAGE)
                for record in batch:
                    yield record
                if read_to == cursor:
                    await anext(signals)  # nothing new: wait until something is appended somewhere
                cursor = read_to
        finally:
            await signals.aclose()
