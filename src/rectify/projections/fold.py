"""The one fold: events in log order → aggregate states, by the domain's own apply methods.

The persisted views (incremental and rebuild) and every as-of replay run this same code; the
read models (ledger rows, the history index, the timeline, the audience index) are derived from
what it holds and from what it saw change.
"""

from __future__ import annotations

import copyreg
import gc
import io
import operator
import pickle
from collections.abc import Iterable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Mapper, Notification
from eventsourcing.utils import get_topic

from rectify.access import audience_of
from rectify.domain import Finding, Round, Unit
from rectify.domain.rule import StandingRule
from rectify.domain.values import Activity, shared, uuid_of
from rectify.projections.ledger import LedgerRow, ledger_row

#: An aggregate of the class asked for: `aggregates(Round)` gives Rounds.
AnAggregate = TypeVar("AnAggregate", bound=Aggregate)

PROJECTED = (Unit, Round, Finding, StandingRule)
PROJECTED_TOPICS = frozenset(
    get_topic(cls)
    for aggregate in PROJECTED
    for cls in vars(aggregate).values()
    if isinstance(cls, type) and issubclass(cls, aggregate.Event) and cls is not aggregate.Event
)
PROJECTED_EVENTS = (Unit.Event, Round.Event, Finding.Event, StandingRule.Event)

#: The timeline keeps, per chunk of this many positions, the earliest and latest record time.
CHUNK = 1024
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def microseconds(moment: datetime) -> int:
    """A record time as whole microseconds since 1970 (UTC): exact, and sorts like the time."""
    return (moment - EPOCH) // MICROSECOND


