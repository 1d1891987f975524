"""Activities are stored in chunks apart from the ledger row: what recording one writes does not grow with history."""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from rectify.access import Actor, Role
from rectify.bootstrap import System
from rectify.domain.values import Activities
from rectify.examples.songyuan import Loaded
from rectify.projections.ledger import LedgerRow
from rectify.projections.runner import Projector
from rectify.projections.store import ACTIVITY_CHUNK, HISTORY_CHUNK
from scenario import load_reference

FINDING = "人居环境品质有效提升"


class CountingCursor:
    """A view store's write cursor that counts the bytes of the values it writes, per table."""

    def __init__(self, cursor: Any, written: Counter[str]) -> None:
        self.cursor = cursor
        self.written = written

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        self._count(statement, [params])
        self.cursor.execute(statement, params)

    def executemany(self, statement: str, params: Sequence[Sequence[Any]]) -> None:
        self._count(statement, params)
        self.cursor.executemany(statement, params)

    def _count(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if not statement.startswith("INSERT INTO"):
            return
        name = statement.split()[2].split("_", 2)[-1]  # rectify_g1_ledger → ledger
        self.written[name] += sum(len(v) for row in rows for v in row if isinstance(v, bytes | str))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cursor, name)


@contextmanager
def counting_writes(system: System) -> Iterator[Counter[str]]:
    store = system.store
    writing = store.writing
    written: Counter[str] = Counter()

    @contextmanager
    def counted(*, durable: bool = True) -> Iterator[Any]:
        with writing(durable=durable) as cursor:
            yield CountingCursor(cursor, written)

    store.writing = counted  # type: ignore[method-assign]
    try:
        yield written
    finally:
        store.writing = writing  # type: ignore[method-assign]


def record(system: System, loaded: Loaded, count: int) -> list[Counter[str]]:
    """Records `count` activities on the finding one at a time, the views caught up after each; what
    each catch-up wrote."""
    unit = Actor("u", Role.UNIT, loaded.unit_id)
    finding = loaded.finding_ids[FINDING]
    each = []
    for i in range(count):
        system.app.record_activity(
            unit, finding_id=finding, kind="大扫除", occurred_on="2026-03-10", count=1, description=f"第{i}次入户"
        )
        with counting_writes(system) as written:
            system.projector.catch_up()
        each.append(written)
    return each


def per_activity(writes: list[Counter[str]], tables: tuple[str, ...]) -> float:
    return sum(w[t] for w in writes for t in tables) / len(writes)


def test_recording_an_activity_writes_as_many_bytes_late_in_a_history_as_early(system: System, loaded: Loaded) -> None:
    cycle = math.lcm(ACTIVITY_CHUNK, HISTORY_CHUNK)  # each chunk's fill goes through all its sizes once
    writes = record(system, loaded, 3 * cycle)
    early, late = writes[:cycle], writes[-cycle:]
    finding = ("ledger", "activities", "history")  # the log's own indexes (audience, timeline) grow with the log
    assert per_activity(late, finding) <= 1.05 * per_activity(early, finding)
    assert max(w["ledger"] for w in late) <= 1.05 * max(w["ledger"] for w in early)
    assert max(w["activities"] for w in writes) < 8 * 1024  # one chunk, never the whole history
    assert max(w["history"] for w in writes) < 8 * HISTORY_CHUNK + 256  # one chunk of positions and two ids
    with system.store.snapshot() as view:
        row = view.finding(loaded.finding_ids[FINDING])
        assert row is not None and len(row.activities) > 3 * cycle
        assert len(view.positions_of(row.finding_id)) == row.version > 3 * HISTORY_CHUNK


def test_a_retraction_rewrites_its_own_chunk_and_reads_see_it(system: System, loaded: Loaded) -> None:
    finding = loaded.finding_ids[FINDING]
    record(system, loaded, 2 * ACTIVITY_CHUNK)
    with system.store.snapshot() as view:
        before = view.finding(finding)
    assert before is not None
    first = before.activities[0]
    system.app.retract_activity(
        Actor("u", Role.UNIT, loaded.unit_id), finding_id=finding, activity_id=first.activity_id, reason="重复登记"
    )
    with counting_writes(system) as written:
        system.projector.catch_up()
    whole = len(system.store.codec.encode(before.activities))
    assert 0 < written["activities"] < whole / 2  # the first chunk only
    with system.store.snapshot() as view:  # the kept chunks of the earlier read, and the one written since
        after = view.finding(finding)
    assert after is not None
    assert after.activities[0].retracted and not first.retracted
    assert after.activities[1:] == before.activities[1:]
    system.store.kept_rows.clear()
    system.store.kept_activities.clear()
    with system.store.snapshot() as view:  # every chunk read afresh
        assert view.finding(finding) == after
    assert system.read.district_as_of(after.position).finding(finding) == after


