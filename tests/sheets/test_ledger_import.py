"""Importing a 台账 is a diff: lifecycle events for what the sheet says, nothing for what is already so."""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sheets_world import INSPECTOR, OFFICE, ROWS, LedgerWorld, write_sheet

from rectify.access import Actor, Role
from rectify.application import finding_id_for
from rectify.domain.errors import Forbidden
from rectify.domain.values import DeadlineKind, Disclosure, FindingStatus
from rectify.projections.ledger import LedgerStatus
from rectify.projections.progress import Scope
from rectify.sheets.planner import import_file, plan_file
from rectify.sheets.reader import SheetRejected

COLUMN = {name: i for i, name in enumerate(["code", "unit", "category", "heading", "problem", "measures", "leader",
                                             "department", "person", "deadline", "progress", "status", "completed_on",
                                             "involved", "rectified", "public", "remark"])}  # fmt: skip


def events_by_row(world: LedgerWorld, path: Path, actor: Actor = OFFICE) -> dict[str, list[str]]:
    planned = plan_file(world.app, world.system.read, path, world.round_id, actor)
    assert not planned.errors, [str(e) for e in planned.errors]
    return {code: [s.event for s in steps] for _, code, steps in planned.by_row()}


def test_a_dry_run_says_row_by_row_which_events_a_sheet_would_append_and_appends_none(
    ledger_world: LedgerWorld, tmp_path: Path
) -> None:
    head = ledger_world.app.head()
    planned = events_by_row(ledger_world, write_sheet(tmp_path / "台账.xlsx"))
    assert planned == {
        "1": [
            "Round.CategoryDefined",
            "Finding.Raised",
            "Finding.ResponsibilityAssigned",
            "Finding.MeasurePlanned",
            "Finding.MeasurePlanned",
            "Finding.MeasureCompleted",
            "Finding.ProgressNoted",
        ],
        "2": [
            "Finding.Raised",
            "Finding.ResponsibilityAssigned",
            "Finding.MeasurePlanned",
            "Finding.MeasurePlanned",
            "Finding.MeasureCompleted",  # 已销号 says every measure is done: completed on 完成日期
            "Finding.MeasureCompleted",
            "Finding.ActivityRecorded",  # 已整改金额 12.50 万元
            "Finding.RectificationReported",
            "Finding.VerificationRecorded",
            "Finding.Closed",
        ],
        "3": [
            "Round.CategoryDefined",
            "Finding.Raised",
            "Finding.ResponsibilityAssigned",
            "Finding.MeasurePlanned",
            "Finding.MeasureCompleted",  # 长期坚持 with no measure marked: its phased result is the measure
            "Finding.MarkedLongTerm",
            "Finding.ProgressNoted",  # the 备注
        ],
        "4": [
            "Finding.Raised",
            "Finding.ResponsibilityAssigned",
            "Finding.MeasurePlanned",
            "Finding.MeasurePlanned",
            "Finding.ActivityRecorded",
            "Finding.PartlyRectified",
        ],
        "5": ["Finding.Raised"],
    }
    assert ledger_world.app.head() == head


