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
