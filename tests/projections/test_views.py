"""Persisted views and as-of replays on a real store (SQLite file and PostgreSQL schema)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from rectify import settings
from rectify.access import Actor, Role, may_see_finding
from rectify.bootstrap import System, open_application, open_system
from rectify.domain import Finding
from rectify.domain.rule import StandingRule
from rectify.examples import songyuan
from rectify.projections.progress import Scope
from rectify.projections.store import KEPT_VERSIONS
from rectify.projections.views import At
from scenario import TODAY, load_reference

INSPECTOR = Actor("office", Role.INSPECTOR)


def dump(system: System) -> tuple[Any, ...]:
    with system.read.view() as view:
        return view.position, view.ledger(), view.dump()  # type: ignore[attr-defined]


def test_the_reference_scenario_counts_22_clean_ups_to_2025_11_12_and_5_trainings(
    system: System, loaded: songyuan.Loaded
) -> None:
    scope = Scope(round_id=loaded.round_id)
    for at in (None, At(position=loaded.position)):
        cut = system.read.progress(scope, INSPECTOR, at=at, cut=date(2025, 11, 12))
        figures = {f.kind: f.total for f in cut.activities}
        assert figures["大扫除"] == 22
        assert figures["培训"] == 5
        everything = system.read.progress(scope, INSPECTOR, at=at)
        assert {f.kind: f.total for f in everything.activities}["大扫除"] == 28
        assert (everything.total, everything.completed, everything.long_term) == (14, 10, 2)
        assert everything.completion_rate is not None and str(everything.completion_rate) == "71.43"
    district = system.read.district_as_of(loaded.position)
    assert len(district.ledger()) == 14


def test_incremental_views_a_rebuild_and_an_as_of_replay_agree(system: System) -> None:
    loaded = load_reference(system.app)
    system.projector.batch_size = 7  # many small batches
    system.projector.catch_up()
    incremental = dump(system)
    replay = system.read.district_as_of(loaded.position)
    assert replay.ledger() == incremental[1]
    generation = system.projector.rebuild(batch_size=50)
    assert generation == 2
    assert dump(system) == incremental


def test_a_round_as_of_an_earlier_position_equals_the_view_that_existed_then(system: System) -> None:
    loaded = load_reference(system.app)
    system.projector.batch_size = 13
    seen: dict[int, Any] = {}
    while system.projector.step() is not None:
        with system.read.view() as view:
            seen[view.position] = view.ledger(Scope(round_id=loaded.round_id))
    assert len(seen) > 10
    for position, ledger in seen.items():
        past = system.read.rounds_as_of((loaded.round_id,), position)
        assert past.ledger() == ledger, position


def test_a_round_as_of_a_position_just_passed_is_read_from_the_views_and_kept_rows(
    system: System, loaded: songyuan.Loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request pins the position of its first read; when a write moves the views on before its next
    read, that read takes the round from the views and the rows kept from the earlier read, folding
    nothing again (a replay costs the round's whole history, and under load happened on most requests)."""
    scope = Scope(round_id=loaded.round_id)
    with system.read.view() as view:
        before, position = view.ledger(scope), view.position
    unit = Actor("u", Role.UNIT, loaded.unit_id)
    finding = loaded.finding_ids["人居环境品质有效提升"]
    for _ in range(2):
        system.app.record_activity(unit, finding_id=finding, kind="大扫除", occurred_on="2026-03-10", count=1)
    system.projector.catch_up()

    def not_this_way(*args: Any) -> Any:
        raise AssertionError("folded again")

    with monkeypatch.context() as patched:
        patched.setattr(system.read, "rounds_as_of", not_this_way)
        patched.setattr(system.read, "_fold_versions", not_this_way)
        patched.setattr(system.store, "load_positions", not_this_way)  # the last history chunks tell, not all of them
        with system.read.view(At(position=position), scope) as past:
            assert past.ledger(scope) == before
            assert past.aggregate(loaded.round_id) is not None
    system.read.forget()
    system.store.kept_rows.clear()  # rows as they were no longer at hand: those findings are folded again
    with monkeypatch.context() as patched:
        patched.setattr(system.read, "rounds_as_of", not_this_way)
        refolded = system.read.as_of(position, scope)
        assert refolded.ledger(scope) == before
        # the cache of past states weighs the activities of the findings folded for it, not only its rows
        assert refolded.weight > len(before)  # type: ignore[attr-defined]
    assert system.read.rounds_as_of((loaded.round_id,), position).ledger() == before


