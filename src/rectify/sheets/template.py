"""The 台账's columns, and how each value is written to a cell and read back from one.

One ledger line (`LedgerLine`) is what a row of the sheet says about a finding. The writer renders
a line from a ledger row; the reader parses a line from a sheet row; the planner compares the two.
Both directions live here, so that what is exported reads back as the same line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from rectify.domain import chinese
from rectify.domain.values import ActivityKind, Deadline, DeadlineKind, Disclosure, Measure
from rectify.projections.ledger import LedgerRow, LedgerStatus, LightThresholds, in_wan, light
from rectify.validation import CENT


@dataclass(frozen=True)
class Column:
    """A column of the 台账: its printed header, the other headers offices give it, and its width."""

    key: str
    header: str
    width: float
    aliases: tuple[str, ...] = ()
    required: bool = True  # an import needs the column (its cells may still be empty)
    read: bool = True  # an import reads it (the light is written for print only)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(normal_header(h) for h in (self.header, *self.aliases))


COLUMNS = (
    Column("code", "编号", 7, ("序号", "问题编号")),
    Column("unit", "被巡察单位", 16, ("被巡察党组织", "单位", "整改单位"), required=False),
    Column("category", "问题类别（方面）", 16, ("问题类别", "方面", "问题类型")),
    Column("heading", "问题标题", 18, ("整改标题", "问题概述"), required=False),
    Column("problem", "具体问题", 40, ("问题表现", "反馈问题", "存在问题", "问题描述")),
    Column("measures", "整改措施", 48),
    Column("leader", "责任领导", 10),
    Column("department", "责任部门", 12, ("责任单位",)),
    Column("person", "责任人", 10),
    Column("deadline", "完成时限", 14, ("整改时限",)),
    Column("progress", "整改进展", 36, ("整改进展情况", "整改情况")),
    Column("status", "整改状态", 10, ("完成情况",)),
    Column("completed_on", "完成日期", 12, ("完成时间",)),
    Column("involved", "涉及金额（万元）", 12, ("涉及金额", "问题金额（万元）", "问题金额")),
    Column("rectified", "已整改金额（万元）", 12, ("已整改金额", "整改到位资金（万元）", "整改金额（万元）")),
    Column("public", "是否公开", 8),
    Column("remark", "备注", 20),
    Column("light", "红黄绿灯", 8, ("状态灯",), required=False, read=False),
)
BY_KEY = {c.key: c for c in COLUMNS}

#: 整改状态 as offices write it: the canonical word, and others that mean the same.
STATUS_WORDS: dict[str, LedgerStatus] = {
    **{s.value: s for s in LedgerStatus},
    "未整改": LedgerStatus.NOT_STARTED,
    "未开始": LedgerStatus.NOT_STARTED,
    "正在整改": LedgerStatus.IN_PROGRESS,
    "推进中": LedgerStatus.IN_PROGRESS,
    "已整改": LedgerStatus.RECTIFIED,
    "完成整改": LedgerStatus.RECTIFIED,
    "已完成整改": LedgerStatus.RECTIFIED,
    "基本完成": LedgerStatus.LONG_TERM,
    "持续整改": LedgerStatus.LONG_TERM,
    "长期整改": LedgerStatus.LONG_TERM,
    "验收通过": LedgerStatus.VERIFIED,
    "已对账销号": LedgerStatus.CLOSED,
    "销号": LedgerStatus.CLOSED,
}
LIGHT_WORDS = {"RED": "红灯", "YELLOW": "黄灯", "GREEN": "绿灯"}
IMMEDIATE, LONG_TERM = "立行立改", "长期坚持"
COMPLETED_MARK = "已完成"

_NUMBERED_MEASURE = re.compile(
    r"^\s*(?:[一二三四五六七八九十百]+是[：:，,、]?|\d{1,2}\s*[、.．](?!\d)|[（(]\s*\d{1,2}\s*[）)]|[（(][一二三四五六七八九十]+[）)])\s*"
)
_COMPLETION = re.compile(r"[（(]\s*" + COMPLETED_MARK + r"\s*(?:[，,、:：]?\s*(?P<on>[^）)]*?))?\s*[）)]\s*$")
_NUMBERED_CATEGORY = re.compile(
    r"^\s*(?:[一二三四五六七八九十]+\s*[、.．]|[（(][一二三四五六七八九十]+[）)]|\d{1,2}\s*[、.．])\s*"
)
_ORIGINAL = re.compile(r"[（(]\s*原(?:定)?\s*(?P<was>[^）)]*)[）)]\s*$")
_DATE_TEXT = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")


class CellError(ValueError):
    """A cell's value cannot be read; the message says why, in words a user can act on."""


