"""The bulk path of a 台账 import: the store is asked once per batch about the findings it raises, and a
finding another writer raises meanwhile is still refused by the application, naming its row."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from sheets_world import OFFICE, ROWS, LedgerWorld, write_sheet

from rectify import settings
from rectify.application import finding_id_for
from rectify.bootstrap import open_system
from rectify.persistence import unrecorded
from rectify.sheets.planner import ImportStopped, carry_out, import_file, plan_file


def test_the_recorder_tells_in_one_look_up_which_of_many_aggregates_have_no_events(
    ledger_world: LedgerWorld,
) -> None:
    recorder = ledger_world.app.recorder
    recorded = [ledger_world.round_id, *ledger_world.unit_ids.values()]
    unknown = [uuid.uuid4() for _ in range(1200)]  # more than one SQLite statement's worth
    assert unrecorded(recorder, [*recorded, *unknown]) == frozenset(unknown)
    assert unrecorded(recorder, recorded) == frozenset()
    assert unrecorded(recorder, []) == frozenset()


def test_carrying_out_an_import_looks_up_none_of_the_findings_it_raises_one_by_one(
    ledger_world: LedgerWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = ledger_world
    planned = plan_file(world.app, world.system.read, write_sheet(tmp_path / "台账.xlsx"), world.round_id, OFFICE)
    raised = {finding_id_for(world.round_id, code) for code in "12345"}
    asked: list[UUID] = []
    select_events = world.app.recorder.select_events

    def counted(originator_id: UUID, **kwargs: Any) -> Any:
        asked.append(originator_id)
        return select_events(originator_id, **kwargs)

    monkeypatch.setattr(world.app.recorder, "select_events", counted)
    carry_out(world.app, planned)
    assert raised & set(asked) == set()
    assert world.app.finding(finding_id_for(world.round_id, "5")).code == "5"


def test_a_finding_raised_between_the_look_up_and_the_save_stops_the_import_naming_its_row_and_appends_nothing(
    ledger_world: LedgerWorld, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = ledger_world
    import_file(world.app, world.system.read, write_sheet(tmp_path / "一.xlsx", ROWS[:1]), world.round_id, OFFICE)
    world.system.projector.catch_up()
    sheet = write_sheet(tmp_path / "二.xlsx", ROWS[:2])  # finding 2, in the category finding 1 brought
    planned = plan_file(world.app, world.system.read, sheet, world.round_id, OFFICE)
    raise_2 = next(s for s in planned.steps if s.command == "raise_finding")
    other = open_system(settings.load({}, database_url=database_url), run_projector=False)
    look_up = world.app.recorder.unrecorded
    looked_up: list[frozenset[UUID]] = []

    def then_another_writer_raises_it(aggregate_ids: Any) -> frozenset[UUID]:
        absent = look_up(aggregate_ids)
        if not looked_up:  # the first look-up is stale by the time the batch saves
            other.app.raise_finding(OFFICE, **raise_2.arguments)
        looked_up.append(absent)
        return absent

    monkeypatch.setattr(world.app.recorder, "unrecorded", then_another_writer_raises_it)
    try:
        head = world.app.head()
        with pytest.raises(ImportStopped, match=rf"row {raise_2.row} \(2\): code: 2 is already used in this round"):
            carry_out(world.app, planned)
    finally:
        other.close()
    # The batch's save failed on the finding's first event and was redone on the new state, whose
    # look-up knew the finding: only the other writer's event is in the log.
    assert len(looked_up) == 2 and finding_id_for(world.round_id, "2") not in looked_up[1]
    assert [e.type for e in world.events(after=head)] == ["Finding.Raised"]


def test_a_batchs_events_take_the_positions_its_receipts_say_in_save_order_while_another_writer_appends(
    ledger_world: LedgerWorld, database_url: str, tmp_path: Path
) -> None:
    world = ledger_world
    world.app.define_category(OFFICE, round_id=world.round_id, path=[1], title="党的政治建设方面")
    unit_id = next(iter(world.unit_ids.values()))
    other = open_system(settings.load({}, database_url=database_url), run_projector=False)
    stop = threading.Event()

    def another_writer() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            other.app.register_unit(OFFICE, name=f"并发登记的单位{n}")

    writer = threading.Thread(target=another_writer)
    head = world.app.head()
    writer.start()
    try:
        saved: dict[UUID, int] = {}  # finding → the position its batch's receipt gives
        for batch in range(3):
            codes = [f"{batch}-{n}" for n in range(1, 41)]

            def raise_some(batch: int = batch, codes: list[str] = codes) -> None:
                for n, code in enumerate(codes, start=1):
                    world.app.raise_finding(
                        OFFICE, round_id=world.round_id, unit_id=unit_id, category=[1], ordinal=batch * 100 + n,
                        code=code, heading=f"问题{code}", problem=f"问题{code}的具体表现",
                    )  # fmt: skip

            _, receipts = world.app.batch(raise_some)
            saved.update((finding_id_for(world.round_id, c), r.position) for c, r in zip(codes, receipts, strict=True))
    finally:
        stop.set()
        writer.join()
        other.close()
    logged = world.events(after=head)
    positions = [e.position for e in logged]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    raised_at = {e.aggregate_id: e.position for e in logged if e.type == "Finding.Raised"}
    assert saved == raised_at
    # each batch's events are one run of the log, in the order its commands gave them
    for batch in range(3):
        ours = [raised_at[finding_id_for(world.round_id, f"{batch}-{n}")] for n in range(1, 41)]
        assert ours == list(range(ours[0], ours[0] + 40))
    assert world.app.finding(finding_id_for(world.round_id, "2-40")).heading == "问题2-40"
