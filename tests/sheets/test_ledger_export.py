"""The ledger exported as the office prints it, read back with openpyxl; and imported again, the same ledger."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from sheets_world import HEADERS, INSPECTOR, OFFICE, ROWS, TODAY, LedgerWorld, open_round, write_sheet

from rectify import settings
from rectify.access import PUBLIC, Actor, Role
from rectify.application import finding_id_for
from rectify.bootstrap import open_system
from rectify.examples import songyuan
from rectify.projections.progress import Scope
from rectify.projections.views import At
from rectify.sheets import writer
from rectify.sheets.planner import import_file, plan_file
from rectify.sheets.reader import SheetRejected

EXPORT_HEADERS = [*HEADERS, "红黄绿灯"]  # the import's columns, and each finding's light
#: Two more lines, so that every status is in the ledger: done (awaiting acceptance) and accepted.
MORE = [
    ["10", "甲社区党委", "三、党的作风建设方面", "精简会议", "会议过多", "一是精简会议\n二是合并文件", "书记", "综合办",
     "陈某", date(2025, 12, 1), "会议数量减少三成", "已完成", date(2025, 12, 20), None, None, "是", None],
    ["11", "乙社区党委", "三、党的作风建设方面", "规范公车", "公车私用", "规范公车管理", "副书记", "综合办", "周某",
     date(2025, 10, 31), "已建立派车登记", "已验收", date(2025, 10, 20), 0.08, 0.08, "是", "回头看时复查"],
]  # fmt: skip


def imported(world: LedgerWorld, path: Path, round_id: Any = None) -> None:
    import_file(world.app, world.system.read, path, round_id or world.round_id, OFFICE)
    world.system.projector.catch_up()


def exported(world: LedgerWorld, round_id: Any = None, audience: Actor = OFFICE, at: At | None = None) -> Any:
    result = writer.export(world.system.read, Scope(round_id=round_id or world.round_id), audience, at)
    return result, load_workbook(BytesIO(result.data))


def values(sheet: Worksheet, first_row: int = 1) -> list[list[Any]]:
    return [list(r) for r in sheet.iter_rows(min_row=first_row, values_only=True)]


def test_the_export_reads_back_with_its_title_frozen_header_category_rows_merges_and_statistics(
    ledger_world: LedgerWorld, tmp_path: Path
) -> None:
    world = ledger_world
    imported(world, write_sheet(tmp_path / "台账.xlsx", [*ROWS, *MORE]))
    result, book = exported(world)
    assert book.sheetnames == ["台账", "统计"]
    sheet = book["台账"]
    assert sheet["A1"].value == "十二届区委第二轮巡察反馈问题整改台账"
    assert f"截至日志位置 {result.position}" in sheet["A2"].value
    assert [c.value for c in sheet[3]] == EXPORT_HEADERS
    assert sheet.freeze_panes == "B4"
    assert sheet.column_dimensions["F"].width == 48 and sheet.column_dimensions["E"].width == 40
    merged = {str(r) for r in sheet.merged_cells.ranges}
    assert {"A1:R1", "A2:R2", "A4:R4", "C5:C6", "A7:R7", "C8:C10", "A11:R11", "C12:C13"} == merged
    rows = values(sheet, 4)
    assert rows[0][0] == "一、党的政治建设方面" and rows[3][0] == "二、党的组织建设方面"
    first = dict(zip(EXPORT_HEADERS, rows[1], strict=True))
    assert first == {
        "编号": 1,
        "被巡察单位": "甲社区党委",
        "问题类别（方面）": "一、党的政治建设方面",
        "问题标题": "规范理论学习",
        "具体问题": "“第一议题”学习不规范，记录不完整",
        "整改措施": "一是制定学习指引（已完成 2025-09-01）\n二是建立学习台账",
        "责任领导": "书记",
        "责任部门": "党建办",
        "责任人": "张某",
        "完成时限": datetime(2025, 12, 31),
        "整改进展": "正在推进",
        "整改状态": "整改中",
        "完成日期": None,
        "涉及金额（万元）": None,
        "已整改金额（万元）": None,
        "是否公开": "是",
        "备注": None,
        "红黄绿灯": "红灯",  # 2025-12-31 passed on 2026-03-12, not yet rectified
    }
    closed = dict(zip(EXPORT_HEADERS, rows[2], strict=True))
    assert (closed["整改状态"], closed["完成日期"], closed["红黄绿灯"]) == ("已销号", datetime(2025, 11, 20), "绿灯")
    assert closed["整改措施"] == "一是清退违规支出（已完成）\n二是完善财务制度（已完成）"  # done on 完成日期
    assert (closed["涉及金额（万元）"], closed["已整改金额（万元）"]) == (12.5, 12.5)
    assert sheet.cell(6, 14).number_format == "0.00" and sheet.cell(5, 10).number_format == "yyyy-mm-dd"
    statuses = [r[11] for r in rows if isinstance(r[0], int)]
    assert sorted(statuses) == sorted(["整改中", "已销号", "长期坚持", "部分整改", "未启动", "已完成", "已验收"])
    internal = next(r for r in rows if r[0] == 3)
    assert internal[15] == "否（涉及在办案件）"

    figures = {r[0]: tuple(r[1:3]) for r in values(book["统计"], 3) if r[0]}
    assert figures["问题总数"][0] == 7
    assert [
        figures[k][0]
        for k in ("已完成（已验收、已销号）", "长期坚持", "部分整改", "整改中（含已完成待验收）", "未启动")
    ] == [
        2,
        1,
        1,
        2,
        1,
    ]
    assert figures["涉及金额（万元）"] == (15.91, 159100)
    assert figures["剩余待整改金额（万元）"] == (2.22, 22200)
    assert figures["被巡察单位"][0] == "总数" and figures["甲社区党委"][0] == 4 and figures["乙社区党委"][0] == 3
    assert figures["三、党的作风建设方面"][:2] == (2, 1)


def test_exporting_a_round_and_importing_it_into_a_fresh_round_gives_the_same_ledger(
    ledger_world: LedgerWorld, tmp_path: Path
) -> None:
    world = ledger_world
    imported(world, write_sheet(tmp_path / "台账.xlsx", [*ROWS, *MORE]))
    # what the API adds beside the sheet: a figure in a measure, an extension, a failed acceptance
    finding = finding_id_for(world.round_id, "1")
    unit = Actor("甲", Role.UNIT, world.unit_ids["甲社区党委"])
    world.app.plan_measure(unit, finding_id=finding, text="开展专题培训 {count:培训} 次")
    for day in ("2026-01-05", "2026-02-05"):
        world.app.record_activity(unit, finding_id=finding, kind="培训", occurred_on=day, count=1)
    world.app.extend_deadline(INSPECTOR, finding_id=finding, due_on="2026-06-30", reason="需跨年度推进")
    ten = finding_id_for(world.round_id, "10")
    world.app.record_verification(
        INSPECTOR, finding_id=ten, passed=False, verified_by="巡察办", occurred_on="2026-01-10", comment="会议仍偏多"
    )
    world.system.projector.catch_up()
    _, first = exported(world)
    path = tmp_path / "导出.xlsx"
    first.save(path)

    assert (
        plan_file(world.app, world.system.read, path, world.round_id, OFFICE).steps == []
    )  # its own export: no change

    fresh = world.fresh_round(title="十二届区委第二轮巡察")
    imported(world, path, fresh)
    _, again = exported(world, fresh)
    one, other = values(first["台账"], 2), values(again["台账"], 2)
    one[0][0] = other[0][0] = "position"  # the subtitle names the log position
    assert one == other
    assert {str(r) for r in first["台账"].merged_cells.ranges} == {str(r) for r in again["台账"].merged_cells.ranges}
    assert values(first["统计"], 3) == values(again["统计"], 3)
    line = next(r for r in one if r[0] == 1)
    assert line[5].endswith("三是开展专题培训 2 次") and line[9] == "2026-06-30（原定2025-12-31）"


def test_the_export_as_of_a_past_position_shows_the_ledger_as_it_was(ledger_world: LedgerWorld, tmp_path: Path) -> None:
    world = ledger_world
    imported(world, write_sheet(tmp_path / "v1.xlsx"))
    before = world.app.head()
    moment = datetime.now(UTC)
    rows = copy.deepcopy(ROWS)
    rows[3][11], rows[3][12], rows[3][10] = "已完成", date(2026, 2, 1), "档案全部补齐"
    imported(world, write_sheet(tmp_path / "v2.xlsx", rows))
    _, now = exported(world)
    past, then = exported(world, at=At(position=before))
    assert past.position == before
    status = {r[0]: r[11] for r in values(now["台账"], 4) if isinstance(r[0], int)}
    status_then = {r[0]: r[11] for r in values(then["台账"], 4) if isinstance(r[0], int)}
    assert (status[4], status_then[4]) == ("已完成", "部分整改")
    by_time, _ = exported(world, at=At(recorded_at=moment))
    assert by_time.position == before


def test_the_district_export_lists_each_round_under_its_title_and_a_unit_export_its_own_findings(
    ledger_world: LedgerWorld, tmp_path: Path
) -> None:
    world = ledger_world
    imported(world, write_sheet(tmp_path / "a.xlsx"))
    third = world.fresh_round(title="十二届区委第三轮巡察")
    imported(world, write_sheet(tmp_path / "b.xlsx", [MORE[0]]), third)
    district = writer.export(world.system.read, Scope(), OFFICE)
    sheet = load_workbook(BytesIO(district.data))["台账"]
    assert sheet["A1"].value == "全区整改台账" and district.findings == 6
    bands = [r[0] for r in values(sheet, 4) if isinstance(r[0], str) and r[1] is None]
    assert bands == [  # in the order the rounds were opened
        "十二届区委第二轮巡察",
        "一、党的政治建设方面",
        "二、党的组织建设方面",
        "十二届区委第三轮巡察",
        "一、党的作风建设方面",
    ]
    unit = writer.export(world.system.read, Scope(unit_id=world.unit_ids["甲社区党委"]), OFFICE)
    rows = values(load_workbook(BytesIO(unit.data))["台账"], 1)
    assert rows[0][0] == "中共罗湖区甲社区委员会整改台账"
    assert sorted(r[0] for r in rows[3:] if isinstance(r[0], int)) == [1, 3, 5, 10]


def test_the_public_export_leaves_out_internal_findings_and_names_and_counts_them_only(
    ledger_world: LedgerWorld, tmp_path: Path
) -> None:
    world = ledger_world
    imported(world, write_sheet(tmp_path / "台账.xlsx"))
    result, book = exported(world, audience=PUBLIC)
    rows = [r for r in values(book["台账"], 4) if isinstance(r[0], int)]
    assert sorted(r[0] for r in rows) == [1, 2, 4, 5] and result.findings == 4
    assert {(r[6], r[8], r[16]) for r in rows} == {(None, None, None)}  # no leader, person or remark
    assert not any("在办案件" in str(cell) for r in values(book["台账"]) for cell in r)
    figures = {r[0]: r[1] for r in values(book["统计"], 3) if r[0]}
    assert (figures["问题总数"], figures["不宜公开、未列出的问题"]) == (4, 1)
    assert figures["涉及金额（万元）"] == 15.83


def test_the_template_has_the_columns_offices_use_and_lists_to_pick_from(tmp_path: Path) -> None:
    book = load_workbook(BytesIO(writer.template()))
    sheet = book["台账"]
    assert [c.value for c in sheet[2]] == EXPORT_HEADERS[:-1]
    lists = {str(v.sqref).split(":")[0][0]: v.formula1 for v in sheet.data_validations.dataValidation}
    assert lists["L"] == '"未启动,整改中,部分整改,已完成,长期坚持,已验收,已销号"'
    assert "立行立改" in lists["J"] and "否" in lists["P"]
    assert "填写说明" in book.sheetnames
    path = tmp_path / "template.xlsx"
    path.write_bytes(writer.template())
    try:
        from rectify.sheets.reader import read_workbook

        read = read_workbook(path, today=date(2026, 3, 12))
    except SheetRejected as rejected:  # pragma: no cover - a template is readable
        raise AssertionError(rejected) from None
    assert [str(e) for e in read.errors] == [
        "台账 row 3, column A 编号: the sheet has a header row but no findings under it"
    ]


def test_the_reference_rounds_ledger_exports_reimports_as_no_change_and_copies_into_a_fresh_round(
    database_url: str, tmp_path: Path
) -> None:
    """The reference notice's round: sub-categories, figures in measures, long-term items, an internal one."""
    system = open_system(settings.load({}, database_url=database_url), run_projector=False, today=lambda: TODAY)
    try:
        loaded = songyuan.load(system.app, OFFICE)
        system.projector.catch_up()
        first = writer.export(system.read, Scope(round_id=loaded.round_id), OFFICE)
        path = tmp_path / "松园.xlsx"
        path.write_bytes(first.data)
        again = plan_file(system.app, system.read, path, loaded.round_id, OFFICE)
        assert (again.steps, again.errors) == ([], [])

        fresh = open_round(system, [loaded.unit_id], "松园社区巡察（复制）")
        system.projector.catch_up()
        import_file(system.app, system.read, path, fresh, OFFICE)
        system.projector.catch_up()
        copied = writer.export(system.read, Scope(round_id=fresh), OFFICE)
        one = values(load_workbook(BytesIO(first.data))["台账"], 3)
        other = values(load_workbook(BytesIO(copied.data))["台账"], 3)
        assert one == other and first.findings == copied.findings == 14
        assert "累计开展" in str(one) and "长期坚持" in str(one)
    finally:
        system.close()
