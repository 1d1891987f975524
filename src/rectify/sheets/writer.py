"""Writing the 台账: the empty template an office fills in, and the ledger as of any point of the log.

The export is laid out as an office prints its ledger: a title, the header row frozen, a header
row for each category (merged across) with the 问题类别 column merged down its findings, Chinese
labels, each finding's status and light, column widths and print settings; a second sheet 统计
holds the progress figures. Read back by the importer, an export is the same ledger again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from io import BytesIO
from uuid import UUID
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from rectify.access import Actor, may_see_finding
from rectify.domain import Round, Unit
from rectify.domain.errors import InvalidInput
from rectify.domain.figures import filled
from rectify.projections.ledger import LedgerRow, LedgerStatus, Money
from rectify.projections.progress import Progress, Scope, progress
from rectify.projections.views import At, ReadModels, catalogues
from rectify.sheets.reader import LEDGER_SHEET
from rectify.sheets.template import (
    BY_KEY,
    COLUMNS,
    IMMEDIATE,
    LONG_TERM,
    Column,
    LedgerLine,
    category_label,
    deadline_cell,
    line_of,
    measures_text,
    public_cell,
)

FONT = "宋体"
THIN = Side(style="thin", color="808080")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
HEADER_FILL = PatternFill("solid", fgColor="D9E1F2")
CATEGORY_FILL = PatternFill("solid", fgColor="F2F2F2")
LIGHT_FILLS = {
    "红灯": PatternFill("solid", fgColor="FFC7CE"),
    "黄灯": PatternFill("solid", fgColor="FFEB9C"),
    "绿灯": PatternFill("solid", fgColor="C6EFCE"),
}
DATE_FORMAT = "yyyy-mm-dd"
MONEY_FORMAT = "0.00"
TEMPLATE_ROWS = 2000
LINE_HEIGHT = 13.5  # points, a line of 10-point 宋体  # rows the template's drop-down lists cover
#: What this writer puts in a cell (None: an empty one).
CellValue = str | int | Decimal | date | None


@dataclass(frozen=True)
class Exported:
    """An exported ledger: the workbook's bytes, the position it shows, and how many findings."""

    data: bytes
    position: int
    findings: int
    progress: Progress


# -- the template --------------------------------------------------------------------------------------


