"""The audience index: per audience, the events it may see, so that positions shown to it move on nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from rectify import eventlog, settings
from rectify.access import EVERYONE, Actor, Role
from rectify.bootstrap import System, open_system
from rectify.domain.values import Disclosure
from rectify.examples import songyuan

TODAY = date(2026, 3, 12)
SYSTEM = Actor("tests", Role.SYSTEM)
INTERNAL = next(plan for plan in songyuan.FINDINGS if plan.disclosure is Disclosure.INTERNAL)


@pytest.fixture
def system(config: settings.Settings) -> Iterator[System]:
    built = open_system(config, run_projector=False, today=lambda: TODAY)
    loaded = songyuan.load(built.app, SYSTEM)
    unit = Actor("松园", Role.UNIT, loaded.unit_id)
    internal = loaded.finding_ids[INTERNAL.heading]
    built.app.issue_token(SYSTEM, role="INSPECTOR", label="巡察办")  # only the office sees tokens
    refund = {"kind": "清退资金", "occurred_on": "2025-12-01", "amount": "1", "unit": "万元"}
    built.app.record_activity(unit, finding_id=internal, idempotency_key="k", **refund)
    built.projector.catch_up()
    yield built
    built.close()


def test_the_index_names_for_each_audience_exactly_the_events_it_may_see(system: System) -> None:
    """Checked at every position against the log, each event classified on its own (the way events the
    views have not reached yet are)."""
    app = system.app
    audiences = {r.position: system.owners.audience(r) for r in eventlog.read(app.recorder, app.mapper)}
    unit = str(songyuan_unit(system))
    assert {a if a in (EVERYONE, None) else str(a) for a in audiences.values()} == {EVERYONE, unit, None}
    for asked in ([EVERYONE], [EVERYONE, unit], [unit]):
        seen = [p for p, a in audiences.items() if a is not None and (a if a == EVERYONE else str(a)) in asked]
        for position in range(app.head() + 2):
            assert system.read.last_seen(asked, position)[0] == max((p for p in seen if p <= position), default=0)
            assert system.read.next_seen(asked, position) == min((p for p in seen if p > position), default=None)


def test_a_rebuild_writes_the_same_index_as_batch_after_batch(system: System) -> None:
    with system.store.snapshot() as view:
        incremental = view.dump()["audience"]  # type: ignore[attr-defined]
    system.projector.rebuild()
    with system.store.snapshot() as view:
        assert view.dump()["audience"] == incremental  # type: ignore[attr-defined]
    assert {row[0] for row in incremental} == {EVERYONE, str(songyuan_unit(system))}


def songyuan_unit(system: System) -> object:
    with system.store.snapshot() as view:
        return next(row.unit_id for row in view.ledger() if row.disclosure is Disclosure.INTERNAL)


def test_a_position_shown_just_after_a_write_is_found_among_the_events_saved_without_asking_the_views(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command's answer asks at once which of its write's positions the caller is shown. The last few
    events this process saved tell, read from memory, when one of them is the caller's to see; else the
    views' index is asked, as for any other position."""
    app = system.app
    unit_id = songyuan_unit(system)
    with system.store.snapshot() as view:
        internal = next(row.finding_id for row in view.ledger() if row.disclosure is Disclosure.INTERNAL)
    unit, public = Actor("松园", Role.UNIT, unit_id), Actor("公众", Role.PUBLIC)  # type: ignore[arg-type]
    refund = {"kind": "清退资金", "occurred_on": "2025-12-02", "amount": "2", "unit": "万元"}
    for n in range(5):  # ten events the public may not see: each activity and the record saved with it
        written = app.record_activity(unit, finding_id=internal, idempotency_key=f"k{n}", **refund)
    assert written.position == app.head() and written.own_position == written.position - 1  # the record is last
    audiences = {r.position: system.owners.audience(r) for r in eventlog.read(app.recorder, app.mapper)}

    def expected(visible: set[object], position: int) -> int:
        return max((p for p, a in audiences.items() if p <= position and a in visible), default=0)

    asked: list[int] = []
    last_seen = system.read.last_seen
    monkeypatch.setattr(system.read, "last_seen", lambda *args: asked.append(args[1]) or last_seen(*args))
    for position in (written.position, written.own_position):
        assert (
            system.queries.reading(unit).shown(position)
            == expected({EVERYONE, unit_id}, position)
            == written.own_position
        )
    assert asked == []  # the unit's own activity, just saved: found in memory
    assert system.queries.reading(public).shown(written.position) == expected({EVERYONE}, written.position)
    assert asked == [written.position]  # none of the last eight saved is the public's: the views' index answered