@dataclass(frozen=True)
class MeasureLine:
    """One line of 整改措施: its text, and whether (and when) it is marked completed."""

    text: str
    completed: bool = False
    completed_on: date | None = None


@dataclass(frozen=True)
class LedgerLine:
    """What one row of the 台账 says about a finding. A field the sheet has no column for is None."""

    code: str
    unit: str | None
    category: str
    heading: str | None
    problem: str
    measures: tuple[MeasureLine, ...]
    leader: str
    department: str
    person: str
    deadline: Deadline | None
    progress: str
    status: LedgerStatus
    completed_on: date | None
    involved: Decimal  # 万元, two decimals
    rectified: Decimal  # 万元, two decimals
    disclosure: Disclosure
    withholding_reason: str
    remark: str
    light: str | None = None
    original_deadline: Deadline | None = None  # shown when an extension moved the deadline
    row: int = 0  # where it was read from (0: rendered from the log)


# -- rendering a ledger row as a line ------------------------------------------------------------------


def line_of(
    row: LedgerRow,
    *,
    unit: str | None,
    category: str,
    catalogue: tuple[ActivityKind, ...] = (),
    today: date | None = None,
    thresholds: LightThresholds = LightThresholds(),
    filled: Callable[[Measure], str] = lambda m: m.text,
) -> LedgerLine:
    """The ledger line of a finding as the sheet shows it (measures with their figures filled in)."""
    status = row.ledger_status
    completed_on = declared_on(row)
    return LedgerLine(
        code=row.code,
        unit=unit,
        category=category,
        heading=row.heading,
        problem=row.problem,
        measures=tuple(MeasureLine(filled(m), m.is_completed, m.completed_on) for m in row.measures),
        leader=row.leader or "",
        department=row.department or "",
        person=row.person or "",
        deadline=row.deadline,
        progress=row.progress_text,
        status=status,
        completed_on=completed_on,
        involved=in_wan(row.amount_involved),
        rectified=in_wan(row.money(catalogue).rectified),
        disclosure=row.disclosure,
        withholding_reason=row.withholding_reason,
        remark=row.remark,
        light=LIGHT_WORDS[light(row, today, thresholds)] if today is not None else None,
        original_deadline=row.original_deadline if row.extensions else None,
    )


def declared_on(row: LedgerRow) -> date | None:
    """完成日期: the date of the last report of progress that set the status (partial, done, long-term)."""
    status = row.ledger_status
    if status is LedgerStatus.PARTLY:
        return row.partly.occurred_on if row.partly else None
    if status is LedgerStatus.LONG_TERM:
        return row.long_term.occurred_on if row.long_term else None
    if status in (LedgerStatus.RECTIFIED, LedgerStatus.VERIFIED, LedgerStatus.CLOSED):
        dates = [r.occurred_on for r in (row.report, row.long_term) if r is not None]
        return max(dates) if dates else None
    return None


# -- values as cells -----------------------------------------------------------------------------------


def measures_text(line: LedgerLine) -> str:
    """整改措施: one measure per line, numbered 一是、二是… when there are several, completed ones marked."""
    lines = []
    for n, measure in enumerate(line.measures, start=1):
        prefix = f"{chinese.numeral(n)}是" if len(line.measures) > 1 else ""
        mark = ""
        if measure.completed:
            on = measure.completed_on
            shown = "" if on is None or on == line.completed_on else f" {on.isoformat()}"
            mark = f"（{COMPLETED_MARK}{shown}）"
        lines.append(f"{prefix}{measure.text}{mark}")
    return "\n".join(lines)