def test_a_read_after_a_write_shares_the_activities_read_before_it(system: System, loaded: Loaded) -> None:
    """The views decode only the chunks written since the last read, and the row read then holds the earlier
    activities themselves: under a stream of writes, each read costs what was written, not the history."""
    finding = loaded.finding_ids[FINDING]
    record(system, loaded, 3 * Activities.CHUNK + 5)
    with system.store.snapshot() as view:
        before = view.finding(finding)
    record(system, loaded, 1)
    with system.store.snapshot() as view:
        after = view.finding(finding)
    assert before is not None and after is not None
    assert isinstance(before.activities, Activities) and isinstance(after.activities, Activities)
    assert len(after.activities) == len(before.activities) + 1
    rewritten = (len(before.activities) - 1) // ACTIVITY_CHUNK * ACTIVITY_CHUNK  # the last chunk, written again
    assert after.activities.startswith(before.activities.prefix(rewritten))
    assert after.activities[:rewritten] == before.activities[:rewritten]


def test_the_write_side_the_views_and_the_rows_read_hold_one_object_per_activity(
    system: System, loaded: Loaded
) -> None:
    """Each decodes a finding's activities on its own, from events or from the views' chunks; in one
    process each activity is one object however many of them hold it."""
    finding = loaded.finding_ids[FINDING]
    record(system, loaded, ACTIVITY_CHUNK + 2)
    with system.store.snapshot() as view:
        row = view.finding(finding)
    assert row is not None
    folded = system.app.repository.get(finding)
    assert len(row.activities) == len(folded.activities) > ACTIVITY_CHUNK
    assert all(read is written for read, written in zip(row.activities, folded.activities, strict=True))