@contextmanager
def paused_garbage_collection() -> Iterator[None]:
    """Bulk folding (and bulk decoding of views) keeps a large heap alive, which makes the cyclic
    collector rescan it again and again; neither creates reference cycles, so the collector waits
    until the bulk work is done."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(slots=True)
class State:
    """An aggregate as folded so far, and the log position of its last event."""

    aggregate: Aggregate
    position: int


@dataclass(slots=True)
class Span:
    """Record times seen in one chunk of positions."""

    first: int
    last: int
    earliest: int
    latest: int

    def widen(self, first: int, last: int, earliest: int, latest: int) -> None:
        """Takes in more positions and record times (of one event, or of another Span)."""
        self.first, self.last = min(self.first, first), max(self.last, last)
        self.earliest, self.latest = min(self.earliest, earliest), max(self.latest, latest)


@dataclass
class Changes:
    """What a stretch of folding changed, for the store to write. Aggregates are keyed by
    `uuid.int`: a UUID hashes in Python code, an int in C, and the hot loop hashes a lot."""

    positions: dict[int, list[int]]  # the changed aggregates: new positions of their events, in order
    timeline: dict[int, Span]
    #: per audience (rectify.access.audience_of: EVERYONE or a unit's id), the positions of the
    #: events it may see, in order; events only the inspection office may see are not listed
    audiences: dict[str | UUID, list[int]] = field(default_factory=dict)
    #: per finding that existed before this stretch, its activities then: the store rewrites only the
    #: chunks of activities that differ (recorded activities are new items, retracted ones new objects)
    activities_before: dict[int, Sequence[Activity]] = field(default_factory=dict)

    @property
    def aggregates(self) -> Iterable[int]:
        return self.positions.keys()


def scope_of(aggregate: Aggregate) -> UUID:
    """The history scope of an aggregate's events: a finding's round; a standing rule's round, or its unit's
    (so that a round or a unit folded as of a position brings its rules); else the aggregate itself."""
    if isinstance(aggregate, Finding):
        return aggregate.round_id
    if isinstance(aggregate, StandingRule):
        scope = aggregate.round_id or aggregate.unit_id
        assert scope is not None  # a rule binds a round or a unit
        return scope
    return aggregate.id


@dataclass
class Fold:
    """Folds events into `states` (keyed by `uuid.int`), remembering what changed since `take_changes`."""

    states: MutableMapping[int, State] = field(default_factory=dict)
    position: int = 0
    changes: Changes = field(default_factory=lambda: Changes({}, {}))

    def apply(self, event: Any, position: int) -> None:
        """Folds one event found at `position` (an aggregate's events must come in their order);
        as-of replays of one round, which read events aggregate by aggregate, come this way."""
        if position > self.position:
            self.position = position
        if isinstance(event, PROJECTED_EVENTS):
            self._fold(event, position)

    def apply_all(self, notifications: Iterable[Notification], mapper: Mapper[UUID]) -> None:
        """Folds notifications in log order (the hot loop of every catch-up, rebuild and replay),
        noting the record times of each chunk of positions for the timeline."""
        decode = mapper.to_domain_event
        fold = self._fold
        projected = PROJECTED_TOPICS
        timeline = self.changes.timeline
        # A placeholder span: chunk -1 is no position's, so the first notification replaces it.
        chunk, span = -1, Span(0, 0, 0, 0)
        for notification in notifications:
            event = decode(notification)
            position = notification.id
            at = (event.timestamp - EPOCH) // MICROSECOND  # type: ignore[attr-defined] # our events all have one
            if position // CHUNK != chunk:
                chunk = position // CHUNK
                kept = timeline.get(chunk)
                if kept is None:
                    kept = timeline[chunk] = Span(position, position, at, at)
                span = kept
            span.widen(position, position, at, at)
            if notification.topic in projected:
                fold(event, position)
            if position > self.position:
                self.position = position

    def _fold(self, event: Any, position: int) -> None:
        key = event.originator_id.int
        changes = self.changes
        state = self.states.get(key)
        if state is None:
            state = self.states[key] = State(event.mutate(None), position)
        elif position <= state.position:
            raise ValueError(f"event at {position} is older than its aggregate's state (at {state.position})")
        else:
            # What event.mutate() does, minus its UUID comparison (slow, and the key just matched).
            aggregate = state.aggregate
            if key not in changes.positions and isinstance(aggregate, Finding):
                changes.activities_before[key] = aggregate.activities
            if event.originator_version != aggregate._version + 1:
                raise ValueError(f"{event!r} does not follow version {aggregate._version} of its aggregate")
            event.apply(aggregate)
            aggregate._version = event.originator_version
            aggregate._modified_on = event.timestamp
            state.position = position
        known = changes.positions.get(key)
        if known is None:
            changes.positions[key] = [position]
        else:
            known.append(position)
        audience = audience_of(event, state.aggregate)
        if audience is not None:
            seen = changes.audiences.get(audience)
            if seen is None:
                changes.audiences[audience] = [position]
            else:
                seen.append(position)

    @staticmethod
    def needs(notifications: Iterable[Notification]) -> dict[UUID, int]:
        """The aggregates these notifications change, each with the version it must be at before them."""
        before: dict[UUID, int] = {}
        for notification in notifications:
            if notification.topic in PROJECTED_TOPICS and notification.originator_id not in before:
                before[notification.originator_id] = notification.originator_version - 1  # type: ignore[index] # our aggregates' ids are UUIDs; the library allows str too
        return before

    def state(self, identifier: UUID) -> State | None:
        return self.states.get(identifier.int)

    def take_changes(self) -> Changes:
        taken, self.changes = self.changes, Changes({}, {})
        return taken

    # -- derived rows -------------------------------------------------------------------------

    def ledger_rows(self, ids: Iterable[int] | None = None, *, with_activities: bool = True) -> list[LedgerRow]:
        """The findings' ledger rows; `with_activities=False` for the store, which keeps activities apart."""
        chosen = self.states.values() if ids is None else (self.states[i] for i in ids if i in self.states)
        return [
            ledger_row(s.aggregate, s.position, with_activities=with_activities)
            for s in chosen
            if isinstance(s.aggregate, Finding)
        ]

    def aggregates(self, cls: type[AnAggregate]) -> list[AnAggregate]:
        return [s.aggregate for s in self.states.values() if isinstance(s.aggregate, cls)]


ACTIVITY_FIELDS = fields(Activity)
#: An activity's fields in order, read in one call (a chunk of 64 is pickled on every activity recorded).
_activity_values = operator.attrgetter(*(f.name for f in ACTIVITY_FIELDS))


def _activity(*values: Any) -> Activity:
    """Rebuilds a pickled activity as the process's one object for it (values.shared)."""
    return shared(Activity(*values))


class StateCodec:
    """Encodes rounds, units and ledger rows for the views' store.

    The views are a cache of the log, rebuilt whenever their format changes (VIEW_FORMAT), so
    they use pickle: exact for dates, decimals, enums and tuples, and many times faster than JSON.
    """

    dispatch = {
        **copyreg.dispatch_table,
        UUID: lambda u: (uuid_of, (u.int,)),
        Activity: lambda a: (_activity, _activity_values(a)),
    }

    def encode(self, value: object) -> bytes:
        if isinstance(value, Aggregate):
            assert not value.pending_events, "only saved state is projected"
        buffer = io.BytesIO()
        pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.dispatch_table = self.dispatch
        pickler.dump(value)
        return buffer.getvalue()

    def decode(self, data: bytes) -> Any:
        return pickle.loads(data)  # noqa: S301 - our own views, written by the code above


#: Bump when the pickled classes (aggregates, LedgerRow, …) or the tables change shape:
#: views in an older format are rebuilt from the log when rectify starts.
VIEW_FORMAT = 11