def deadline_cell(line: LedgerLine) -> date | str | None:
    """完成时限: a date, 立行立改 (with its date, if any) or 长期坚持; an extended one shows the original."""
    deadline = line.deadline
    if deadline is None:
        return None
    if deadline.kind is DeadlineKind.LONG_TERM:
        return LONG_TERM
    if deadline.kind is DeadlineKind.IMMEDIATE:
        return IMMEDIATE + (f"（{deadline.due_on.isoformat()}前）" if deadline.due_on else "")
    assert deadline.due_on is not None
    original = line.original_deadline
    if original is not None and original != deadline:
        was = original.due_on.isoformat() if original.due_on else deadline_word(original)
        return f"{deadline.due_on.isoformat()}（原定{was}）"
    return deadline.due_on


def deadline_word(deadline: Deadline) -> str:
    return {DeadlineKind.IMMEDIATE: IMMEDIATE, DeadlineKind.LONG_TERM: LONG_TERM}.get(deadline.kind, "")


def public_cell(line: LedgerLine) -> str:
    return "是" if line.disclosure is Disclosure.PUBLIC else f"否（{line.withholding_reason}）"


def category_label(ordinal: int, title: str) -> str:
    """A category as the ledger prints it: 一、党的政治建设方面."""
    return f"{chinese.numeral(ordinal)}、{title}"


# -- cells as values -----------------------------------------------------------------------------------


def normal_header(text: str) -> str:
    """A header as compared: no spaces, half-width parentheses."""
    return re.sub(r"\s+", "", str(text)).replace("（", "(").replace("）", ")")


def text_of(value: object) -> str:
    """A cell as text: numbers as written (12, not 12.0), line ends as \\n."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    return str(value).replace("\r\n", "\n").replace("\r", "\n").strip()


def parse_date(value: object) -> date | None:
    """A date cell, or a date typed as 2025-09-30, 2025/9/30, 2025.9.30 or 2025年9月30日."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)):
        raise CellError(f"{text_of(value)} is a number, not a date: format the cell as a date or type 2025-09-30")
    found = _DATE_TEXT.match(text_of(value))
    if found:
        try:
            return date(*(int(part) for part in found.groups()))
        except ValueError:
            pass
    raise CellError(f"{text_of(value)[:40]!r} is not a date: write 2025-09-30 (or 2025年9月30日)")


def parse_deadlines(value: object) -> tuple[Deadline | None, Deadline | None]:
    """完成时限 and, when it was extended, the original one: 2026-06-30（原定2025-12-31）."""
    if isinstance(value, (datetime, date)):
        return parse_deadline(value), None
    text = text_of(value)
    original = _ORIGINAL.search(text)
    if original is None:
        return parse_deadline(text), None
    return parse_deadline(text[: original.start()]), parse_deadline(original.group("was").strip())


def parse_deadline(value: object) -> Deadline | None:
    """完成时限: a date, 立行立改 (optionally with a date), 长期坚持."""
    if isinstance(value, (datetime, date)):
        return Deadline(DeadlineKind.DATE, parse_date(value))
    text = text_of(value).strip()
    if not text:
        return None
    if text.startswith(LONG_TERM) or text == "长期":
        return Deadline(DeadlineKind.LONG_TERM)
    if text.startswith(IMMEDIATE):
        rest = text[len(IMMEDIATE) :].strip(" （()）,，前")
        return Deadline(DeadlineKind.IMMEDIATE, parse_date(rest.rstrip("前")) if rest else None)
    try:
        return Deadline(DeadlineKind.DATE, parse_date(text))
    except CellError:
        raise CellError(f"{text[:40]!r} is not a deadline: write a date, {IMMEDIATE} or {LONG_TERM}") from None


