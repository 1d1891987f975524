"""Reading a 台账 workbook into ledger lines, every problem named by sheet, row, column and reason.

The reader reads what the sheet says and checks each cell on its own (a date is a date, an amount
is an amount in 万元, a status is one offices use); whether the lines fit the round and its
findings is the planner's question. It uses openpyxl, which also tells formulas and merged cells.
"""

from __future__ import annotations

import warnings
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

from defusedxml import DefusedXmlException
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet.worksheet import Worksheet

from rectify import validation as v
from rectify.domain.errors import InvalidInput, RectifyError
from rectify.domain.figures import figures_in
from rectify.domain.values import Disclosure
from rectify.sheets.template import (
    BY_KEY,
    COLUMNS,
    CellError,
    LedgerLine,
    MeasureLine,
    normal_header,
    parse_amount,
    parse_category,
    parse_date,
    parse_deadlines,
    parse_measures,
    parse_public,
    parse_status,
    text_of,
)

LEDGER_SHEET = "台账"
#: Sheets a workbook may hold beside the ledger, which an import does not read.
OTHER_SHEETS = ("统计", "填写说明", "选项")
HEADER_SEARCH = 15  # the header row is one of the first rows (a title may stand above it)
MAX_ERRORS = 200
#: Columns a merge may run down, its value standing for every row it covers.
MERGEABLE = ("category", "unit")


@dataclass(frozen=True)
class SheetError:
    """One problem of a sheet: where it is (as much as is known) and why."""

    sheet: str | None
    row: int | None
    column: str | None  # the letter and header, e.g. "J 完成时限"
    reason: str

    def __str__(self) -> str:
        place = self.sheet or "workbook"
        if self.row is not None:
            place += f" row {self.row}"
        if self.column:
            place += f", column {self.column}"
        return f"{place}: {self.reason}"


class SheetRejected(RectifyError):
    """A sheet with any problem imports nothing; this names every problem found."""

    def __init__(self, errors: list[SheetError]) -> None:
        self.errors = errors
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"the sheet was not imported: {errors[0]}{more}")