@pytest.mark.parametrize("later", [1, ACTIVITY_CHUNK + 3])
def test_rows_read_at_an_older_snapshot_find_their_own_activities_kept(
    system: System, loaded: Loaded, later: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last few positions read of a finding's activities are kept: a reader whose snapshot is older than
    another's, which read since, finds its own version there, where it decoded the whole history before."""
    finding = loaded.finding_ids[FINDING]
    record(system, loaded, 2 * ACTIVITY_CHUNK)
    with system.store.snapshot() as view:
        view.finding(finding)  # what was read at the older position is kept
    opened, written = threading.Event(), threading.Event()
    older: list[LedgerRow | None] = []

    def read_from_an_older_snapshot() -> None:  # its own thread: a thread's nested reads share one snapshot
        with system.store.snapshot() as old:
            old.cursor.execute(f"SELECT count(*) FROM {old._t('ledger')}")  # the snapshot starts here
            opened.set()
            written.wait(60)
            older.append(old.finding(finding))

    reader = threading.Thread(target=read_from_an_older_snapshot)
    reader.start()
    assert opened.wait(10)
    decoded: list[bytes] = []
    try:
        record(system, loaded, later)
        with system.store.snapshot() as new:
            newer = new.finding(finding)
            generation = new.generation
        decode = system.store.codec.decode
        monkeypatch.setattr(system.store.codec, "decode", lambda data: decoded.append(data) or decode(data))
    finally:
        written.set()
        reader.join(60)
    assert newer is not None and older[0] is not None
    assert len(newer.activities) == len(older[0].activities) + later
    assert newer.activities[: len(older[0].activities)] == older[0].activities
    assert len(decoded) <= 1  # its row, if not kept; none of its activities' chunks
    kept = system.store.kept_activities.get((generation, str(finding)))
    assert kept is not None and [v.position for v in kept] == [older[0].position, newer.position]


def test_the_projector_keeps_folded_aggregates_within_a_bound_in_bytes(system: System) -> None:
    """A finding with thousands of activities weighs thousands of times a fresh one: counting entries bounds nothing."""
    load_reference(system.app)
    projector = Projector(system.app, system.store, cache_bytes=24 * 1024)
    projector.catch_up()
    kept = projector._cache
    assert 0 < kept.nbytes <= 24 * 1024
    assert 0 < len(kept) < 10  # of the reference round's 16 aggregates, each charged by its events


def test_the_last_event_at_or_before_a_position_is_found_in_any_history_chunk(system: System, loaded: Loaded) -> None:
    finding = loaded.finding_ids[FINDING]
    record(system, loaded, 2 * HISTORY_CHUNK + 5)
    with system.store.snapshot() as view:
        everything = view.positions_of(finding)
        for position in {everything[0], everything[3], everything[HISTORY_CHUNK + 1], everything[-2], everything[-1]}:
            found = system.store.last_positions(view.cursor, view.generation, [finding], position)
            assert found == {finding: max(p for p in everything if p <= position)}, position
        assert system.store.last_positions(view.cursor, view.generation, [finding], everything[0] - 1) == {}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_chunks_written_after_a_position_are_found_by_index_not_by_reading_every_chunk(system: System) -> None:
    """On SQLite, whose planner takes the index for the query as written (PostgreSQL's decides by its statistics)."""
    with system.store.snapshot() as view:
        view.cursor.execute(
            f"EXPLAIN QUERY PLAN SELECT chunk, activities FROM {view._t('activities')} "
            "WHERE finding_id = ? AND position > ?",
            ("x", 0),
        )
        plan = " ".join(str(row[-1]) for row in view.cursor.fetchall())
    assert "activities_written" in plan and "position>?" in plan.replace(" ", ""), plan


def test_a_long_history_packed_in_every_process_reads_and_retracts_as_the_log_says(
    system: System, loaded: Loaded
) -> None:
    """Past LOOSE chunks, the write side, the projector and the rows read each hold the older activities
    packed; the rows still say what a rebuild from the log says, as of any position, and a retraction of a
    packed activity rewrites its own chunk only."""
    finding = loaded.finding_ids[FINDING]
    unit = Actor("u", Role.UNIT, loaded.unit_id)
    before = len(system.app.repository.get(finding).activities)
    record(system, loaded, (Activities.LOOSE + 2) * Activities.CHUNK - before)
    with system.store.snapshot() as view:
        row = view.finding(finding)
    written = system.app.repository.get(finding).activities
    assert row is not None and isinstance(row.activities, Activities) and isinstance(written, Activities)
    assert row.activities.packed[0] == written.packed[0] == 2 * Activities.CHUNK
    assert list(row.activities) == list(written)
    halfway = system.read.district_as_of(row.position - 300).finding(finding)
    assert halfway is not None and halfway.activities == written[: len(halfway.activities)]
    first = written[0]
    system.app.retract_activity(unit, finding_id=finding, activity_id=first.activity_id, reason="重复登记")
    with counting_writes(system) as writes:
        system.projector.catch_up()
    assert 0 < writes["activities"] < 8 * 1024  # the first chunk, not the history
    with system.store.snapshot() as view:
        after = view.finding(finding)
    assert after is not None and after.activities[0].retracted
    assert after.activities[1:] == row.activities[1:]
    system.store.kept_rows.clear()
    system.store.kept_activities.clear()
    with system.store.snapshot() as view:
        assert view.finding(finding) == after
    assert system.read.district_as_of(after.position).finding(finding) == after


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # SQLite's progress handler counts the steps
def test_reading_a_round_as_of_a_recent_position_costs_the_same_late_in_its_history(
    system: System, loaded: Loaded
) -> None:
    """StoredView.round_at finds the round's own aggregates by their first history chunk. Indexed on scope
    alone, it looked at every history chunk of every finding of the round: a cost that grew with the round's
    history, and under the soak the server's CPU per request stepped up by a sixth. Counted in SQLite's
    virtual-machine steps (a progress handler), not in time."""
    finding = loaded.finding_ids[FINDING]
    unit = Actor("u", Role.UNIT, loaded.unit_id)
    round_id = system.app.finding(finding).round_id

    def steps_of_a_read(more: int) -> int:
        system.app.batch(
            lambda: [
                system.app.record_activity(
                    unit, finding_id=finding, kind="大扫除", occurred_on="2026-03-10", count=1, description=f"{i}"
                )
                for i in range(more)
            ]
        )
        system.projector.catch_up()
        with system.store.snapshot() as view:
            counted = [0]
            view.cursor.connection.set_progress_handler(lambda: counted.__setitem__(0, counted[0] + 1) or 0, 10)
            try:
                assert view.round_at(round_id, view.position - 1) is not None
            finally:
                view.cursor.connection.set_progress_handler(None, 10)
        return counted[0]

    early = steps_of_a_read(HISTORY_CHUNK)
    late = steps_of_a_read(60 * HISTORY_CHUNK)
    assert late <= 1.25 * early
