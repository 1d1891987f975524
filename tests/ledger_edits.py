"""The generated 台账 (rectify.examples.ledger_sheet) as the tests read and edit it: its rows by 编号, the
figures worked out from the sheet itself, and five rows changed as an office changes them. Shared by the
command's test (tests/sheets) and the API's (tests/api)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from rectify.examples import ledger_sheet


def sheet_rows(path: Path) -> dict[int, list[Any]]:
    """The findings of a 台账 by 编号, read with openpyxl alone (header in row 2)."""
    sheet = load_workbook(path)["台账"]
    return {row[0]: list(row) for row in sheet.iter_rows(min_row=3, values_only=True) if isinstance(row[0], int)}


def decimal(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def statuses_and_money(rows: dict[int, list[Any]]) -> tuple[Counter[str], Decimal, Decimal]:
    """The statuses of a 台账's rows, and its 涉及金额 and 已整改金额 in 万元, summed from the sheet."""
    return (
        Counter(row[10] for row in rows.values()),
        sum((decimal(r[12]) for r in rows.values()), Decimal(0)),
        sum((decimal(r[13]) for r in rows.values()), Decimal(0)),
    )


def edit_five_rows(path: Path, to: Path) -> tuple[Path, Counter[str]]:
    """Five rows changed as an office changes them, and the events each change must append."""
    book = load_workbook(path)
    sheet = book["台账"]
    by_status: dict[str, list[Any]] = {}
    for row in sheet.iter_rows(min_row=3):
        if isinstance(row[0].value, int):
            by_status.setdefault(row[10].value, []).append(row)
    expected: Counter[str] = Counter()
    in_progress = by_status["整改中"]
    # 1. a new measure
    in_progress[0][4].value += "\n另行开展专题培训"
    expected["Finding.MeasurePlanned"] += 1
    # 2. a measure marked completed
    marked = next(r for r in in_progress[1:] if r[4].value and "已完成" not in r[4].value.splitlines()[-1])
    marked[4].value += "（已完成 2026-01-15）"
    expected["Finding.MeasureCompleted"] += 1
    # 3. an accepted finding closed
    by_status["已验收"][0][10].value = "已销号"
    by_status["已验收"][0][11].value = datetime(2026, 1, 20)
    expected["Finding.Closed"] += 1
    # 4. a deadline extended
    dated = next(r for r in in_progress[2:] if isinstance(r[8].value, datetime) and r not in (marked,))
    dated[8].value = dated[8].value + timedelta(days=30)
    expected["Finding.DeadlineExtended"] += 1
    # 5. a partly rectified finding reported done: its open measures are completed on 完成日期
    partly = by_status["部分整改"][0]
    partly[10].value, partly[11].value, partly[9].value = "已完成", datetime(2026, 2, 2), "全部整改到位"
    expected["Finding.MeasureCompleted"] += sum("已完成" not in line for line in partly[4].value.splitlines())
    expected["Finding.RectificationReported"] += 1
    book.save(to)
    return to, expected


@dataclass(frozen=True)
class GeneratedLedger:
    """A generated 台账 written once for a test module: its file, its rows as openpyxl reads them, and a copy
    with five rows edited, with the events that copy must append."""

    path: Path
    rows: dict[int, list[Any]]
    edited: Path
    expected: Counter[str]


def generate_ledger(folder: Path, findings: int) -> GeneratedLedger:
    path = folder / "台账.xlsx"
    path.write_bytes(ledger_sheet.ledger(findings))
    edited, expected = edit_five_rows(path, folder / "改.xlsx")
    return GeneratedLedger(path, sheet_rows(path), edited, expected)
