"""Asking the read models a question, now or as of any past point of the log.

"Now" reads the persisted views. "As of position P" (or of a record time, mapped to the last
position at or before it) folds the events again with the same fold: one round from that round's
events alone (found through the history index); the whole district from the views as they are,
with only what changed after P folded again from its own events.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.domain import Aggregate

from rectify.access import Actor, may_see_finding
from rectify.application import RectifyApplication
from rectify.domain import Finding, Round
from rectify.domain.errors import InvalidInput, Unavailable
from rectify.domain.rule import StandingRule
from rectify.domain.values import ActivityKind
from rectify.projections.fold import AnAggregate, Fold, microseconds, paused_garbage_collection
from rectify.projections.ledger import LedgerRow, LightThresholds
from rectify.projections.progress import Progress, Scope, progress
from rectify.projections.store import StoredView, ViewStore

#: Reading one aggregate's events costs about as much as folding this many events of the log.
PER_AGGREGATE = 8


class View(Protocol):
    """What every read model answers, persisted (StoredView) or folded in memory (FoldedView)."""

    position: int

    def ledger(self, scope: Scope = ...) -> list[LedgerRow]: ...

    def finding(self, finding_id: UUID) -> LedgerRow | None: ...

    def aggregates(self, cls: type[AnAggregate]) -> list[AnAggregate]: ...

    def aggregate(self, identifier: UUID) -> Aggregate | None: ...


class FoldedView:
    """The read models of a fold held in memory: an as-of replay."""

    def __init__(self, fold: Fold, position: int, rows: Iterable[LedgerRow] = ()) -> None:
        """`rows`: ledger rows of findings that are not in the fold, already as they were at `position`
        (their Finding aggregates are then not at hand: ask for their rows)."""
        self.fold = fold
        self.position = position
        rows = list(rows)
        self._findings_folded = not rows
        folded = fold.ledger_rows()
        #: what the view weighs in the cache of past states: its rows, and the activities of the findings
        #: folded for it (its own objects; the rows read from the views share theirs with the store's cache)
        self.weight = len(folded) + len(rows) + sum(len(r.activities) for r in folded)
        self._ledger = sorted([*folded, *rows], key=lambda r: (r.place, str(r.finding_id)))
        self._by_id = {row.finding_id: row for row in self._ledger}
        self._by_round: dict[UUID, list[LedgerRow]] = {}
        for row in self._ledger:
            self._by_round.setdefault(row.round_id, []).append(row)

    @property
    def size(self) -> int:
        """How many ledger rows it holds."""
        return len(self._ledger)

    def ledger(self, scope: Scope = Scope()) -> list[LedgerRow]:
        rows = self._ledger if scope.round_id is None else self._by_round.get(scope.round_id, [])
        return [r for r in rows if scope.matches(r)]

    def finding(self, finding_id: UUID) -> LedgerRow | None:
        return self._by_id.get(finding_id)

    def aggregates(self, cls: type[AnAggregate]) -> list[AnAggregate]:
        if issubclass(cls, Finding) and not self._findings_folded:
            raise TypeError("this view holds findings as ledger rows: ask ledger()")
        return sorted(self.fold.aggregates(cls), key=lambda a: str(a.id))

    def aggregate(self, identifier: UUID) -> Aggregate | None:
        """A unit, round or (where folded) finding; None for anything else, which includes the
        findings this view holds as ledger rows only (ask finding() for those)."""
        state = self.fold.state(identifier)
        return state.aggregate if state else None


@dataclass(frozen=True)
class At:
    """A past point of the log: a position, or a record time (the last position at or before it)."""

    position: int | None = None
    recorded_at: datetime | None = None


class ReadModels:
    """The read side: the live views, and any past state rebuilt by the same fold."""

    def __init__(
        self,
        app: RectifyApplication,
        store: ViewStore,
        *,
        today: Callable[[], date] | None = None,
        thresholds: LightThresholds = LightThresholds(),
        wait_for: Callable[[int, float], bool] | None = None,
        cache_size: int = 128,
        cache_rows: int = 200_000,
    ) -> None:
        self.app = app
        self.store = store
        self.today = today or app.today
        self.thresholds = thresholds
        self._wait_for = wait_for
        self._cache: OrderedDict[tuple[Any, ...], FoldedView] = OrderedDict()
        self._cache_size = cache_size
        # a district view of a big log holds many rows, a refolded finding many activities: bound them too
        self._cache_rows = cache_rows
        self._cached_rows = 0
        self._lock = threading.Lock()

    # -- positions --------------------------------------------------------------------------

    def resolve(self, at: At) -> int:
        """The log position `at` names, never beyond the head."""
        head = self.app.head()
        if at.position is not None:
            if at.position < 0:
                raise InvalidInput("asOf.position", "a position is 0 or more")
            return min(at.position, head)
        assert at.recorded_at is not None
        self._ensure_indexed(head)
        moment = microseconds(at.recorded_at)
        with self.store.snapshot() as view:
            settled, straddling = view.timeline(moment)
        found = settled
        for first, last in straddling:
            if last <= found:
                continue
            for notification in self.app.recorder.select_notifications(start=first, limit=last - first + 1, stop=last):
                # ignored below: every event of ours has a timestamp; the protocol the mapper declares has none
                if microseconds(self.app.mapper.to_domain_event(notification).timestamp) <= moment:  # type: ignore[attr-defined]
                    found = max(found, notification.id)
        return found

    def _ensure_indexed(self, position: int, timeout: float = 10.0) -> None:
        """The history index must cover `position` before an as-of read relies on it: wait for the
        runner of this process, or (none here) watch the views' position that another one moves."""
        if self._wait_for is not None and self._wait_for(position, timeout):
            return
        deadline = time.monotonic() + (0 if self._wait_for is not None else timeout)
        while self.store.tracking_position() < position:
            if time.monotonic() >= deadline:
                # No position in the message: to the public it could be one of an internal finding's events.
                raise Unavailable("the views have not caught up with the log yet; ask again shortly")
            time.sleep(0.05)

    def last_seen(self, audiences: list[str], position: int) -> tuple[int, int]:
        """The last event at or before `position` that one of these audiences may see, as far as the
        views know (audience index), and how far that is: the views' position."""
        with self.store.snapshot() as view:
            return view.last_seen(audiences, position), view.position

    def next_seen(self, audiences: list[str], position: int) -> int | None:
        """The first event after `position` that one of these audiences may see, as far as the views know."""
        with self.store.snapshot() as view:
            return view.next_seen(audiences, position)

    # -- views ------------------------------------------------------------------------------

    @contextmanager
    def view(self, at: At | None = None, scope: Scope = Scope()) -> Iterator[View]:
        """The read models now (persisted views), or as of `at` (folded again for the scope)."""
        if at is None:
            with self.store.snapshot() as stored:
                yield stored
            return
        yield self.as_of(self.resolve(at), scope)

    def as_of(
        self, position: int, scope: Scope = Scope(), read: Mapping[tuple[str, int], LedgerRow] | None = None
    ) -> FoldedView:
        """The read models as of `position` for the scope; `read`: ledger rows by (finding id, position)
        the caller read before, which a round's findings changed since are taken from."""
        if (district := self._kept(("district", position))) is not None:
            return district  # it holds every round and unit, and finds a round's rows by key
        if (round_id := scope.round_id) is not None:
            return self._cached(("round", round_id, position), lambda: self._round(round_id, position, read or {}))
        if scope.unit_id is not None:
            with self.store.snapshot() as stored:
                rounds = [r.id for r in stored.aggregates(Round) if scope.unit_id in r.unit_ids]
            return self.rounds_as_of(tuple(rounds), position)
        return self.district_as_of(position)

    def district_as_of(self, position: int) -> FoldedView:
        """Every read model as of `position`.

        What has not changed since `position` is taken from the views as they are now; only the
        aggregates changed after it are folded again, each from its own events up to it. When
        that would read more than the log up to `position`, the log is folded from its start.
        """
        return self._cached(("district", position), lambda: self._district(position))

    def _district(self, position: int) -> FoldedView:
        self._ensure_indexed(position)
        with paused_garbage_collection():  # folding and decoding make many objects and no cycles
            with self.store.snapshot() as stored:
                changed = stored.changed_after(position)
                if sum(version for version, _ in changed.values()) + PER_AGGREGATE * len(changed) < position:
                    return self._refold_changed(stored, changed, position)
            return self._replay(position)

    def _round(
        self, round_id: UUID, position: int, read: Mapping[tuple[str, int], LedgerRow] = MappingProxyType({})
    ) -> FoldedView:
        """One round as of `position`: from the views as they are, with only the findings changed since
        (and not kept as they were) folded again, when its round, units and rules have not changed since
        (StoredView.round_at); else from the round's own events. Under a stream of writes, a request
        whose views moved on after its first read comes this way: the replay costs its round's whole
        history, and each one kept in the cache held a copy of every activity."""
        self._ensure_indexed(position)
        with paused_garbage_collection():
            with self.store.snapshot() as stored:
                found = stored.round_at(round_id, position, read)
            if found is None:
                return self.rounds_as_of((round_id,), position)
            rows, states, refold = found
            fold = Fold({state.aggregate.id.int: state for state in states})
            if refold:
                self._fold_versions(fold, refold)
            fold.position = position
            fold.take_changes()
            return FoldedView(fold, position, rows)

    def _refold_changed(
        self, stored: StoredView, changed: dict[UUID, tuple[int, list[int]]], position: int
    ) -> FoldedView:
        """The district as of `position`: the views' settled rows and states, and the changed
        aggregates folded again from their own events up to it."""
        rows, states = stored.settled(position)
        fold = Fold({state.aggregate.id.int: state for state in states})
        self._fold_versions(fold, changed)
        fold.position = position
        fold.take_changes()
        return FoldedView(fold, position, rows)

    def rounds_as_of(self, round_ids: tuple[UUID, ...], position: int) -> FoldedView:
        """These rounds (their findings and units) as of `position`, from their own events alone."""
        key = ("rounds", tuple(sorted(map(str, round_ids))), position)
        return self._cached(key, lambda: self._replay_rounds(round_ids, position))

    def forget(self) -> None:
        """Drops the kept past states (each can be folded again)."""
        with self._lock:
            self._cache.clear()
            self._cached_rows = 0

    def _kept(self, key: tuple[Any, ...]) -> FoldedView | None:
        with self._lock:
            kept = self._cache.get(key)
            if kept is not None:
                self._cache.move_to_end(key)
            return kept

    def _cached(self, key: tuple[Any, ...], build: Callable[[], FoldedView]) -> FoldedView:
        # A past position's state never changes, so it can be kept.
        if (kept := self._kept(key)) is not None:
            return kept
        built = build()
        with self._lock:
            if key not in self._cache:
                self._cache[key] = built
                self._cached_rows += built.weight
            while len(self._cache) > 1 and (
                len(self._cache) > self._cache_size or self._cached_rows > self._cache_rows
            ):
                _, dropped = self._cache.popitem(last=False)
                self._cached_rows -= dropped.weight
        return built

    def _replay(self, position: int) -> FoldedView:
        fold = Fold()
        after = 0
        recorder = self.app.recorder
        while after < position:
            batch = recorder.select_notifications(start=after, limit=10_000, stop=position, inclusive_of_start=False)
            if not batch:
                break
            fold.apply_all(batch, self.app.mapper)
            after = batch[-1].id
        fold.take_changes()
        return FoldedView(fold, position)

    def _replay_rounds(self, round_ids: tuple[UUID, ...], position: int) -> FoldedView:
        self._ensure_indexed(position)
        fold = Fold()
        with paused_garbage_collection(), self.store.snapshot() as stored:
            self._fold_versions(fold, stored.versions_at(round_ids, position))
            unit_ids = {u for r in fold.aggregates(Round) for u in r.unit_ids}
            self._fold_versions(fold, stored.versions_at(unit_ids, position))
        fold.position = position
        fold.take_changes()
        return FoldedView(fold, position)

    def _fold_versions(self, fold: Fold, versions: dict[UUID, tuple[int, list[int]]]) -> None:
        for aggregate_id, (version, positions) in versions.items():
            for stored_event in self.app.recorder.select_events(aggregate_id, lte=version):
                fold.apply(
                    self.app.mapper.to_domain_event(stored_event), positions[stored_event.originator_version - 1]
                )

    # -- questions --------------------------------------------------------------------------

    def ledger(self, scope: Scope, audience: Actor, at: At | None = None) -> tuple[int, list[LedgerRow]]:
        with self.view(at, scope) as view:
            return view.position, [r for r in view.ledger(scope) if may_see_finding(audience, r)]

    def progress(self, scope: Scope, audience: Actor, at: At | None = None, cut: date | None = None) -> Progress:
        with self.view(at, scope) as view:
            return progress(
                view.ledger(scope),
                scope=scope,
                audience=audience,
                today=self.today(),
                position=view.position,
                cut=cut,
                thresholds=self.thresholds,
                catalogues=catalogues(view, scope),
                rules=view.aggregates(StandingRule),
                rounds=rounds_of(view),
            )


def rounds_of(view: View) -> dict[UUID, Round]:
    """The rounds a view holds, by id."""
    return {r.id: r for r in view.aggregates(Round)}


def catalogues(view: View, scope: Scope = Scope()) -> dict[UUID, tuple[ActivityKind, ...]]:
    """The catalogue of activity kinds of each round in scope, as of the view's position."""
    if scope.round_id is not None:
        round_ = view.aggregate(scope.round_id)
        return {round_.id: round_.activity_kinds} if isinstance(round_, Round) else {}
    return {r.id: r.activity_kinds for r in view.aggregates(Round)}
