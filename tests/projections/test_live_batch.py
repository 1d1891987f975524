"""The projector's live batch: what folding one new event costs the views' store, and the feed's
revocations taken from the batch (issue 11). Counts of statements and transactions, never timings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from rectify.access import Actor, Role
from rectify.bootstrap import System
from rectify.examples import songyuan
from rectify.projections.feed import Feed
from rectify.projections.runner import Runner
from scenario import load_reference

SYSTEM = Actor("system", Role.SYSTEM)


class CountingCursor:
    """A view-store cursor that counts the statements sent through it."""

    def __init__(self, cursor: Any, counts: dict[str, int]) -> None:
        self._cursor = cursor
        self._counts = counts

    def execute(self, statement: str, params: Any = ()) -> None:
        self._counts["statements"] += 1
        self._cursor.execute(statement, params)

    def executemany(self, statement: str, params: Any) -> None:
        self._counts["statements"] += 1
        self._cursor.executemany(statement, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def counted(system: System, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    counts = {"reads": 0, "writes": 0, "statements": 0}
    store = system.store
    reading, writing = store.reading, store.writing

    @contextmanager
    def counted_reading() -> Iterator[Any]:
        counts["reads"] += 1
        with reading() as cursor:
            yield CountingCursor(cursor, counts)

    @contextmanager
    def counted_writing(**options: Any) -> Iterator[Any]:
        counts["writes"] += 1
        with writing(**options) as cursor:
            yield CountingCursor(cursor, counts)

    monkeypatch.setattr(store, "reading", counted_reading)
    monkeypatch.setattr(store, "writing", counted_writing)
    return counts


def test_each_live_event_is_one_write_transaction_of_a_few_statements_and_no_read_of_the_views(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_reference(system.app)
    system.projector.catch_up()  # reads where it starts: the views are new to this projector
    head = system.app.head()
    system.projector.batch_size = 1  # then event by event, as a command at a time is folded live
    loaded = load_reference(system.app)  # the same again: more rounds, findings and activities
    counts = counted(system, monkeypatch)
    events = loaded.position - head
    assert system.projector.catch_up() == loaded.position
    # The start position, the live generation and the aggregates' last history chunks are known
    # from the batch before; the batch's one transaction locks the tracking row, upserts what
    # changed (aggregates, ledger, activities, history, timeline, audience), moves the position
    # and announces it. No empty pass after the last event: its batch was not full.
    assert counts["reads"] == 0
    assert counts["writes"] == events
    assert counts["statements"] <= 10 * events


def test_a_short_batch_ends_the_catch_up_without_an_empty_pass(
    system: System, loaded: songyuan.Loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    system.projector.catch_up()  # the views copied in are at the head: this projector learns where it starts
    steps: list[object] = []
    step = system.projector.step
    monkeypatch.setattr(system.projector, "step", lambda generation=None: steps.append(step(generation)) or steps[-1])
    system.app.issue_token(SYSTEM, role="INSPECTOR", label="一个")
    assert system.projector.catch_up() == system.app.head()
    assert len(steps) == 1 and steps[0] is not None


def test_the_feed_takes_revocations_from_the_runner_s_batch_without_asking_the_log(
    system: System, loaded: songyuan.Loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    system.projector.catch_up()  # the views copied in are at the head: this projector learns where it starts
    runner = Runner(system.projector)
    feed = Feed(system.app, system.store, runner)
    heard: list[frozenset[Any]] = []
    feed.revocation_listeners.append(heard.append)
    token_id = system.app.issue_token(SYSTEM, role="INSPECTOR", label="撤销").entity_id
    system.app.revoke_token(SYSTEM, token_id=token_id, reason="泄露")
    asked: list[object] = []
    select = system.app.recorder.select_notifications
    monkeypatch.setattr(
        system.app.recorder, "select_notifications", lambda *a, **k: asked.append(k.get("topics")) or select(*a, **k)
    )
    feed._on_saved(system.app.head())  # no subscriber here, and a runner: the batch will tell
    assert heard == [] and asked == []
    system.projector.catch_up(on_advance=feed._on_advance)
    assert heard == [frozenset({token_id})]
    assert all(not topics for topics in asked)  # no look for revocations of its own
    runner.stop()


def test_the_projector_folds_what_this_process_just_saved_without_reading_it_back(
    system: System, loaded: songyuan.Loaded, config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a stream of commands, the event after the views' position is the one this process has just saved:
    it is folded from what was saved (eventlog.Recent). Another process's events in between are read from the
    store, and the views still hold every event once, in order."""
    from rectify.bootstrap import open_application

    system.projector.catch_up()  # the views copied in are at the head: this projector learns where it starts
    asked: list[int] = []
    select = system.app.recorder.select_notifications
    monkeypatch.setattr(
        system.app.recorder, "select_notifications", lambda *a, **k: asked.append(k.get("start", 0)) or select(*a, **k)
    )
    unit = Actor("u", Role.UNIT, loaded.unit_id)
    finding = loaded.finding_ids["人居环境品质有效提升"]
    record = {"finding_id": finding, "kind": "大扫除", "occurred_on": "2026-03-10", "count": 1}
    system.app.record_activity(unit, description="本进程", **record)
    assert system.projector.catch_up() == system.app.head()
    assert asked == []
    other = open_application(config)  # another process's application on the same store
    try:
        other.record_activity(unit, description="另一进程", **record)
    finally:
        other.close()
    system.app.record_activity(unit, description="本进程又一次", **record)
    assert system.projector.catch_up() == system.app.head()
    assert asked  # the other process's event was read from the store
    with system.store.snapshot() as view:
        row = view.finding(finding)
    assert row is not None
    assert [a.description for a in row.activities[-3:]] == ["本进程", "另一进程", "本进程又一次"]
    assert row.activities == system.app.repository.get(finding).activities


@pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_postgres_listeners_leave_this_process_s_saves_to_it_and_still_hear_another_s(
    system: System, loaded: songyuan.Loaded, config: Any, monkeypatch: pytest.MonkeyPatch, postgres_schemas: Any
) -> None:
    """The events table's NOTIFY comes for every save. The runner and the feed of the process that saved
    hear of their own saves as they are made; woken again by the NOTIFY, they would find nothing new only
    by asking the store (the runner a pass, the feed a look for revocations): they let the NOTIFY of a save
    from their own connections go, and still wake at once for another process's. The saves to another schema
    of the database go to that schema's channel and wake neither."""
    import threading
    import time

    from rectify import settings
    from rectify.bootstrap import open_application
    from rectify.persistence import own_backends

    system.projector.catch_up()  # the views copied in are at the head: this projector learns where it starts
    asked: dict[str, int] = {}
    select = system.app.recorder.select_notifications

    def counted(*args: Any, **kwargs: Any) -> Any:
        name = threading.current_thread().name
        asked[name] = asked.get(name, 0) + 1
        return select(*args, **kwargs)

    monkeypatch.setattr(system.app.recorder, "select_notifications", counted)
    runner = Runner(system.projector, poll_interval=60)  # no poll in the test's time: only wakes
    feed = Feed(system.app, system.store, runner)
    runner.start()
    feed.start()
    try:
        time.sleep(0.5)  # both listening, and the passes LISTEN taking effect starts are over
        asked.clear()
        unit = Actor("u", Role.UNIT, loaded.unit_id)
        finding = loaded.finding_ids["人居环境品质有效提升"]
        record = {"finding_id": finding, "kind": "大扫除", "occurred_on": "2026-03-10"}
        for n in range(10):
            position = system.app.record_activity(unit, count=1, description=f"第{n}次", **record).position
            assert runner.wait_for(position, timeout=5)
        time.sleep(0.5)  # every NOTIFY of those saves delivered
        assert own_backends(system.app.recorder)
        assert asked == {}  # folded from memory, and no second pass or look for any of them
        with postgres_schemas() as elsewhere:  # saves to another schema of the database: not this store's
            neighbour = open_application(settings.load({}, database_url=elsewhere))
            try:
                neighbour.register_unit(SYSTEM, name="别处的单位", short_name="别处")
            finally:
                neighbour.close()
        time.sleep(0.5)
        assert asked == {}  # its NOTIFY went to that schema's channel
        other = open_application(config)  # another process's save to this store: heard through the NOTIFY alone
        try:
            position = other.record_activity(unit, count=1, description="另一进程", **record).position
        finally:
            other.close()
        assert runner.wait_for(position, timeout=5)
        assert asked.get("rectify-projector", 0) >= 1 and asked.get("rectify-feed-_listen", 0) >= 1
    finally:
        feed.stop()
        runner.stop()