def test_a_sheet_becomes_the_ledger_and_the_same_sheet_again_appends_nothing(
    ledger_world: LedgerWorld, tmp_path: Path
) -> None:
    world = ledger_world
    sheet = write_sheet(tmp_path / "台账.xlsx")
    head = world.app.head()
    planned, imported = import_file(world.app, world.system.read, sheet, world.round_id, OFFICE)
    assert imported.steps == len(planned.steps) == 31 == world.app.head() - head
    appended = world.events(after=head)
    assert {e.actor for e in appended} == {str(OFFICE)}  # the importer is the actor of every event
    world.system.projector.catch_up()
    _, rows = world.system.read.ledger(Scope(round_id=world.round_id), OFFICE)
    by_code = {r.code: r for r in rows}
    assert [by_code[c].ledger_status for c in "12345"] == [
        LedgerStatus.IN_PROGRESS,
        LedgerStatus.CLOSED,
        LedgerStatus.LONG_TERM,
        LedgerStatus.PARTLY,
        LedgerStatus.NOT_STARTED,
    ]
    closed = by_code["2"]
    assert closed.close_out is not None and closed.close_out.occurred_on == date(2025, 11, 20)  # 完成日期
    assert [m.completed_on for m in by_code["1"].measures] == [date(2025, 9, 1), None]
    assert by_code["3"].disclosure is Disclosure.INTERNAL and by_code["3"].withholding_reason == "涉及在办案件"
    assert by_code["3"].deadline.kind is DeadlineKind.LONG_TERM and by_code["4"].deadline.kind is DeadlineKind.IMMEDIATE
    assert (by_code["3"].progress_text, by_code["3"].remark) == ("建立长效机制", "内部掌握")
    figures = world.system.read.progress(Scope(round_id=world.round_id), OFFICE)
    assert (figures.total, figures.completed, figures.long_term, figures.partly, figures.in_progress) == (5, 1, 1, 1, 1)
    assert (figures.in_wan.involved, figures.in_wan.rectified, figures.in_wan.remaining) == (
        Decimal("15.83"),
        Decimal("13.61"),
        Decimal("2.22"),
    )

    again = plan_file(world.app, world.system.read, sheet, world.round_id, OFFICE)
    assert (again.steps, again.errors, again.unchanged) == ([], [], 5)


def test_an_edited_sheet_appends_only_its_changes_as_lifecycle_events_with_the_sheets_dates(
    ledger_world: LedgerWorld, tmp_path: Path
) -> None:
    world = ledger_world
    import_file(world.app, world.system.read, write_sheet(tmp_path / "v1.xlsx"), world.round_id, OFFICE)
    world.system.projector.catch_up()
    rows = copy.deepcopy(ROWS)
    rows[0][COLUMN["measures"]] = (
        "一是制定学习指引（已完成 2025-09-01）\n二是建立学习台账（已完成 2026-01-05）\n三是开展专题培训"
    )
    rows[0][COLUMN["deadline"]] = date(2026, 1, 31)
    rows[1][COLUMN["involved"]] = "13.05"
    rows[3][COLUMN["status"]] = "已完成"
    rows[3][COLUMN["completed_on"]] = date(2026, 2, 1)
    rows[3][COLUMN["progress"]] = "档案全部补齐，制度已印发"
    rows[4][COLUMN["measures"]] = "一是梳理发展党员流程"
    rows[4][COLUMN["department"]] = "组织委员"
    rows[4][COLUMN["deadline"]] = "2026-04-30"
    rows[4][COLUMN["status"]] = "整改中"
    edited = write_sheet(tmp_path / "v2.xlsx", rows)
    assert events_by_row(world, edited) == {
        "1": [
            "Finding.DeadlineExtended",
            "Finding.MeasurePlanned",
            "Finding.MeasureCompleted",
        ],
        "2": ["Finding.AmountsInvolvedCorrected"],
        "4": ["Finding.MeasureCompleted", "Finding.MeasureCompleted", "Finding.RectificationReported"],
        "5": ["Finding.ResponsibilityAssigned", "Finding.MeasurePlanned"],
    }
    head = world.app.head()
    import_file(world.app, world.system.read, edited, world.round_id, OFFICE)
    appended = world.events(after=head)
    assert len(appended) == 9
    business = {(e.type, e.business_date) for e in appended if e.business_date}
    assert ("Finding.MeasureCompleted", date(2026, 1, 5)) in business
    assert ("Finding.RectificationReported", date(2026, 2, 1)) in business
    extension = next(e for e in appended if e.type == "Finding.DeadlineExtended")
    assert "2025-12-31" in extension.payload["reason"] and "2026-01-31" in extension.payload["reason"]
    finding = world.app.finding(finding_id_for(world.round_id, "4"))
    assert finding.status is FindingStatus.REPORTED and finding.report.summary == "档案全部补齐，制度已印发"
    world.system.projector.catch_up()
    assert plan_file(world.app, world.system.read, edited, world.round_id, OFFICE).steps == []


