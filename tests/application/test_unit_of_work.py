"""The unit of work on a real store: batches in one transaction, truthful replays, typed store faults."""

from __future__ import annotations

import errno
import functools
import sqlite3
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, OperationalError
from test_commands import World

from rectify.application import RectifyApplication
from rectify.domain import InvalidInput, NotFound, StoreFault


@pytest.fixture
def world(app: RectifyApplication) -> World:
    world = World(app)
    world.assign()
    return world


def saves_counted(app: RectifyApplication, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    save = app.save

    def counted(*aggregates: Any, **kwargs: Any) -> Any:
        calls.append(len(aggregates))
        return save(*aggregates, **kwargs)

    monkeypatch.setattr(app, "save", counted)
    return calls


def test_a_batch_appends_its_commands_in_one_save_with_a_position_each(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    saves = saves_counted(world.app, monkeypatch)
    head = world.app.head()

    def work() -> None:
        world.app.plan_measure(world.unit, finding_id=world.finding_id, text="一是", idempotency_key="m1")
        world.app.plan_measure(world.unit, finding_id=world.finding_id, text="二是")
        second = world.raise_finding(2)  # a new aggregate, then a change to it in the same batch
        world.app.note_progress(world.unit, finding_id=second, progress="已开展自查")

    _, receipts = world.app.batch(work)
    assert len(saves) == 1
    assert world.app.head() == head + 5  # four events and one idempotency record
    # events are saved aggregate by aggregate: the finding's two measures, the key's record, the new finding
    assert [r.position for r in receipts] == [head + 3, head + 2, head + 4, head + 5]
    assert [m.text for m in world.app.finding(world.finding_id).measures] == ["一是", "二是"]


def test_a_batch_whose_command_is_refused_appends_nothing(world: World) -> None:
    head = world.app.head()

    def work() -> None:
        world.app.plan_measure(world.unit, finding_id=world.finding_id, text="一是")
        world.app.plan_measure(world.unit, finding_id="00000000-0000-0000-0000-000000000001", text="二是")

    with pytest.raises(NotFound):
        world.app.batch(work)
    assert world.app.head() == head
    assert world.app.finding(world.finding_id).measures == ()


def test_a_key_given_twice_in_one_batch_is_carried_out_once(world: World) -> None:
    head = world.app.head()

    def work() -> None:
        for _ in range(2):
            world.app.plan_measure(world.unit, finding_id=world.finding_id, text="一是", idempotency_key="k")

    _, receipts = world.app.batch(work)
    assert [r.replayed for r in receipts] == [False, True]
    assert world.app.head() == head + 2
    # and a key stored before the batch replays inside it
    _, again = world.app.batch(work)
    assert [r.replayed for r in again] == [True, True]
    assert world.app.head() == head + 2


def test_a_key_reused_for_another_request_in_a_batch_names_the_field(world: World) -> None:
    def work() -> None:
        world.app.plan_measure(world.unit, finding_id=world.finding_id, text="一是", idempotency_key="k")
        world.app.plan_measure(world.unit, finding_id=world.finding_id, text="二是", idempotency_key="k")

    with pytest.raises(InvalidInput, match="idempotency_key"):
        world.app.batch(work)


def test_a_first_request_whose_save_the_store_retried_is_not_called_a_replay(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The library retried an insert whose answer was lost; the retry met the committed events."""
    insert = world.app.recorder.insert_events
    calls: list[int] = []

    def committed_then_clashed(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        insert(*args, **kwargs)
        if len(calls) == 1:
            raise IntegrityError("duplicate key value violates unique constraint")
        return None

    monkeypatch.setattr(world.app.recorder, "insert_events", committed_then_clashed)
    head = world.app.head()
    receipt = world.app.plan_measure(world.unit, finding_id=world.finding_id, text="一是", idempotency_key="fresh")
    assert not receipt.replayed
    assert world.app.head() == head + 2
    monkeypatch.undo()
    again = world.app.plan_measure(world.unit, finding_id=world.finding_id, text="一是", idempotency_key="fresh")
    assert again.replayed and again.entity_id == receipt.entity_id
    assert world.app.head() == head + 2


def failing_insert(app: RectifyApplication, monkeypatch: pytest.MonkeyPatch, cause: BaseException) -> None:
    def fail(*args: Any, **kwargs: Any) -> Any:
        try:
            raise cause
        except BaseException as error:
            raise OperationalError(str(error)) from error

    monkeypatch.setattr(app.recorder, "insert_events", fail)


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        (sqlite3.OperationalError("attempt to write a readonly database"), "READ_ONLY"),
        (sqlite3.OperationalError("database or disk is full"), "DISK_FULL"),
        (OSError(errno.ENOSPC, "No space left on device"), "DISK_FULL"),
    ],
)
def test_a_store_that_refuses_the_write_is_a_typed_fault_that_appended_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch, cause: BaseException, reason: str
) -> None:
    head = world.app.head()
    failing_insert(world.app, monkeypatch, cause)
    with pytest.raises(StoreFault) as raised:
        world.app.plan_measure(world.unit, finding_id=world.finding_id, text="一是")
    assert raised.value.reason == reason
    assert raised.value.may_have_appended is False
    assert "nothing was appended" in raised.value.message
    assert world.app.head() == head


def test_a_lost_connection_during_a_save_says_it_may_have_been_appended_unless_the_log_shows_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    head = world.app.head()
    failing_insert(world.app, monkeypatch, psycopg.OperationalError("server closed the connection unexpectedly"))
    with pytest.raises(StoreFault) as raised:
        world.app.plan_measure(world.unit, finding_id=world.finding_id, text="一是")
    assert raised.value.reason == "UNAVAILABLE"
    assert raised.value.may_have_appended is (world.app.work._local_store() is False)
    assert world.app.head() == head


def test_a_command_that_waits_past_the_store_deadline_is_answered_timed_out(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    release = threading.Event()
    insert = world.app.recorder.insert_events

    def stalled(*args: Any, **kwargs: Any) -> Any:
        release.wait(10)
        return insert(*args, **kwargs)

    monkeypatch.setattr(world.app.recorder, "insert_events", stalled)
    monkeypatch.setattr(world.app.work, "deadline", 0.3)
    head = world.app.head()
    with pytest.raises(StoreFault) as raised:
        world.app.plan_measure(world.unit, finding_id=world.finding_id, text="一是", idempotency_key="slow")
    assert raised.value.reason == "TIMED_OUT" and raised.value.may_have_appended
    release.set()
    monkeypatch.undo()
    # the resend with the same key is answered from what the late save stored, never stored twice
    for _ in range(50):
        if world.app.head() == head + 2:
            break
        threading.Event().wait(0.05)
    again = world.app.plan_measure(world.unit, finding_id=world.finding_id, text="一是", idempotency_key="slow")
    assert again.replayed
    assert world.app.head() == head + 2


def test_a_kept_aggregate_is_brought_up_to_date_with_another_processs_writes(
    world: World, config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rectify.bootstrap import open_application

    world.app.plan_measure(world.unit, finding_id=world.finding_id, text="一是")
    assert world.finding_id in world.app.work.cache
    other = open_application(config)  # another process's application on the same store
    try:
        other.plan_measure(world.unit, finding_id=world.finding_id, text="二是")
    finally:
        other.close()
    world.app.plan_measure(world.unit, finding_id=world.finding_id, text="三是")
    assert [m.text for m in world.app.finding(world.finding_id).measures] == ["一是", "二是", "三是"]
    assert [m.text for m in world.app.repository.get(world.finding_id).measures] == ["一是", "二是", "三是"]


def test_a_refused_command_leaves_the_kept_aggregate_as_stored(world: World) -> None:
    world.app.plan_measure(world.unit, finding_id=world.finding_id, text="一是")
    with pytest.raises(InvalidInput):
        world.app.plan_measure(world.unit, finding_id=world.finding_id, text="")
    world.app.plan_measure(world.unit, finding_id=world.finding_id, text="二是")
    assert world.app.finding(world.finding_id).version == world.app.repository.get(world.finding_id).version


def test_the_aggregate_cache_is_bounded_by_bytes(app: RectifyApplication) -> None:
    from rectify.caching import BoundedCache

    app.work.cache = BoundedCache(4096)
    world = World(app)
    world.assign()
    for i in range(30):
        world.app.plan_measure(world.unit, finding_id=world.finding_id, text=f"第{i}项" * 20)
    assert app.work.cache.nbytes <= 4096
    assert world.finding_id not in app.work.cache  # its events outgrew the bound
    assert len(app.finding(world.finding_id).measures) == 30


def test_a_long_history_is_charged_what_it_holds_packed_not_its_events_bytes(world: World) -> None:
    """Charged by its stored events' bytes (about 250 an activity), a finding of 67,000 activities outgrew the
    write side's 64 MiB while it held 2 MB of them packed, and then every command on it folded its whole
    history again. Charged what it holds, it stays kept within half its events' bytes."""
    from rectify.caching import BoundedCache, aggregate_bytes

    app, finding_id = world.app, world.finding_id
    record = functools.partial(
        app.record_activity, world.unit, finding_id=finding_id, kind="自查", occurred_on="2025-09-01", count=1
    )
    app.batch(lambda: [record(description=f"第{i}次自查，覆盖全部网格") for i in range(2000)])
    stored = sum(len(event.state) for event in app.recorder.select_events(finding_id))
    app.work.cache = BoundedCache(stored // 2)
    record(description="又一次")
    kept = app.work.cache.get(finding_id)
    assert kept is not None and kept.activities.packed[0] > 1000
    assert aggregate_bytes(kept) < stored // 2


# -- group commit: commands queued while a commit is in flight share the next one -----------------


class HeldCommit:
    """Holds the writer in its first save until released, so that the commands sent meanwhile queue
    behind it; counts the saves."""

    def __init__(self, app: RectifyApplication, monkeypatch: pytest.MonkeyPatch) -> None:
        import threading

        self.app = app
        self.entered = threading.Event()
        self.release = threading.Event()
        self.saves: list[int] = []
        insert = app.recorder.insert_events

        def held(*args: Any, **kwargs: Any) -> Any:
            self.saves.append(len(args[0]))
            if len(self.saves) == 1:
                self.entered.set()
                self.release.wait(10)
            return insert(*args, **kwargs)

        monkeypatch.setattr(app.recorder, "insert_events", held)

    def run(self, first: Any, *queued: Any) -> list[Any]:
        """Sends `first`, then the others while its commit is held; each one's receipt or error, in order."""
        import threading

        answers: list[Any] = [None] * (1 + len(queued))

        def send(i: int, command: Any) -> None:
            try:
                answers[i] = command()
            except Exception as error:  # noqa: BLE001 - the answer under test
                answers[i] = error

        threads = [threading.Thread(target=send, args=(0, first))]
        threads[0].start()
        assert self.entered.wait(10)
        for i, command in enumerate(queued, start=1):
            waiting = self.app.work._queue.qsize()
            threads.append(threading.Thread(target=send, args=(i, command)))
            threads[-1].start()
            # Queued behind the held commit (or answered without queueing) before the next is sent: the group
            # keeps this order.
            for _ in range(500):
                if self.app.work._queue.qsize() > waiting or not threads[-1].is_alive():
                    break
                threading.Event().wait(0.01)
        self.release.set()
        for thread in threads:
            thread.join(20)
        return answers


def test_commands_queued_behind_a_commit_are_saved_together_each_answered_with_its_own_position(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, finding_id = world.app, world.finding_id
    held = HeldCommit(app, monkeypatch)
    head = app.head()
    answers = held.run(
        lambda: app.plan_measure(world.unit, finding_id=finding_id, text="一是"),
        lambda: app.plan_measure(world.unit, finding_id=finding_id, text="二是", idempotency_key="g2"),
        lambda: app.plan_measure(world.unit, finding_id=finding_id, text="三是"),
        lambda: app.record_activity(world.unit, finding_id=finding_id, kind="自查", occurred_on="2025-09-01", count=1),
    )
    assert not any(isinstance(a, Exception) for a in answers), answers
    assert len(held.saves) == 2  # the first command's save, then one for the three queued behind it
    assert app.head() == head + 5  # four events and one idempotency record
    positions = [a.position for a in answers]
    assert positions[0] == head + 1 and len(set(positions)) == 4 and max(positions) == head + 5
    assert all(a.own_position for a in answers) and not any(a.replayed for a in answers)
    assert [m.text for m in app.finding(finding_id).measures] == ["一是", "二是", "三是"]
    # the group's key holds: a resend is answered from it, nothing stored twice
    again = app.plan_measure(world.unit, finding_id=finding_id, text="二是", idempotency_key="g2")
    assert again.replayed and again.entity_id == answers[1].entity_id
    assert app.head() == head + 5


def test_a_refused_command_in_a_group_does_not_sink_the_others(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    app, finding_id = world.app, world.finding_id
    app.plan_measure(world.unit, finding_id=finding_id, text="旧", idempotency_key="used")
    held = HeldCommit(app, monkeypatch)
    head = app.head()
    answers = held.run(
        lambda: app.plan_measure(world.unit, finding_id=finding_id, text="一是"),
        lambda: app.plan_measure(world.unit, finding_id=finding_id, text="二是"),
        lambda: app.plan_measure(world.unit, finding_id=finding_id, text=""),  # refused: names its field
        lambda: app.plan_measure(world.unit, finding_id="00000000-0000-0000-0000-000000000001", text="无"),
        lambda: app.plan_measure(world.unit, finding_id=finding_id, text="另", idempotency_key="used"),  # key reused
        lambda: app.plan_measure(world.unit, finding_id=finding_id, text="旧", idempotency_key="used"),  # a replay
        lambda: app.plan_measure(world.unit, finding_id=finding_id, text="三是"),
    )
    assert isinstance(answers[2], InvalidInput) and answers[2].field == "text"
    assert isinstance(answers[3], NotFound)
    assert isinstance(answers[4], InvalidInput) and answers[4].field == "idempotency_key"
    assert answers[5].replayed
    accepted = [answers[i] for i in (0, 1, 6)]
    assert all(not isinstance(a, Exception) and not a.replayed for a in accepted), answers
    assert len(held.saves) == 2
    assert app.head() == head + 3  # the refused appended nothing, the replay nothing again
    assert [m.text for m in app.finding(finding_id).measures] == ["旧", "一是", "二是", "三是"]
    assert app.finding(finding_id).version == app.repository.get(finding_id).version


def test_a_key_sent_twice_in_one_group_is_carried_out_once(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    app, finding_id = world.app, world.finding_id
    held = HeldCommit(app, monkeypatch)
    head = app.head()
    answers = held.run(
        lambda: app.plan_measure(world.unit, finding_id=finding_id, text="一是"),
        lambda: app.plan_measure(world.unit, finding_id=finding_id, text="二是", idempotency_key="twice"),
        lambda: app.plan_measure(world.unit, finding_id=finding_id, text="二是", idempotency_key="twice"),
    )
    assert [a.replayed for a in answers] == [False, False, True]
    assert answers[1].entity_id == answers[2].entity_id
    assert answers[2].position >= answers[1].position  # the replay is answered where its write can be read
    assert app.head() == head + 3
    assert [m.text for m in app.finding(finding_id).measures] == ["一是", "二是"]


def test_a_group_whose_save_fails_answers_each_caller_with_the_fault(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, finding_id = world.app, world.finding_id
    held = HeldCommit(app, monkeypatch)
    held_insert = app.recorder.insert_events

    def full_after_the_first(*args: Any, **kwargs: Any) -> Any:
        if held.saves:
            held.saves.append(len(args[0]))
            try:
                raise sqlite3.OperationalError("database or disk is full")
            except sqlite3.OperationalError as error:
                raise OperationalError(str(error)) from error
        return held_insert(*args, **kwargs)

    monkeypatch.setattr(app.recorder, "insert_events", full_after_the_first)
    head = app.head()
    answers = held.run(
        lambda: app.plan_measure(world.unit, finding_id=finding_id, text="一是"),
        lambda: app.plan_measure(world.unit, finding_id=finding_id, text="二是"),
        lambda: app.plan_measure(world.unit, finding_id=finding_id, text="三是", idempotency_key="full"),
    )
    assert not isinstance(answers[0], Exception)
    for answer in answers[1:]:
        assert isinstance(answer, StoreFault) and answer.reason == "DISK_FULL" and answer.may_have_appended is False
    assert app.head() == head + 1
    monkeypatch.undo()
    resent = app.plan_measure(world.unit, finding_id=finding_id, text="三是", idempotency_key="full")
    assert not resent.replayed and app.head() == head + 3


def test_the_writers_of_one_sqlite_file_in_a_process_take_one_lock_before_sqlites_own(
    system: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The events' save and the views' commit queue on one lock, not in SQLite's sleeping busy
    handler (PostgreSQL's writers need none: the views do not take the events table's lock)."""
    import os

    from rectify.sqlite_lock import sqlite_write_lock

    app = system.app
    path = app.env.get("SQLITE_DBNAME")
    if path is None:
        assert app.work._sqlite_path is None
        return
    lock = sqlite_write_lock(path)
    assert sqlite_write_lock(os.path.join(os.path.dirname(path), ".", os.path.basename(path))) is lock
    held_at_save: list[bool] = []
    insert = app.recorder.insert_events

    def observed(*args: Any, **kwargs: Any) -> Any:
        held_at_save.append(lock.locked())
        return insert(*args, **kwargs)

    monkeypatch.setattr(app.recorder, "insert_events", observed)
    World(app)
    assert held_at_save and all(held_at_save)
    with system.projector.store.writing():
        assert lock.locked()
    assert not lock.locked()