def parse_amount(value: object) -> Decimal:
    """An amount in 万元, exact to the cent; empty is 0. A number cell is read as Excel shows it
    (15 significant digits), so that 0.1 + 0.2 typed in Excel reads as 0.3, not 0.30000000000000004."""
    if value is None or value == "":
        return Decimal("0.00")
    if isinstance(value, bool):
        raise CellError("is true or false, not an amount")
    if isinstance(value, float):
        number = Decimal(format(value, ".15g"))
    elif isinstance(value, int):
        number = Decimal(value)
    else:
        text = text_of(value).replace(",", "").replace("，", "").removesuffix("万元").removesuffix("万").strip()
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise CellError(f"{text_of(value)[:40]!r} is not an amount: write it in 万元, e.g. 12.50") from None
    if not number.is_finite():
        raise CellError(f"{text_of(value)[:40]!r} is not an amount")
    if number < 0:
        raise CellError(f"must not be negative, got {number}")
    if number != number.quantize(CENT):
        raise CellError(f"has more than two decimals: {number} (amounts are in 万元, exact to the cent)")
    if number >= Decimal("1e9"):
        raise CellError(f"is implausibly large: {number} 万元")
    return number.quantize(CENT)


def parse_status(value: object) -> LedgerStatus:
    text = text_of(value)
    if not text:
        raise CellError("is empty: write one of " + "、".join(s.value for s in LedgerStatus))
    try:
        return STATUS_WORDS[re.sub(r"\s+", "", text)]
    except KeyError:
        raise CellError(
            f"{text[:20]!r} is not a status: write one of " + "、".join(s.value for s in LedgerStatus)
        ) from None


def parse_public(value: object) -> tuple[Disclosure, str]:
    """是否公开: 是 (or empty), or 否 with the reason it is withheld: 否（在办案件）."""
    text = text_of(value)
    if text in ("", "是", "公开", "Y", "y", "TRUE", "True"):
        return Disclosure.PUBLIC, ""
    if text.startswith(("否", "不公开", "不宜公开")):
        reason = re.sub(r"^(?:否|不宜公开|不公开)\s*[（(:：，,]?\s*", "", text).rstrip("）) ")
        if not reason:
            raise CellError("否 needs the reason it is withheld: 否（在办案件）")
        return Disclosure.INTERNAL, reason
    raise CellError(f"{text[:20]!r}: write 是, or 否 with the reason it is withheld, e.g. 否（在办案件）")


def parse_measures(value: object) -> tuple[MeasureLine, ...]:
    """整改措施, one measure per line; 一是/1./（1） numbering is dropped, （已完成 2025-10-12） read."""
    measures = []
    for raw in text_of(value).split("\n"):
        if not raw.strip():
            continue
        text = _NUMBERED_MEASURE.sub("", raw, count=1).strip()
        mark = _COMPLETION.search(text)
        completed_on = None
        if mark:
            text = text[: mark.start()].rstrip()
            if mark.group("on"):
                completed_on = parse_date(mark.group("on").strip())
        if not text:
            raise CellError(f"the line {raw.strip()[:20]!r} has no measure in it")
        measures.append(MeasureLine(text, bool(mark), completed_on))
    return tuple(measures)


def parse_category(value: object) -> str:
    """问题类别 without its numbering: （一）党的建设方面 → 党的建设方面."""
    return _NUMBERED_CATEGORY.sub("", text_of(value), count=1).strip()


def bare_measure(text: str) -> str:
    """A measure's text without a leading 一是 or 1. (as a sheet may have had it when it was planned)."""
    return _NUMBERED_MEASURE.sub("", text, count=1).strip()


def heading_from(problem: str, limit: int = 60) -> str:
    """A heading for a sheet without 问题标题: the problem's first sentence, shortened."""
    first = re.split(r"[。；;\n]", problem, maxsplit=1)[0].strip() or problem.strip()
    return first if len(first) <= limit else first[: limit - 1] + "…"