def test_a_change_the_importers_role_may_not_make_is_an_error_naming_its_row_and_nothing_is_appended(
    ledger_world: LedgerWorld, tmp_path: Path
) -> None:
    world = ledger_world
    import_file(world.app, world.system.read, write_sheet(tmp_path / "v1.xlsx"), world.round_id, OFFICE)
    world.system.projector.catch_up()
    unit = Actor("甲社区党委-台账员", Role.UNIT, world.unit_ids["甲社区党委"])
    own = [copy.deepcopy(r) for r in ROWS if r[COLUMN["unit"]] == "甲社区党委"]
    own[0][COLUMN["measures"]] += "\n三是开展专题培训"  # the unit's to do: fine
    own[0][COLUMN["status"]] = "已验收"  # a unit does not verify
    own[0][COLUMN["completed_on"]] = date(2026, 2, 1)
    own.append(
        [
            "9",
            "甲社区党委",
            "一、党的政治建设方面",
            "新问题",
            "新发现的问题",
            *([None] * 6),
            "未启动",
            None,
            None,
            None,
            "是",
            None,
        ]
    )
    head = world.app.head()
    with pytest.raises(SheetRejected) as rejected:
        import_file(world.app, world.system.read, write_sheet(tmp_path / "unit.xlsx", own), world.round_id, unit)
    problems = {(e.row, e.column): e.reason for e in rejected.value.errors}
    assert set(problems) == {(3, "L 整改状态"), (6, "A 编号")}
    assert "record_verification" in problems[(3, "L 整改状态")] and "unit role" in problems[(3, "L 整改状态")]
    assert "raises no findings" in problems[(6, "A 编号")]
    assert world.app.head() == head

    own[0][COLUMN["status"]] = "整改中"
    own.pop()
    planned, imported = import_file(
        world.app, world.system.read, write_sheet(tmp_path / "unit.xlsx", own), world.round_id, unit
    )
    assert imported.steps == 1 and {e.actor for e in world.events(after=head)} == {str(unit)}


def test_the_inspection_office_imports_the_whole_consolidated_ledger_as_the_actor_of_every_event(
    ledger_world: LedgerWorld, tmp_path: Path
) -> None:
    """The office keeps the 汇总台账: its import records the units' reported steps too, as the office."""
    world = ledger_world
    head = world.app.head()
    sheet = write_sheet(tmp_path / "s.xlsx")
    planned, imported = import_file(world.app, world.system.read, sheet, world.round_id, INSPECTOR)
    assert imported.steps == len(planned.steps) == 31 == world.app.head() - head
    appended = world.events(after=head)
    assert {e.actor for e in appended} == {str(INSPECTOR)}
    assert {"Finding.MeasurePlanned", "Finding.PartlyRectified", "Finding.Closed"} <= {e.type for e in appended}
    world.system.projector.catch_up()
    assert plan_file(world.app, world.system.read, sheet, world.round_id, INSPECTOR).steps == []


def test_an_inspector_still_may_not_give_a_units_command_outside_an_import(
    ledger_world: LedgerWorld, tmp_path: Path
) -> None:
    world = ledger_world
    import_file(world.app, world.system.read, write_sheet(tmp_path / "s.xlsx"), world.round_id, OFFICE)
    head = world.app.head()
    with pytest.raises(Forbidden, match="plan_measure: not allowed for the inspector role"):
        world.app.plan_measure(INSPECTOR, finding_id=finding_id_for(world.round_id, "1"), text="三是开展专题培训")
    assert world.app.head() == head
