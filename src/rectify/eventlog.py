"""The event log as records a person or a client can read: position, type, actor, dates, payload."""

from __future__ import annotations

import dataclasses
import enum
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, Notification

from rectify.access import audience_of
from rectify.domain import Finding, Round, Unit
from rectify.domain.rule import StandingRule

ENVELOPE = {"originator_id", "originator_version", "timestamp", "originator_topic", "actor"}


@dataclass(frozen=True)
class LoggedEvent:
    position: int
    aggregate_id: UUID
    version: int
    type: str  # e.g. "Finding.ActivityRecorded"
    recorded_at: datetime
    actor: str
    business_date: date | None
    payload: dict[str, Any]
    event: DomainEventProtocol[UUID]


def plain(value: Any) -> Any:
    """A JSON-ready copy of an event field: dates as ISO text, decimals as exact text, enums by value."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (Decimal, UUID)):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def type_name(topic: str) -> str:
    return topic.rpartition(":")[2]


def describe(notification: Notification, mapper: Mapper[UUID]) -> LoggedEvent:
    event = mapper.to_domain_event(notification)
    fields = vars(event)
    return LoggedEvent(
        position=notification.id,
        aggregate_id=event.originator_id,
        version=event.originator_version,
        type=type_name(notification.topic),
        recorded_at=fields["timestamp"],
        actor=fields.get("actor", ""),
        business_date=fields.get("occurred_on"),
        payload={k: plain(v) for k, v in fields.items() if k not in ENVELOPE},
        event=event,
    )


class Recent:
    """The notifications this process saved last, in order, for the reads of the log just after them.

    The projector reads the log after its position, which under a stream of writes is the event this
    process has just saved (and a unit's answer looks at the events just before its write): each read
    cost a transaction and a query of the store, 28 % of the projector's work per command. Positions are
    the store's, and an event is at one position only, so a run of saved notifications that starts right
    after a position is what the store holds there. Anything else (another process's events in between,
    a position skipped by a rolled back insert, an event saved before this process started) is read from
    the store, as before."""

    SIZE = 256

    def __init__(self) -> None:
        self._saved: deque[Notification] = deque(maxlen=self.SIZE)
        self._lock = threading.Lock()

    def saved(self, notifications: Iterable[Notification]) -> None:
        with self._lock:
            self._saved.extend(notifications)

    def after(self, position: int, limit: int) -> list[Notification] | None:
        """The saved notifications at position + 1 onwards, as far as their positions run on without a gap
        (at most `limit`); None unless the one at position + 1 is among them."""
        run: list[Notification] = []
        with self._lock:
            for notification in reversed(self._saved):  # the ones asked for are the last few
                if notification.id <= position:
                    break
                run.append(notification)
        if not run or run[-1].id != position + 1:
            return None
        run.reverse()
        ends = next((i for i, n in enumerate(run) if n.id != position + 1 + i), len(run))
        return run[: min(ends, limit)]


def notifications_after(recorder: Any, recent: Recent | None, position: int, limit: int) -> list[Notification]:
    """The log's notifications after `position` (at most `limit`): those this process just saved, else the store's."""
    found = recent.after(position, limit) if recent is not None else None
    if found is None:
        found = list(recorder.select_notifications(start=position, limit=limit, inclusive_of_start=False))
    return found


def read(
    recorder: Any,
    mapper: Mapper[UUID],
    *,
    after: int = 0,
    limit: int | None = None,
    batch: int = 1000,
    recent: Recent | None = None,
) -> Iterator[LoggedEvent]:
    """The log after a position, in order, in batches; stops after `limit` events if given. With `recent`,
    the events this process has just saved are not read from the store again."""
    remaining = limit
    while remaining is None or remaining > 0:
        size = batch if remaining is None else min(batch, remaining)
        notifications = notifications_after(recorder, recent, after, size)
        if not notifications:
            return
        for notification in notifications:
            yield describe(notification, mapper)
        after = notifications[-1].id
        if remaining is not None:
            remaining -= len(notifications)


def history(
    recorder: Any, mapper: Mapper[UUID], aggregate_id: UUID, positions: list[int], version: int | None = None
) -> list[LoggedEvent]:
    """One aggregate's events, oldest first (up to `version`), each at its log position (from the
    history index: `positions[v - 1]` is where version v sits; 0 if the index has not reached it)."""
    records = []
    for stored in recorder.select_events(aggregate_id, lte=version):
        v = stored.originator_version
        notification = Notification(
            id=positions[v - 1] if v <= len(positions) else 0,
            originator_id=stored.originator_id,
            originator_version=v,
            topic=stored.topic,
            state=stored.state,
        )
        records.append(describe(notification, mapper))
    return records


class Owners:
    """Which units an event concerns, so that a unit may read its own part of the log.

    A finding's unit and a round's units are fixed when they are created: the created event is
    read once per aggregate and kept.
    """

    def __init__(self, recorder: Any, mapper: Mapper[UUID], size: int = 50_000) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self.size = size
        self._created: dict[UUID, Any] = {}

    def units(self, logged: LoggedEvent) -> frozenset[UUID]:
        event = logged.event
        if isinstance(event, Unit.Event):
            return frozenset({event.originator_id})
        if isinstance(event, Round.NarrativeDrafted):
            return frozenset({event.narrative.unit_id})
        if isinstance(event, Round.NoticePublished):
            return frozenset({event.publication.unit_id})
        if isinstance(event, Finding.Event):
            return frozenset({self._created_event(event).unit_id})
        if isinstance(event, Round.Event):
            return frozenset(self._created_event(event).unit_ids)
        if isinstance(event, StandingRule.Event):
            bound = self._created_event(event).unit_id
            return frozenset({bound}) if bound is not None else frozenset()
        return frozenset()  # access tokens, idempotency records: nobody's part of the log

    def audience(self, logged: LoggedEvent) -> str | UUID | None:
        """Who may see that the event happened (rectify.access.audience_of)."""
        return self.audience_of(logged.event)

    def audience_of(self, event: Any) -> str | UUID | None:
        """`audience` of a domain event, for a caller that has not described it (its payload unneeded)."""
        return audience_of(event, self._created_event(event) if isinstance(event, Finding.Event) else None)

    def _created_event(self, event: Any) -> Any:
        if event.originator_version == 1:
            return event
        found = self._created.get(event.originator_id)
        if found is None:
            stored = self.recorder.select_events(event.originator_id, lte=1)
            found = self.mapper.to_domain_event(stored[0])
            if len(self._created) >= self.size:
                self._created.clear()
            self._created[event.originator_id] = found
        return found
