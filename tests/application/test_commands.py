"""The application on a real store (an SQLite file and PostgreSQL): commands, validation, retries."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError, OperationalError
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg_pool import PoolTimeout

from rectify import settings
from rectify.access import Actor, Role
from rectify.application import Receipt, RectifyApplication, finding_id_for
from rectify.domain import Conflict, Forbidden, IllegalTransition, InvalidInput, NotFound
from rectify.domain.values import FindingStatus
from scenario import SYSTEM

INSPECTOR = Actor("巡察办", Role.INSPECTOR)


class World:
    """A unit, a round with feedback delivered and one category, and one finding raised."""

    def __init__(self, app: RectifyApplication) -> None:
        self.app = app
        self.unit_id = app.register_unit(
            SYSTEM,
            name="中共深圳市罗湖区桂园街道松园社区委员会",
            short_name="松园社区党委",
            address="宝安南路 3029 号",
            phone="25469657",
            postcode="518000",
        ).entity_id
        self.unit = Actor("松园", Role.UNIT, self.unit_id)
        self.round_id = app.open_round(
            INSPECTOR,
            authority="区委",
            district="罗湖区",
            team="第四巡察组",
            unit_ids=[self.unit_id],
            stationed_from="2025-03-26",
            stationed_to="2025-06-13",
        ).entity_id
        app.deliver_feedback(
            INSPECTOR, round_id=self.round_id, occurred_on="2025-08-12", rectification_until="2025-11-12"
        )
        app.define_category(INSPECTOR, round_id=self.round_id, path=[2], title="全面从严治党方面")
        self.finding_id = self.raise_finding(1)

    def raise_finding(self, ordinal: int, **extra: Any) -> UUID:
        fields = {"heading": "强化公章使用管理", "problem": "用章登记不规范", **extra}
        return self.app.raise_finding(
            INSPECTOR, round_id=self.round_id, unit_id=self.unit_id, category=[2], ordinal=ordinal, **fields
        ).entity_id

    def assign(self) -> Receipt:
        return self.app.assign_responsibility(
            self.unit,
            finding_id=self.finding_id,
            department="党建办",
            leader="书记",
            person="张某",
            deadline_kind="DATE",
            due_on="2025-11-12",
        )


@pytest.fixture
def world(app: RectifyApplication) -> World:
    return World(app)


def test_a_finding_goes_through_its_whole_lifecycle(world: World) -> None:
    app, unit, f = world.app, world.unit, world.finding_id
    positions = [app.head()]
    world.assign()
    measure = app.plan_measure(unit, finding_id=f, text="严格落实公章使用管理制度").entity_id
    activity = app.record_activity(
        unit, finding_id=f, kind="培训", occurred_on="2025-09-01", count=2, measure_id=measure
    ).entity_id
    app.record_activity(unit, finding_id=f, kind="清退资金", occurred_on="2025-09-02", amount="66.57", unit="万元")
    app.retract_activity(unit, finding_id=f, activity_id=activity, reason="重复登记")
    app.extend_deadline(INSPECTOR, finding_id=f, due_on="2025-12-31", reason="等待制度印发")
    app.complete_measure(unit, finding_id=f, measure_id=measure, occurred_on="2025-09-10")
    app.report_rectification(unit, finding_id=f, occurred_on="2025-10-01", summary="已完成")
    app.record_verification(
        INSPECTOR, finding_id=f, passed=False, verified_by="巡察办", occurred_on="2025-10-10", comment="登记簿不完整"
    )
    app.mark_long_term(unit, finding_id=f, occurred_on="2025-10-20", summary="持续整改")
    app.record_verification(INSPECTOR, finding_id=f, passed=True, verified_by="巡察办", occurred_on="2025-11-01")
    app.close_finding(INSPECTOR, finding_id=f, occurred_on="2025-11-05")
    app.record_relapse_check(
        INSPECTOR, finding_id=f, outcome="RELAPSED", checked_by="巡察办", occurred_on="2026-02-01", comment="又见代签"
    )
    receipt = app.report_rectification(unit, finding_id=f, occurred_on="2026-02-10", summary="再次整改")
    positions.append(receipt.position)

    finding = app.finding(f)
    assert finding.status is FindingStatus.REPORTED
    assert finding.responsibility is not None and finding.responsibility.deadline.due_on == date(2025, 12, 31)
    assert finding.original_deadline is not None and finding.original_deadline.due_on == date(2025, 11, 12)
    assert [a.retracted for a in finding.activities] == [True, False]
    assert str(finding.activities[1].amount) == "66.57"
    assert [v.passed for v in finding.verifications] == [False, True]
    assert receipt.position == app.head() > positions[0]
    assert finding.version == 15


def test_events_record_the_actor_who_caused_them(world: World) -> None:
    world.assign()
    recorded = world.app.finding(world.finding_id)
    notifications = world.app.recorder.select_notifications(start=1, limit=100)
    events = [world.app.mapper.to_domain_event(n) for n in notifications]
    assert {e.actor for e in events} == {"system:tests", "inspector:巡察办", "unit:松园"}
    assert events[-1].actor == "unit:松园" and events[-1].originator_id == recorded.id


BAD_INPUT: list[tuple[str, Callable[[World], object], str]] = [
    ("malformed finding id", lambda w: w.app.plan_measure(w.unit, finding_id="not-a-uuid", text="x"), "finding_id"),
    (
        "date not a date",
        lambda w: w.app.record_activity(
            w.unit, finding_id=w.finding_id, kind="培训", occurred_on="2025-13-40", count=1
        ),
        "occurred_on",
    ),
    (
        "activity in the future",
        lambda w: w.app.record_activity(
            w.unit, finding_id=w.finding_id, kind="培训", occurred_on="2026-03-13", count=1
        ),
        "occurred_on",
    ),
    (
        "deadline before the feedback",
        lambda w: w.app.assign_responsibility(
            w.unit, finding_id=w.finding_id, department="d", leader="l", person="p", due_on="2025-08-11"
        ),
        "due_on",
    ),
    (
        "a DATE deadline without its date",
        lambda w: w.app.assign_responsibility(w.unit, finding_id=w.finding_id, department="d", leader="l", person="p"),
        "due_on",
    ),
    (
        "zero count",
        lambda w: w.app.record_activity(
            w.unit, finding_id=w.finding_id, kind="培训", occurred_on="2025-09-01", count=0
        ),
        "count",
    ),
    (
        "negative count",
        lambda w: w.app.record_activity(
            w.unit, finding_id=w.finding_id, kind="培训", occurred_on="2025-09-01", count=-3
        ),
        "count",
    ),
    (
        "negative amount",
        lambda w: w.app.record_activity(
            w.unit, finding_id=w.finding_id, kind="清退资金", occurred_on="2025-09-01", amount="-1", unit="万元"
        ),
        "amount",
    ),
    (
        "three decimals",
        lambda w: w.app.record_activity(
            w.unit, finding_id=w.finding_id, kind="清退资金", occurred_on="2025-09-01", amount="1.005", unit="万元"
        ),
        "amount",
    ),
    (
        "float amount",
        lambda w: w.app.record_activity(
            w.unit, finding_id=w.finding_id, kind="清退资金", occurred_on="2025-09-01", amount=0.1, unit="万元"
        ),
        "amount",
    ),
    ("over-long heading", lambda w: w.raise_finding(2, heading="长" * 301), "heading"),
    (
        "no department, leader nor person",
        lambda w: w.app.assign_responsibility(
            w.unit, finding_id=w.finding_id, department="  ", leader="", person=" ", due_on="2025-10-01"
        ),
        "department",
    ),
    (
        "undefined category",
        lambda w: w.app.raise_finding(
            INSPECTOR, round_id=w.round_id, unit_id=w.unit_id, category=[7], ordinal=1, heading="h", problem="p"
        ),
        "category",
    ),
    ("code used twice", lambda w: w.raise_finding(1), "code"),
    ("unknown disclosure", lambda w: w.raise_finding(3, disclosure="SECRET"), "disclosure"),
    ("internal without a reason", lambda w: w.raise_finding(3, disclosure="INTERNAL"), "withholding_reason"),
    ("bad placeholder", lambda w: w.app.plan_measure(w.unit, finding_id=w.finding_id, text="开展 {count:} 次"), "text"),
    (
        "bad postcode",
        lambda w: w.app.register_unit(SYSTEM, name="n", short_name="s", address="a", phone="1", postcode="5180OO"),
        "postcode",
    ),
    (
        "unit not in the round",
        lambda w: w.app.raise_finding(
            INSPECTOR, round_id=w.round_id, unit_id=uuid4(), category=[2], ordinal=9, heading="h", problem="p"
        ),
        "unit_id",
    ),
]


@pytest.mark.parametrize(("case", "command", "field"), BAD_INPUT, ids=[case for case, _, _ in BAD_INPUT])
def test_bad_input_is_refused_naming_the_field_and_nothing_is_appended(
    world: World, case: str, command: Callable[[World], object], field: str
) -> None:
    head = world.app.recorder.max_notification_id()
    with pytest.raises(InvalidInput) as refused:
        command(world)
    assert refused.value.field == field
    assert field in str(refused.value)
    assert world.app.recorder.max_notification_id() == head


def test_unknown_ids_are_not_found_and_nothing_is_appended(world: World) -> None:
    head = world.app.head()
    with pytest.raises(NotFound, match="finding"):
        world.app.plan_measure(world.unit, finding_id=uuid4(), text="x")
    world.assign()
    head = world.app.head()
    with pytest.raises(NotFound, match="measure"):
        world.app.complete_measure(
            world.unit, finding_id=world.finding_id, measure_id=uuid4(), occurred_on="2025-09-01"
        )
    with pytest.raises(NotFound, match="round"):
        world.app.deliver_feedback(
            INSPECTOR, round_id=world.unit_id, occurred_on="2025-08-12", rectification_until="2025-11-12"
        )
    assert world.app.head() == head


def test_an_illegal_transition_says_the_status_and_appends_nothing(world: World) -> None:
    head = world.app.head()
    with pytest.raises(IllegalTransition) as refused:
        world.app.close_finding(INSPECTOR, finding_id=world.finding_id, occurred_on="2025-09-01")
    assert refused.value.status == "RAISED"
    assert world.app.head() == head


def test_roles_and_units_are_held_to_what_they_may_do(world: World) -> None:
    other_unit = Actor("其他社区", Role.UNIT, uuid4())
    world.assign()
    head = world.app.head()
    with pytest.raises(NotFound):  # another unit's finding is, to a unit, as if it did not exist
        world.app.plan_measure(other_unit, finding_id=world.finding_id, text="x")
    refusals = [
        lambda: world.app.plan_measure(INSPECTOR, finding_id=world.finding_id, text="x"),
        lambda: world.app.plan_measure(Actor("anyone", Role.PUBLIC), finding_id=world.finding_id, text="x"),
        lambda: world.app.close_finding(world.unit, finding_id=world.finding_id, occurred_on="2025-09-01"),
        lambda: world.app.register_unit(INSPECTOR, name="n", short_name="s", address="a", phone="1", postcode="1"),
        lambda: world.app.draft_narrative(
            other_unit, round_id=world.round_id, unit_id=world.unit_id, section="NEXT_STEPS", intro="x"
        ),
    ]
    for refusal in refusals:
        with pytest.raises(Forbidden):
            refusal()
    # the public role is refused before its input is even read
    with pytest.raises(Forbidden):
        world.app.plan_measure(Actor("anyone", Role.PUBLIC), finding_id="garbage", text="")
    assert world.app.head() == head


def test_a_retried_command_with_its_idempotency_key_appends_once(world: World) -> None:
    world.assign()
    first = world.app.record_activity(
        world.unit,
        finding_id=world.finding_id,
        kind="大扫除",
        occurred_on="2025-09-01",
        count=1,
        idempotency_key="req-1",
    )
    head = world.app.head()
    again = world.app.record_activity(
        world.unit,
        finding_id=world.finding_id,
        kind="大扫除",
        occurred_on="2025-09-01",
        count=1,
        idempotency_key="req-1",
    )
    assert again.replayed and again.entity_id == first.entity_id
    assert (again.position, again.own_position) == (first.position, 0)  # the first answer's position again
    assert world.app.head() == head
    assert len(world.app.finding(world.finding_id).activities) == 1
    with pytest.raises(InvalidInput) as refused:
        world.app.record_activity(
            world.unit,
            finding_id=world.finding_id,
            kind="大扫除",
            occurred_on="2025-09-02",
            count=1,
            idempotency_key="req-1",
        )
    assert refused.value.field == "idempotency_key"
    # the same key from another actor is another request
    other = Actor("松园-2", Role.UNIT, world.unit_id)
    world.app.record_activity(
        other, finding_id=world.finding_id, kind="大扫除", occurred_on="2025-09-01", count=1, idempotency_key="req-1"
    )
    assert len(world.app.finding(world.finding_id).activities) == 2


def test_racing_copies_of_one_idempotent_request_append_once(world: World) -> None:
    world.assign()
    results: list[Any] = []

    def send() -> None:
        results.append(
            world.app.plan_measure(world.unit, finding_id=world.finding_id, text="一是", idempotency_key="k")
        )

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({r.entity_id for r in results}) == 1
    assert len(world.app.finding(world.finding_id).measures) == 1


def test_concurrent_writers_are_retried_and_nothing_is_lost(world: World) -> None:
    world.assign()
    errors: list[BaseException] = []

    def record(n: int) -> None:
        try:
            for i in range(5):
                world.app.record_activity(
                    world.unit,
                    finding_id=world.finding_id,
                    kind="大扫除",
                    occurred_on="2025-09-01",
                    count=1,
                    description=f"{n}-{i}",
                )
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=record, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(a.description for a in world.app.finding(world.finding_id).activities) == sorted(
        f"{n}-{i}" for n in range(4) for i in range(5)
    )


def test_a_write_that_keeps_conflicting_is_reported_as_a_conflict(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.assign()
    world.app.plan_measure(world.unit, finding_id=world.finding_id, text="一是")
    load = world.app.work._load

    def always_stale(aggregate_id: UUID) -> Any:
        # as if another writer always saved first: we keep deciding on an old version
        if aggregate_id == world.finding_id:
            return world.app.repository.get(aggregate_id, version=2)
        return load(aggregate_id)

    monkeypatch.setattr(world.app.work, "_load", always_stale)
    head = world.app.head()
    with pytest.raises(Conflict, match="tried 8 times"):
        world.app.record_activity(
            world.unit, finding_id=world.finding_id, kind="大扫除", occurred_on="2025-09-01", count=1
        )
    assert world.app.head() == head


@contextlib.contextmanager
def every_connection_taken(app: RectifyApplication) -> Iterator[None]:
    """Holds the event store's writer (SQLite) or every pooled connection (PostgreSQL), and makes
    the store give up waiting for one after 0.3 s instead of seconds."""
    datastore: Any = app.recorder.datastore
    pool = datastore.pool
    if isinstance(app.recorder, SQLiteApplicationRecorder):
        pool.pool_timeout = 0.3
        taken = [pool.get_connection(is_writer=True)]
        release = pool.put_connection
    else:
        pool.timeout = 0.3
        taken = [pool.getconn() for _ in range(pool.max_size)]
        release = pool.putconn
    # The library tries a PostgreSQL transaction up to ten times (0.3 s for a connection, 0.2 s between):
    # about 5 s, the store deadline itself, so on a loaded machine the deadline could answer first
    # (TIMED_OUT) instead of the store's own "busy". Here the store is to give up first.
    deadline, app.work.deadline = app.work.deadline, 60.0
    try:
        yield
    finally:
        app.work.deadline = deadline
        for conn in taken:
            release(conn)


def test_a_store_that_stays_busy_is_a_conflict_and_appends_nothing(world: World) -> None:
    head = world.app.head()
    with every_connection_taken(world.app), pytest.raises(Conflict, match="stayed busy and nothing was appended"):
        world.assign()
    assert world.app.head() == head
    world.assign()  # and the store serves again once it is free
    assert world.app.head() == head + 1


def test_a_save_that_timed_out_after_the_store_retried_it_is_answered_as_accepted(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """eventsourcing retries a PostgreSQL insert by itself; when its last try finds no connection,
    an earlier try may have committed. The unit of work looks: committed events are Accepted."""
    insert = world.app.recorder.insert_events

    def committed_then_timed_out(*args: Any, **kwargs: Any) -> Any:
        insert(*args, **kwargs)
        try:
            raise PoolTimeout("couldn't get a connection after 5.00 sec")
        except PoolTimeout as timeout:
            raise OperationalError(str(timeout)) from timeout

    monkeypatch.setattr(world.app.recorder, "insert_events", committed_then_timed_out)
    head = world.app.head()
    receipt = world.assign()
    assert world.app.head() == head + 1  # it was appended after all, once
    assert receipt.position == head + 1 and not receipt.replayed


def test_a_save_committed_by_the_stores_own_retry_is_not_appended_twice(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """eventsourcing retries a PostgreSQL insert whose answer was lost; if the lost try had
    committed, the retry meets its own events as a version clash. Without an idempotency key the
    command must still not be decided and appended again."""
    world.assign()
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
    receipt = world.app.plan_measure(world.unit, finding_id=world.finding_id, text="一是")
    assert calls == [1]
    assert world.app.head() == head + 1
    assert receipt.position >= head + 1
    assert [m.text for m in world.app.finding(world.finding_id).measures] == ["一是"]


def test_an_sqlite_file_locked_by_another_process_is_a_conflict(tmp_path) -> None:
    database = settings.load({}, database_url=f"sqlite:///{tmp_path / 'rectify.db'}").database
    app = RectifyApplication(
        env={**database.eventsourcing_env(), "SQLITE_LOCK_TIMEOUT": "1"}, today=lambda: date(2026, 3, 12)
    )
    try:
        world = World(app)
        head = app.head()
        other = sqlite3.connect(str(database.path), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process writing, and taking its time
        try:
            with pytest.raises(Conflict, match="stayed busy"):
                world.assign()
        finally:
            other.rollback()
            other.close()
        assert app.head() == head
    finally:
        app.close()


def test_a_finding_code_defaults_to_its_place_and_keys_its_id(world: World) -> None:
    finding = world.app.finding(world.finding_id)
    assert finding.code == "二-1"
    assert world.finding_id == finding_id_for(world.round_id, "二-1")


def test_an_amount_too_large_for_two_decimals_is_named_not_crashed_on(world: World) -> None:
    world.assign()
    head = world.app.head()
    with pytest.raises(InvalidInput) as refused:
        world.app.record_activity(
            world.unit,
            finding_id=world.finding_id,
            kind="清退资金",
            occurred_on="2025-09-01",
            amount="1e30",
            unit="万元",
        )
    assert refused.value.field == "amount" and "large" in refused.value.reason
    assert world.app.head() == head
