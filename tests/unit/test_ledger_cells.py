"""Cells of the 台账: what each value is written as, and how what offices type is read back."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from rectify.domain.values import Deadline, DeadlineKind, Disclosure
from rectify.projections.ledger import LedgerStatus
from rectify.sheets.template import (
    CellError,
    LedgerLine,
    MeasureLine,
    deadline_cell,
    heading_from,
    measures_text,
    parse_amount,
    parse_category,
    parse_date,
    parse_deadlines,
    parse_measures,
    parse_public,
    parse_status,
)

D = DeadlineKind


def line(**changes: object) -> LedgerLine:
    fields: dict[str, object] = {
        "code": "1",
        "unit": None,
        "category": "党的政治建设方面",
        "heading": "h",
        "problem": "p",
        "measures": (),
        "leader": "",
        "department": "",
        "person": "",
        "deadline": None,
        "progress": "",
        "status": LedgerStatus.IN_PROGRESS,
        "completed_on": None,
        "involved": Decimal("0.00"),
        "rectified": Decimal("0.00"),
        "disclosure": Disclosure.PUBLIC,
        "withholding_reason": "",
        "remark": "",
        **changes,
    }
    return LedgerLine(**fields)  # type: ignore[arg-type]


def test_dates_are_read_as_offices_type_them() -> None:
    for typed in (
        datetime(2025, 9, 30),
        "2025-09-30",
        "2025/9/30",
        "2025.9.30",
        "2025年9月30日",
        " 2025 年 9 月 30 日 ",
    ):
        assert parse_date(typed) == date(2025, 9, 30), typed
    with pytest.raises(CellError, match="is a number, not a date"):
        parse_date(45930)
    with pytest.raises(CellError, match="is not a date"):
        parse_date("2025-02-30")


def test_amounts_are_exact_to_the_cent_in_wan_and_a_number_cell_reads_as_excel_shows_it() -> None:
    assert parse_amount(0.1 + 0.2) == Decimal("0.30")  # Excel shows 0.3, not 0.30000000000000004
    assert parse_amount(12.5) == Decimal("12.50") and parse_amount(3) == Decimal("3.00")
    assert parse_amount("1,234.56万元") == Decimal("1234.56") and parse_amount(None) == Decimal("0.00")
    for bad, reason in ((-1, "negative"), (1.234, "more than two decimals"), ("十万", "not an amount")):
        with pytest.raises(CellError, match=reason):
            parse_amount(bad)


def test_a_deadline_is_a_date_an_immediate_or_a_long_term_one_and_an_extension_shows_the_original() -> None:
    assert parse_deadlines(datetime(2025, 12, 31)) == (Deadline(D.DATE, date(2025, 12, 31)), None)
    assert parse_deadlines("立行立改") == (Deadline(D.IMMEDIATE), None)
    assert parse_deadlines("立行立改（2025-09-30前）") == (Deadline(D.IMMEDIATE, date(2025, 9, 30)), None)
    assert parse_deadlines("长期坚持") == (Deadline(D.LONG_TERM), None)
    extended = line(
        deadline=Deadline(D.DATE, date(2026, 6, 30)), original_deadline=Deadline(D.DATE, date(2025, 12, 31))
    )
    assert deadline_cell(extended) == "2026-06-30（原定2025-12-31）"
    assert parse_deadlines(deadline_cell(extended)) == (extended.deadline, extended.original_deadline)
    with pytest.raises(CellError, match="not a deadline"):
        parse_deadlines("尽快")


def test_measures_are_one_a_line_their_numbering_dropped_and_their_completion_marks_read() -> None:
    typed = "一是制定指引（已完成）\n\n二是：建立台账（已完成 2025-10-12）\n3. 开展培训\n（4）定期检查"
    assert parse_measures(typed) == (
        MeasureLine("制定指引", True, None),
        MeasureLine("建立台账", True, date(2025, 10, 12)),
        MeasureLine("开展培训"),
        MeasureLine("定期检查"),
    )
    assert parse_measures("2.5万元已追回") == (MeasureLine("2.5万元已追回"),)  # a figure, not a numbering
    written = line(
        measures=(MeasureLine("制定指引", True, date(2025, 11, 1)), MeasureLine("建立台账", True, date(2025, 10, 12))),
        completed_on=date(2025, 11, 1),
    )
    assert measures_text(written) == "一是制定指引（已完成）\n二是建立台账（已完成 2025-10-12）"
    read_back = parse_measures(measures_text(written))
    assert [(m.text, m.completed) for m in read_back] == [("制定指引", True), ("建立台账", True)]


def test_statuses_disclosure_and_categories_are_read_in_the_words_offices_use() -> None:
    assert parse_status("已整改") is LedgerStatus.RECTIFIED and parse_status("基本完成") is LedgerStatus.LONG_TERM
    assert parse_status("部分整改") is LedgerStatus.PARTLY
    with pytest.raises(CellError, match="not a status"):
        parse_status("搞定了")
    assert parse_public(None) == (Disclosure.PUBLIC, "") and parse_public("是") == (Disclosure.PUBLIC, "")
    assert parse_public("否（涉及在办案件）") == (Disclosure.INTERNAL, "涉及在办案件")
    assert parse_public("不宜公开：涉密") == (Disclosure.INTERNAL, "涉密")
    with pytest.raises(CellError, match="needs the reason"):
        parse_public("否")
    assert [parse_category(x) for x in ("一、党的建设方面", "（二）作风方面", "3. 纪律方面", "组织方面")] == [
        "党的建设方面",
        "作风方面",
        "纪律方面",
        "组织方面",
    ]
    assert heading_from("公章使用登记不规范。用印审批缺失") == "公章使用登记不规范"