@dataclass
class ReadSheet:
    """The lines a sheet holds, the columns it has, and its problems."""

    sheet: str
    header_row: int
    columns: dict[str, int]  # key → column number (1-based)
    lines: list[LedgerLine] = field(default_factory=list)
    errors: list[SheetError] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # headers of columns the import does not know

    def column_name(self, key: str) -> str:
        """The letter and printed header of a column, e.g. "J 完成时限"."""
        number = self.columns.get(key)
        header = BY_KEY[key].header
        return f"{get_column_letter(number)} {header}" if number else header

    def located(self, row: int | None, key: str | None, reason: str) -> SheetError:
        """A problem at a row and a column (by its key) of this sheet."""
        return SheetError(self.sheet, row, self.column_name(key) if key else None, reason)

    def error(self, row: int | None, key: str | None, reason: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(self.located(row, key, reason))


def read_workbook(source: Path | BinaryIO, *, today: date, sheet_name: str | None = None) -> ReadSheet:
    """The ledger sheet of an .xlsx workbook (a file, or a seekable stream such as an upload); raises
    SheetRejected when it cannot be read at all."""
    _check_container(source)
    try:
        # Opened here so that it is closed whatever openpyxl meets; openpyxl warns about workbook
        # features it drops (extensions, styles), none of which is read here.
        with _opened(source) as file, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            book = load_workbook(file, data_only=False, rich_text=False)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        reason = f"cannot be read as an .xlsx workbook: {error}"
        if _caused_by(error, DefusedXmlException):  # openpyxl wraps what defusedxml refused
            reason = "declares XML entities or a DTD, which no spreadsheet program writes: refused as unsafe"
        raise SheetRejected([SheetError(None, None, None, reason)]) from None
    if sheet_name is not None:
        if sheet_name not in book.sheetnames:
            reason = f"has no sheet {sheet_name!r}; its sheets are {', '.join(book.sheetnames)}"
            raise SheetRejected([SheetError(None, None, None, reason)])
        sheet = book[sheet_name]
    elif LEDGER_SHEET in book.sheetnames:
        sheet = book[LEDGER_SHEET]
    else:
        candidates = [name for name in book.sheetnames if name not in OTHER_SHEETS]
        sheet = book[candidates[0] if candidates else book.sheetnames[0]]
    return read_sheet(sheet, today=today)


def _caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@contextmanager
def _opened(source: Path | BinaryIO) -> Iterator[BinaryIO]:
    """The workbook's bytes from the start: a file opened (and closed after), or a stream rewound."""
    if isinstance(source, Path):
        with open(source, "rb") as file:
            yield file
    else:
        source.seek(0)
        yield source


def _check_container(source: Path | BinaryIO) -> None:
    """An .xlsx file is a zip container: an old .xls, or a CSV saved under the .xlsx name, is told apart."""
    try:
        with _opened(source) as file:
            sample = file.read(4096)
    except OSError as error:
        raise SheetRejected([SheetError(None, None, None, f"cannot be opened: {error.strerror}")]) from None
    start = sample[:8]
    if start.startswith(b"PK\x03\x04"):
        return
    if start.startswith(b"\xd0\xcf\x11\xe0"):
        reason = "is an old Excel 97–2003 (.xls) workbook under another name: save it as .xlsx (Excel 工作簿) first"
    elif not start:
        reason = "is empty (0 bytes)"
    elif _looks_like_text(sample):
        reason = (
            "is plain text (a CSV?) under the .xlsx name, not an Excel workbook: open it in Excel and save as .xlsx"
        )
    else:
        reason = "is not an .xlsx workbook (no zip container)"
    raise SheetRejected([SheetError(None, None, None, reason)])


def _looks_like_text(sample: bytes) -> bool:
    for encoding in ("utf-8", "gb18030"):
        try:
            sample.decode(encoding)
            return b"\x00" not in sample
        except UnicodeDecodeError:
            continue
    return False


def read_sheet(sheet: Worksheet, *, today: date) -> ReadSheet:
    """The lines of one worksheet."""
    title = sheet.title
    if sheet.max_row <= 1 and sheet.max_column <= 1 and sheet.cell(1, 1).value in (None, ""):
        read = ReadSheet(title, 0, {})
        read.errors.append(SheetError(title, 1, None, "the sheet is empty: it has no header row and no findings"))
        return read
    header_row, columns, problems = _header(sheet)
    read = ReadSheet(title, header_row or 0, columns)
    if header_row is None:
        read.errors.append(
            SheetError(
                title, None, None, f"no header row: none of rows 1 to {HEADER_SEARCH} names both 编号 and 具体问题"
            )
        )
        return read
    for row, key, reason in problems:
        read.error(row, key, reason)
    known = set(columns.values())
    read.ignored = [
        text_of(sheet.cell(header_row, c).value)
        for c in range(1, sheet.max_column + 1)
        if c not in known and text_of(sheet.cell(header_row, c).value)
    ]
    if read.errors:
        return read
    fill = _merges(sheet, read)
    _lines(sheet, read, fill, today)
    if not read.lines and not read.errors:
        read.error(header_row + 1, "code", "the sheet has a header row but no findings under it")
    return read


def _header(sheet: Worksheet) -> tuple[int | None, dict[str, int], list[tuple[int, str | None, str]]]:
    wanted = {name: column for column in COLUMNS for name in column.names}
    for row in range(1, min(sheet.max_row, HEADER_SEARCH) + 1):
        headers = {c: normal_header(text_of(sheet.cell(row, c).value)) for c in range(1, sheet.max_column + 1)}
        names = set(headers.values())
        if not (set(BY_KEY["code"].names) & names and set(BY_KEY["problem"].names) & names):
            continue
        columns: dict[str, int] = {}
        problems: list[tuple[int, str | None, str]] = []
        for number, header in headers.items():
            column = wanted.get(header)
            if column is None:
                continue
            if column.key in columns:
                if headers[columns[column.key]] == normal_header(column.header):
                    continue  # the column's own header wins over another name for it (编号 over 序号)
                if header != normal_header(column.header):
                    first = get_column_letter(columns[column.key])
                    problems.append((row, column.key, f"appears twice (also in column {first})"))
                    continue
            columns[column.key] = number
        for column in COLUMNS:
            if column.required and column.key not in columns:
                problems.append((row, column.key, "is missing from the header row"))
        return row, columns, problems
    return None, {}, []


def _merges(sheet: Worksheet, read: ReadSheet) -> dict[tuple[int, int], Any]:
    """Values that merged cells stand for, by (row, column); a merge in an odd place is an error.

    Allowed: anything above the header row (titles); a category header row merged across; and a
    merge running down the 问题类别 or 被巡察单位 column, whose value holds for every row it covers."""
    fill: dict[tuple[int, int], Any] = {}
    mergeable = {read.columns[k] for k in MERGEABLE if k in read.columns}
    for merged in sheet.merged_cells.ranges:
        if merged.max_row < read.header_row:
            continue
        top_left = sheet.cell(merged.min_row, merged.min_col).value
        if merged.min_row <= read.header_row:
            read.errors.append(
                SheetError(
                    read.sheet, merged.min_row, merged.coord, "the header row has merged cells: one header a column"
                )
            )
        elif (
            merged.min_row == merged.max_row
            and merged.min_col <= min(read.columns.values())
            and (merged.max_col >= max(read.columns.values()))
        ):
            continue  # a category header row, read as such
        elif merged.min_col == merged.max_col and merged.min_col in mergeable:
            for row in range(merged.min_row, merged.max_row + 1):
                fill[(row, merged.min_col)] = top_left
        else:
            read.errors.append(
                SheetError(
                    read.sheet,
                    merged.min_row,
                    f"{merged.coord}",
                    "merged cells in a data row: only a category header row, or the 问题类别 and 被巡察单位 columns "
                    "running down, may be merged; unmerge the others and fill each cell",
                )
            )
    return fill


def _lines(sheet: Worksheet, read: ReadSheet, fill: dict[tuple[int, int], Any], today: date) -> None:
    columns = read.columns
    first_column = min(columns.values())
    category = ""
    seen: dict[str, int] = {}
    width = sheet.max_column  # openpyxl works it out over every cell each time it is asked: ask once
    for row in range(read.header_row + 1, sheet.max_row + 1):
        cells: dict[str, Any] = {}
        formulas = False
        for key, number in columns.items():
            cell = sheet.cell(row, number)
            value = fill.get((row, number), cell.value)
            if cell.data_type == "f" or (isinstance(value, str) and value.startswith("=")) or _is_formula(value):
                read.error(row, key, "holds a formula: type the value itself (formulas are not read)")
                formulas = True
                continue
            cells[key] = value
        if formulas:
            continue
        if not any(text_of(x) and BY_KEY[k].read for k, x in cells.items()):
            continue
        header = _category_header(sheet, row, first_column, columns, width)
        if header is not None:
            category = header
            continue
        if not text_of(cells.get("code")):
            read.error(row, "code", "is empty: every finding has its 编号 (a category header row has only its title)")
            continue
        line = _line(read, row, cells, category, today)
        if line is None:
            continue
        if line.code in seen:
            read.error(row, "code", f"{line.code} appears twice (first in row {seen[line.code]})")
            continue
        seen[line.code] = row
        read.lines.append(line)


def _is_formula(value: object) -> bool:
    return type(value).__name__ in ("ArrayFormula", "DataTableFormula")


def _category_header(sheet: Worksheet, row: int, first_column: int, columns: dict[str, int], width: int) -> str | None:
    """The title of a category header row, else None: a row with one cell of text (not a number), at
    the left of the ledger or under 问题类别, such as 一、党的政治建设方面 merged across (`width`: the
    sheet's columns)."""
    values = [(c, sheet.cell(row, c).value) for c in range(1, width + 1)]
    values = [(c, value) for c, value in values if text_of(value)]
    if len(values) != 1:
        return None
    column, value = values[0]
    if isinstance(value, (int, float)) or text_of(value).isdigit():
        return None  # a lone 编号 is a finding with the rest missing
    if column <= first_column or column == columns.get("category"):
        return parse_category(value)
    return None


def _line(read: ReadSheet, row: int, cells: dict[str, Any], category: str, today: date) -> LedgerLine | None:
    ok = True

    def cell(key: str, parse: Callable[[Any], Any], default: Any = None) -> Any:
        nonlocal ok
        if key not in read.columns:
            return default
        try:
            return parse(cells.get(key))
        except CellError as error:
            read.error(row, key, str(error))
        except InvalidInput as error:
            read.error(row, key, error.reason)
        ok = False
        return default

    def text(limit: int, *, required: bool = False) -> Callable[[Any], str]:
        return lambda value: v.text("value", text_of(value), max_length=limit, required=required)

    def past(value: Any) -> date | None:
        day = parse_date(value)
        if day is not None and day > today:
            raise CellError(f"{day.isoformat()} is in the future (today is {today.isoformat()})")
        return day

    def measures(value: Any) -> tuple[MeasureLine, ...]:
        parsed = parse_measures(value)
        for n, measure in enumerate(parsed, start=1):
            try:
                v.text("value", measure.text, max_length=v.TEXT)
                figures_in(measure.text, "value")
            except InvalidInput as error:
                raise CellError(f"measure {n} {error.reason}") from None
            if measure.completed_on is not None and measure.completed_on > today:
                raise CellError(f"measure {n} is marked completed on {measure.completed_on}, a day in the future")
        return parsed

    def public(value: Any) -> tuple[Disclosure, str]:
        disclosure, reason = parse_public(value)
        return disclosure, v.text("value", reason, max_length=v.TEXT, required=False)

    disclosure, reason = cell("public", public, (Disclosure.PUBLIC, ""))
    deadline, original = cell("deadline", parse_deadlines, (None, None))
    line = LedgerLine(
        code=cell("code", text(v.CODE, required=True), ""),
        unit=cell("unit", text(v.TITLE)) or None,
        category=cell("category", lambda x: v.text("value", parse_category(x), max_length=v.TITLE), "") or category,
        heading=cell("heading", text(v.TITLE)) or None,
        problem=cell("problem", text(v.TEXT, required=True), ""),
        measures=cell("measures", measures, ()),
        leader=cell("leader", text(v.NAME), ""),
        department=cell("department", text(v.NAME), ""),
        person=cell("person", text(v.NAME), ""),
        deadline=deadline,
        original_deadline=original,
        progress=cell("progress", text(v.TEXT), ""),
        status=cell("status", parse_status),
        completed_on=cell("completed_on", past),
        involved=cell("involved", parse_amount),
        rectified=cell("rectified", parse_amount),
        disclosure=disclosure,
        withholding_reason=reason,
        remark=cell("remark", text(v.TEXT), ""),
        row=row,
    )
    if ok and not line.category:
        read.error(row, "category", "is empty, and no category header row stands above this row")
        ok = False
    return line if ok else None