def template(round_: Round | None = None, units: Sequence[Unit] = ()) -> bytes:
    """The empty 台账 an office fills in; with a round, titled for it, with its units and categories to pick."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = LEDGER_SHEET
    columns = [c for c in COLUMNS if c.read and (c.key != "unit" or len(units) != 1)]
    title = f"{_round_title(round_)}整改台账" if round_ else "（轮次名称）整改台账"
    _title(sheet, 1, title, len(columns), size=16)
    _header(sheet, 2, columns)
    sheet.freeze_panes = "B3"
    last = 2 + TEMPLATE_ROWS

    def choose(key: str, options: Iterable[str], *, strict: bool) -> None:
        letter = get_column_letter(columns.index(BY_KEY[key]) + 1)
        listed = ",".join(options)
        rule = DataValidation(type="list", formula1=f'"{listed}"', allow_blank=True, showErrorMessage=strict)
        if strict:
            rule.error, rule.errorTitle = f"请从列表中选择：{listed}", BY_KEY[key].header
        rule.add(f"{letter}3:{letter}{last}")
        sheet.add_data_validation(rule)

    choose("status", (s.value for s in LedgerStatus), strict=True)
    choose("public", ("是", "否（不宜公开的原因）"), strict=False)
    choose("deadline", (IMMEDIATE, LONG_TERM), strict=False)
    if round_ is not None:
        titles = [c.title for c in round_.categories if len(c.path) == 1]
        if titles and sum(len(t) + 1 for t in titles) < 250:  # a list typed in the rule holds 255 characters
            choose("category", titles, strict=False)
        if len(units) > 1 and sum(len(u.short_name) + 1 for u in units) < 250:
            choose("unit", (u.short_name for u in units), strict=True)
    for number, column in enumerate(columns, start=1):
        letter = get_column_letter(number)
        if column.key in ("completed_on",):
            for row in range(3, 203):
                sheet[f"{letter}{row}"].number_format = DATE_FORMAT
        if column.key in ("involved", "rectified"):
            for row in range(3, 203):
                sheet[f"{letter}{row}"].number_format = MONEY_FORMAT
    _instructions(book.create_sheet("填写说明"))
    return _bytes(book)


def _instructions(sheet: Worksheet) -> None:
    rows = [
        ("列", "怎么填"),
        ("编号", "每个问题一个编号，导入时按编号对应已有问题；同一编号再次导入只追加变化。"),
        ("被巡察单位", "一轮巡察多个单位时必填，写单位名称或简称。"),
        ("问题类别（方面）", "如“一、党的政治建设方面”；也可在问题行上方单独一行写类别标题（合并单元格亦可）。"),
        ("问题标题", "选填；不填时取具体问题的第一句。"),
        ("整改措施", "一行一条措施（一是……二是……）；已完成的措施在末尾注明“（已完成）”或“（已完成 2025-10-12）”。"),
        ("责任领导 / 责任部门 / 责任人", "至少填一项，并填完成时限。"),
        ("完成时限", "日期（2025-12-31），或“立行立改”“长期坚持”。延期时填新的日期。"),
        ("整改进展", "部分整改、已完成、长期坚持、已验收、已销号时必填：它就是报告的整改情况。"),
        ("整改状态", "、".join(s.value for s in LedgerStatus) + "；只能向前推进。"),
        ("完成日期", "已完成、长期坚持、已验收、已销号时必填；未单独注明日期的措施按此日期完成。"),
        ("涉及金额（万元）/ 已整改金额（万元）", "万元，最多两位小数；已整改金额只增不减。"),
        ("是否公开", "是；或“否（不宜公开的原因）”。"),
        ("备注", "选填。"),
        ("公式、合并单元格", "不读取公式，请填写数值；除类别标题行和问题类别列外不要合并单元格。"),
    ]
    for r, (column, how) in enumerate(rows, start=1):
        sheet.cell(r, 1, column).font = Font(name=FONT, bold=True)
        sheet.cell(r, 2, how).font = Font(name=FONT, bold=r == 1)
        sheet.cell(r, 2).alignment = Alignment(wrap_text=True, vertical="top")
    sheet.column_dimensions["A"].width = 30
    sheet.column_dimensions["B"].width = 90


# -- the export ----------------------------------------------------------------------------------------


def as_of(value: str, timezone: str, field: str = "asOf") -> At:
    """A point to export at: a log position (1200) or a record time (2026-03-12T18:00, in `timezone` if it
    names no offset); InvalidInput naming `field` for anything else."""
    if value.isdigit():
        return At(position=int(value))
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(field, f"is neither a position nor a record time: {value[:40]!r}") from None
    return At(recorded_at=moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(timezone)))


def export(
    read: ReadModels,
    scope: Scope,
    audience: Actor,
    at: At | None = None,
    *,
    shown_as: Callable[[int], int] | None = None,
) -> Exported:
    """The ledger of a round, a unit or the district, as of `at` (default: now), as `audience` sees it.
    `shown_as`: the position as the audience is shown it (the front door's Reading.shown), printed and returned."""
    today = read.today()
    with read.view(at, scope) as view:
        rows = view.ledger(scope)
        position = view.position if shown_as is None else shown_as(view.position)
        rounds = {r.id: r for r in view.aggregates(Round)}
        units = {u.id: u for u in view.aggregates(Unit)}
        kinds = catalogues(view)
    figures = progress(
        rows,
        scope=scope,
        audience=audience,
        today=today,
        position=position,
        thresholds=read.thresholds,
        catalogues=kinds,
    )
    shown = [r for r in rows if may_see_finding(audience, r)]
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = LEDGER_SHEET
    labels = _unit_labels(units)
    unit_ids = {r.unit_id for r in shown} | _scope_units(scope, rounds)
    columns = [c for c in COLUMNS if c.key != "unit" or len(unit_ids) > 1]
    title = _export_title(scope, rounds, units)
    _title(sheet, 1, title, len(columns), size=16)
    _title(
        sheet,
        2,
        f"截至日志位置 {position}；红黄绿灯按 {today.isoformat()} 计；金额单位：万元",
        len(columns),
        size=10,
        bold=False,
    )
    _header(sheet, 3, columns)
    sheet.freeze_panes = "B4"
    row_number = 4
    for round_id in sorted({r.round_id for r in shown}, key=lambda rid: rounds[rid].created_on):  # as opened
        round_ = rounds[round_id]
        if len({r.round_id for r in shown}) > 1:
            _band(sheet, row_number, _round_title(round_), len(columns), size=12)
            row_number += 1
        in_round = sorted((r for r in shown if r.round_id == round_id), key=lambda r: (r.place, r.code))
        titles = {c.path: c.title for c in round_.categories}
        for number, top in enumerate(sorted({r.category[:1] for r in in_round}), start=1):
            label = category_label(number, titles.get(top, ""))
            _band(sheet, row_number, label, len(columns), size=11, fill=CATEGORY_FILL)
            row_number += 1
            group = [r for r in in_round if r.category[:1] == top]
            first = row_number
            for row in group:
                line = _line(row, audience, labels.get(row.unit_id, ""), label, kinds.get(round_id, ()), today, read)
                _write_line(sheet, row_number, columns, line)
                row_number += 1
            category_column = columns.index(BY_KEY["category"]) + 1
            if len(group) > 1:
                sheet.merge_cells(
                    start_row=first, start_column=category_column, end_row=row_number - 1, end_column=category_column
                )
    _page(sheet, columns, header_row=3)
    _statistics(book.create_sheet("统计"), figures, rows, audience, today, position, read, kinds, units, rounds)
    return Exported(_bytes(book), position, len(shown), figures)


def _scope_units(scope: Scope, rounds: dict[UUID, Round]) -> set[UUID]:
    if scope.unit_id is not None:
        return {scope.unit_id}
    if scope.round_id is not None and scope.round_id in rounds:
        return set(rounds[scope.round_id].unit_ids)
    return set()


def _line(
    row: LedgerRow,
    audience: Actor,
    unit: str,
    category: str,
    catalogue: tuple,
    today: date,
    read: ReadModels,
) -> LedgerLine:
    line = line_of(
        row,
        unit=unit,
        category=category,
        catalogue=catalogue,
        today=today,
        thresholds=read.thresholds,
        filled=lambda m: filled(m.text, row.activities),
    )
    if not audience.may_read_unit(row.unit_id):
        # the public reads no person's name and no remark (DESIGN.md, "Who may do what")
        line = replace(line, leader="", person="", remark="")
    return line


def _unit_labels(units: dict[UUID, Unit]) -> dict[UUID, str]:
    """Units as the ledger names them: by short name, or by full name where two share a short one."""
    shared = Counter(u.short_name for u in units.values())
    return {u.id: u.name if shared[u.short_name] > 1 else u.short_name for u in units.values()}


def _write_line(sheet: Worksheet, row: int, columns: list[Column], line: LedgerLine) -> None:
    values: dict[str, CellValue] = {
        "code": _code(line.code),
        "unit": line.unit,
        "category": line.category,
        "heading": line.heading,
        "problem": line.problem,
        "measures": measures_text(line),
        "leader": line.leader,
        "department": line.department,
        "person": line.person,
        "deadline": deadline_cell(line),
        "progress": line.progress,
        "status": line.status.value,
        "completed_on": line.completed_on,
        "involved": line.involved if line.involved else None,
        "rectified": line.rectified if line.rectified else None,
        "public": public_cell(line),
        "remark": line.remark,
        "light": line.light,
    }
    lines = 1
    for number, column in enumerate(columns, start=1):
        value = values[column.key]
        if isinstance(value, str):
            lines = max(lines, _lines_needed(value, column.width))
        cell = sheet.cell(row, number, value if value != "" else None)
        cell.font = Font(name=FONT, size=10)
        cell.border = BORDER
        wide = column.width >= 16
        cell.alignment = Alignment(
            wrap_text=True, vertical="top" if wide else "center", horizontal=None if wide else "center"
        )
        if isinstance(value, date):
            cell.number_format = DATE_FORMAT
        elif isinstance(value, Decimal):
            cell.number_format = MONEY_FORMAT
            cell.value = value  # openpyxl writes a Decimal as the number it is
        if column.key == "light" and isinstance(value, str) and value in LIGHT_FILLS:
            cell.fill = LIGHT_FILLS[value]
    # Spreadsheets do not grow a row to fit wrapped text they did not lay out themselves.
    sheet.row_dimensions[row].height = min(LINE_HEIGHT * lines + 4, 409)


def _lines_needed(text: str, width: float) -> int:
    """About how many lines a text wraps to in a column this wide (a Chinese character is two units)."""
    per_line = max(int(width) - 1, 2)
    return sum(max(1, -(-sum(2 if ord(ch) > 0x2E80 else 1 for ch in part) // per_line)) for part in text.split("\n"))


def _code(code: str) -> int | str:
    """A numeric 编号 is written as a number, as offices type it."""
    return int(code) if code.isdigit() and not code.startswith("0") and len(code) < 10 else code


def _statistics(
    sheet: Worksheet,
    figures: Progress,
    rows: list[LedgerRow],
    audience: Actor,
    today: date,
    position: int,
    read: ReadModels,
    kinds: dict,
    units: dict[UUID, Unit],
    rounds: dict[UUID, Round],
) -> None:
    """统计: the progress figures of the whole export, then by unit and by category."""
    _title(sheet, 1, "整改进展统计", 3, size=14)
    _title(sheet, 2, f"截至日志位置 {position}；按 {today.isoformat()} 计", 3, size=10, bold=False)
    money_rows = [
        ("涉及金额", "involved"),
        ("整改到位资金", "rectified"),
        ("剩余待整改金额", "remaining"),
        ("追回金额", "recovered"),
        ("挽回损失", "retrieved"),
    ]
    yuan = Money(
        figures.amount_involved,
        figures.amount_rectified,
        figures.amount_recovered,
        figures.amount_retrieved,
        figures.amount_remaining,
    )
    table: list[tuple[str, CellValue, CellValue]] = [
        ("项目", "数值", "元"),
        ("问题总数", figures.total, None),
        ("已完成（已验收、已销号）", figures.completed, None),
        ("长期坚持", figures.long_term, None),
        ("部分整改", figures.partly, None),
        ("整改中（含已完成待验收）", figures.in_progress, None),
        ("未启动", figures.not_started, None),
        ("完成率（%）", figures.completion_rate, None),
        ("逾期", figures.overdue, None),
        ("红灯", figures.red, None),
        ("黄灯", figures.yellow, None),
        ("绿灯", figures.green, None),
        ("不宜公开、未列出的问题", figures.undisclosed, None),
        ("延期次数", figures.extensions, None),
        ("回头看（反弹）", f"{figures.relapse_checked}（{figures.relapsed}）", None),
        *((f"{label}（万元）", getattr(figures.in_wan, key), getattr(yuan, key)) for label, key in money_rows),
    ]
    for r, values in enumerate(table, start=3):
        for c, value in enumerate(values, start=1):
            cell = sheet.cell(r, c, value)
            cell.font = Font(name=FONT, bold=r == 3)
            cell.border = BORDER
            if isinstance(value, Decimal):
                cell.number_format = MONEY_FORMAT
            if r == 3:
                cell.fill = HEADER_FILL
    sheet.column_dimensions["A"].width = 28
    sheet.column_dimensions["B"].width = 14
    sheet.column_dimensions["C"].width = 16
    start = 3 + len(table) + 1
    unit_scopes = sorted({r.unit_id for r in rows if may_see_finding(audience, r)}, key=lambda u: units[u].short_name)
    if len(unit_scopes) > 1:
        start = _breakdown(
            sheet,
            start,
            "被巡察单位",
            [(units[u].short_name, Scope(unit_id=u)) for u in unit_scopes],
            rows,
            audience,
            today,
            position,
            read,
            kinds,
        )
    shown_rounds = {r.round_id for r in rows if may_see_finding(audience, r)}
    if len(shown_rounds) == 1:
        round_ = rounds[shown_rounds.pop()]
        tops = [c for c in round_.categories if len(c.path) == 1]
        scopes = [
            (category_label(n, c.title), Scope(round_id=round_.id, category=c.path))
            for n, c in enumerate(tops, start=1)
        ]
        _breakdown(sheet, start, "问题类别", scopes, rows, audience, today, position, read, kinds)


def _breakdown(
    sheet: Worksheet,
    start: int,
    name: str,
    scopes: list[tuple[str, Scope]],
    rows: list[LedgerRow],
    audience: Actor,
    today: date,
    position: int,
    read: ReadModels,
    kinds: dict,
) -> int:
    headers = [
        name,
        "总数",
        "已完成",
        "长期坚持",
        "部分整改",
        "整改中",
        "未启动",
        "完成率（%）",
        "逾期",
        "涉及金额（万元）",
        "已整改金额（万元）",
    ]
    for c, header in enumerate(headers, start=1):
        cell = sheet.cell(start, c, header)
        cell.font, cell.fill, cell.border = Font(name=FONT, bold=True), HEADER_FILL, BORDER
    for r, (label, scope) in enumerate(scopes, start=start + 1):
        p = progress(
            rows,
            scope=scope,
            audience=audience,
            today=today,
            position=position,
            thresholds=read.thresholds,
            catalogues=kinds,
        )
        values: list[CellValue] = [
            label,
            p.total,
            p.completed,
            p.long_term,
            p.partly,
            p.in_progress,
            p.not_started,
            p.completion_rate,
            p.overdue,
            p.in_wan.involved,
            p.in_wan.rectified,
        ]
        for c, value in enumerate(values, start=1):
            cell = sheet.cell(r, c, value)
            cell.font, cell.border = Font(name=FONT), BORDER
            if isinstance(value, Decimal):
                cell.number_format = MONEY_FORMAT
    for c in range(4, len(headers) + 1):
        sheet.column_dimensions[get_column_letter(c)].width = max(
            sheet.column_dimensions[get_column_letter(c)].width or 0, 12
        )
    return start + len(scopes) + 2


# -- layout --------------------------------------------------------------------------------------------


def _round_title(round_: Round) -> str:
    """The round's title, or what its team and kind say: 罗湖区第四巡察组巡察."""
    return round_.title or f"{round_.team_name}{round_.kind.label}"


def _export_title(scope: Scope, rounds: dict[UUID, Round], units: dict[UUID, Unit]) -> str:
    if scope.round_id is not None and scope.round_id in rounds:
        head = _round_title(rounds[scope.round_id])
        if scope.unit_id is not None and scope.unit_id in units:
            head += f"（{units[scope.unit_id].short_name}）"
        return f"{head}反馈问题整改台账"
    if scope.unit_id is not None and scope.unit_id in units:
        return f"{units[scope.unit_id].name}整改台账"
    return "全区整改台账"


def _title(sheet: Worksheet, row: int, text: str, width: int, *, size: int, bold: bool = True) -> None:
    sheet.cell(row, 1, text).font = Font(name=FONT, size=size, bold=bold)
    sheet.cell(row, 1).alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=width)
    sheet.row_dimensions[row].height = 28 if size > 12 else 18


def _band(sheet: Worksheet, row: int, text: str, width: int, *, size: int, fill: PatternFill | None = None) -> None:
    """A header row across the ledger: a category (一、…方面), or a round in a district export."""
    cell = sheet.cell(row, 1, text)
    cell.font = Font(name=FONT, size=size, bold=True)
    cell.alignment = Alignment(horizontal="left", vertical="center")
    for column in range(1, width + 1):
        sheet.cell(row, column).border = BORDER
        if fill is not None:
            sheet.cell(row, column).fill = fill
    sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=width)


def _header(sheet: Worksheet, row: int, columns: list[Column]) -> None:
    for number, column in enumerate(columns, start=1):
        cell = sheet.cell(row, number, column.header)
        cell.font = Font(name=FONT, size=11, bold=True)
        cell.fill = HEADER_FILL
        cell.border = BORDER
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        sheet.column_dimensions[get_column_letter(number)].width = column.width
    sheet.row_dimensions[row].height = 32


def _page(sheet: Worksheet, columns: list[Column], *, header_row: int) -> None:
    """Printed as offices print a ledger: A3 landscape, one page wide, the header on every page."""
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A3
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    fit = sheet.sheet_properties.pageSetUpPr
    assert fit is not None  # a worksheet's properties always come with their page set-up
    fit.fitToPage = True
    sheet.print_title_rows = f"{header_row}:{header_row}"
    sheet.print_options.horizontalCentered = True


def _bytes(book: Workbook) -> bytes:
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()