def test_a_request_reads_its_pinned_round_without_folding_again_however_many_rows_were_read_since(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a stream of writes and reads, the store's kept versions of a row move on before a request's later
    read; the request kept the rows of its own first read, and folds nothing again."""
    loaded = load_reference(system.app)
    system.projector.catch_up()
    unit = Actor("u", Role.UNIT, loaded.unit_id)
    reading = system.queries.reading(unit)
    round_ = reading.round(loaded.round_id)
    assert round_ is not None
    with system.read.view() as view:
        before = view.ledger(Scope(round_id=loaded.round_id))
    finding = loaded.finding_ids["人居环境品质有效提升"]
    for _ in range(KEPT_VERSIONS + 2):
        system.app.record_activity(unit, finding_id=finding, kind="大扫除", occurred_on="2026-03-10", count=1)
        system.projector.catch_up()
        others = system.queries.reading(unit).round(loaded.round_id)  # another request reads the row written
        assert others is not None and system.queries.reading(unit).round_findings(others, None).total
    then = next(r for r in before if r.finding_id == finding)
    assert (str(finding), then.position) not in system.store.kept_rows  # the store's versions moved on

    def not_this_way(*args: Any) -> Any:
        raise AssertionError("folded again")

    with monkeypatch.context() as patched:
        patched.setattr(system.read, "rounds_as_of", not_this_way)
        patched.setattr(system.read, "_fold_versions", not_this_way)
        page = reading.round_findings(round_, None)
    assert [f.row for f in page.items] == [r for r in before if may_see_finding(unit, r)]


def test_the_district_as_of_a_recent_position_folds_again_only_what_changed_since(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = load_reference(system.app)
    system.projector.batch_size = 1
    seen: dict[int, Any] = {}
    while system.projector.step() is not None:
        with system.read.view() as view:
            seen[view.position] = view.ledger()
    recent, early = loaded.position - 3, 5

    def not_this_way(*args: Any) -> Any:
        raise AssertionError(f"the other way was expected for {args[-1]}")

    with monkeypatch.context() as patched:
        patched.setattr(system.read, "_replay", not_this_way)
        assert system.read.district_as_of(recent).ledger() == seen[recent]
    # far back, most of what exists then changed since: folding the log up to there costs less
    with monkeypatch.context() as patched:
        patched.setattr(system.read, "_refold_changed", not_this_way)
        assert system.read.district_as_of(early).ledger() == seen[early]


def test_a_district_as_of_view_answers_for_its_rounds_too(
    system: System, loaded: songyuan.Loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dashboard's district overview asks every round as of the same position: once the
    district is folded, the rounds are read from it instead of each being folded again."""
    position = loaded.position - 3
    scope = Scope(round_id=loaded.round_id, unit_id=loaded.unit_id)
    on_its_own = system.read.progress(scope, INSPECTOR, at=At(position=position))
    system.read.forget()
    district = system.read.district_as_of(position)

    def folded_again(*args: Any) -> Any:
        raise AssertionError("the round was folded again")

    monkeypatch.setattr(system.read, "rounds_as_of", folded_again)
    assert system.read.progress(scope, INSPECTOR, at=At(position=position)) == on_its_own
    finding = loaded.finding_ids["人居环境品质有效提升"]
    with system.read.view(At(position=position), Scope(round_id=loaded.round_id)) as view:
        assert view is district
        assert view.finding(finding) == district.finding(finding) is not None
        assert view.aggregate(loaded.unit_id) is not None
    with pytest.raises(TypeError, match="ledger rows"):
        district.aggregates(Finding)  # its settled findings are rows, not aggregates


def test_past_states_kept_for_reuse_are_bounded_by_their_rows(system: System, loaded: songyuan.Loaded) -> None:
    """A district view of a big log holds every finding: however many positions a caller asks
    for, the views kept for reuse hold at most so many rows (always the latest one)."""
    system.read._cache_rows = 20  # a district view of the reference scenario holds 14
    first = system.read.district_as_of(loaded.position - 1)
    assert system.read.district_as_of(loaded.position - 1) is first  # kept
    second = system.read.district_as_of(loaded.position - 2)
    assert system.read.district_as_of(loaded.position - 2) is second
    assert system.read.district_as_of(loaded.position - 1) is not first  # dropped to make room
    assert system.read._cached_rows <= 20


def test_a_round_as_of_a_position_reads_only_that_rounds_events(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load_reference(system.app)
    second = load_reference(system.app)
    system.projector.catch_up()
    requested: list[Any] = []
    recorder = system.app.recorder
    original = recorder.select_events

    def spy(originator_id: Any, **kwargs: Any) -> Any:
        requested.append(originator_id)
        return original(originator_id, **kwargs)

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a round's as-of replay must not scan the log")

    monkeypatch.setattr(recorder, "select_events", spy)
    monkeypatch.setattr(recorder, "select_notifications", forbidden)
    past = system.read.rounds_as_of((first.round_id,), first.position)
    (rule,) = past.aggregates(StandingRule)  # the round's standing rule comes with it
    own = {first.round_id, first.unit_id, *first.finding_ids.values(), rule.id}
    assert set(requested) == own
    assert rule.round_id == first.round_id
    assert not own & {second.round_id, second.unit_id, *second.finding_ids.values()}
    assert len(past.ledger()) == 14


def test_a_record_time_names_the_last_position_at_or_before_it(system: System, loaded: songyuan.Loaded) -> None:
    middle = system.app.recorder.select_notifications(start=80, limit=1)[0]
    recorded_at = system.app.mapper.to_domain_event(middle).timestamp
    assert system.read.resolve(At(recorded_at=recorded_at)) == 80
    assert system.read.resolve(At(recorded_at=recorded_at - timedelta(days=365))) == 0
    assert system.read.resolve(At(recorded_at=datetime.now(UTC) + timedelta(days=1))) == loaded.position
    by_time = system.read.progress(Scope(round_id=loaded.round_id), INSPECTOR, at=At(recorded_at=recorded_at))
    by_position = system.read.progress(Scope(round_id=loaded.round_id), INSPECTOR, at=At(position=80))
    assert by_time == by_position


def test_a_failed_batch_leaves_views_and_tracking_as_they_were(system: System, monkeypatch: pytest.MonkeyPatch) -> None:
    load_reference(system.app)
    system.projector.batch_size = 40
    system.projector.step()
    before = dump(system)
    original = system.store.write_changes

    def crash_after_writing(*args: Any) -> None:
        original(*args)
        raise RuntimeError("power cut")

    monkeypatch.setattr(system.store, "write_changes", crash_after_writing)
    with pytest.raises(RuntimeError):
        system.projector.step()
    assert dump(system) == before
    monkeypatch.undo()
    system.projector.catch_up()
    after = dump(system)
    system.projector.rebuild()
    assert dump(system) == after


def test_a_batch_asks_the_event_store_for_no_connection_while_it_holds_the_views_write_lock(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A save takes the event store's writer connection first and the database's write lock second.
    A batch that took them the other way round waited on a queued save until a pool timeout
    broke the tie (SQLite, under racing requests in CI)."""
    loaded = load_reference(system.app)
    datastore: Any = system.app.recorder.datastore
    writing, get_connection = system.store.writing, datastore.get_connection
    holding = threading.local()
    asked: list[str] = []

    @contextmanager
    def watched_writing(**options: Any) -> Iterator[Any]:
        with writing(**options) as cursor:
            holding.views = True
            try:
                yield cursor
            finally:
                holding.views = False

    @contextmanager
    def watched_get_connection(*args: Any, **options: Any) -> Iterator[Any]:
        if getattr(holding, "views", False):
            asked.append(threading.current_thread().name)
        with get_connection(*args, **options) as conn:
            yield conn

    monkeypatch.setattr(system.store, "writing", watched_writing)
    monkeypatch.setattr(datastore, "get_connection", watched_get_connection)
    system.projector.batch_size = 7
    assert system.projector.catch_up() == loaded.position
    assert asked == []


def test_a_batch_another_process_committed_first_is_folded_again_not_twice(
    system: System, config: settings.Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = load_reference(system.app)
    other = open_system(config, run_projector=False, today=lambda: TODAY)
    try:
        read = system.projector._notifications
        overtaken: list[int] = []

        def overtaken_once(after: int, limit: int) -> list[Any]:
            found = read(after, limit)
            if not overtaken:  # the other worker commits this very batch before ours does
                overtaken.append(other.projector.step().position)  # type: ignore[union-attr]
            return found

        system.projector.batch_size = other.projector.batch_size = 25
        monkeypatch.setattr(system.projector, "_notifications", overtaken_once)
        system.projector.catch_up()
    finally:
        other.close()
    assert overtaken and overtaken[0] < loaded.position
    folded = dump(system)
    assert folded[0] == loaded.position
    system.projector.rebuild()
    assert dump(system) == folded


def test_readers_see_the_old_views_until_a_rebuild_swaps_in_the_new(system: System, loaded: songyuan.Loaded) -> None:
    before = dump(system)
    halfway, resume = threading.Event(), threading.Event()

    def pause(position: int) -> None:
        halfway.set()
        assert resume.wait(10)

    rebuilding = threading.Thread(target=system.projector.rebuild, kwargs={"batch_size": 50, "progress": pause})
    rebuilding.start()
    assert halfway.wait(10)
    assert dump(system) == before  # the half-built generation is invisible
    assert [status for _, _, status in system.store.generations()] == ["live", "building"]
    resume.set()
    rebuilding.join(10)
    assert dump(system) == before
    assert [status for _, _, status in system.store.generations()] == ["retired", "live"]
    # a second rebuild drops the older retired generation and keeps one
    system.projector.rebuild()
    assert [g for g, _, _ in system.store.generations()] == [2, 3]
    assert system.read.progress(Scope(round_id=loaded.round_id), INSPECTOR).total == 14


def test_the_runner_follows_writes_from_another_process_within_a_second(config: settings.Settings) -> None:
    reader = open_system(config, run_projector=True, today=lambda: TODAY)
    assert reader.runner is not None
    if config.database.kind == "postgresql":
        reader.runner.poll_interval = 60.0  # only NOTIFY can wake it in time
    writer = open_application(config, today=lambda: TODAY)  # another application: its own connections
    try:
        time.sleep(0.3)
        loaded = load_reference(writer)
        started = time.monotonic()
        assert reader.runner.wait_for(loaded.position, timeout=5.0)
        unit = Actor("u", Role.UNIT, loaded.unit_id)
        finding = loaded.finding_ids["人居环境品质有效提升"]
        receipt = writer.record_activity(unit, finding_id=finding, kind="大扫除", occurred_on="2026-03-10", count=1)
        started = time.monotonic()
        assert reader.runner.wait_for(receipt.position, timeout=1.0)
        assert time.monotonic() - started < 1.0
        progress = reader.read.progress(Scope(round_id=loaded.round_id), INSPECTOR)
        assert {f.kind: f.total for f in progress.activities}["大扫除"] == 29
    finally:
        writer.close()
        reader.close()


def test_processes_starting_together_set_up_one_generation(config: settings.Settings) -> None:
    """The API and the worker start at once (docker compose): the views are set up once."""
    opened: list[System] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            opened.append(open_system(config, run_projector=False))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    starters = [threading.Thread(target=start) for _ in range(4)]
    for starter in starters:
        starter.start()
    for starter in starters:
        starter.join()
    try:
        assert errors == []
        assert [(g, s) for g, _, s in opened[0].store.generations()] == [(1, "live")]
    finally:
        for system in opened:
            system.close()
