"""A synthetic 台账 as a district office keeps it, for tests and benchmarks of the import.

A round of many units (default 40) with several hundred findings (default 700) over six categories,
laid out as offices lay it out: a title above the header, a header row for each category, every
status offices use, multi-line measures (一是…二是…) some marked completed, deadlines as dates,
立行立改 or 长期坚持, amounts in 万元 with cents, and a few items withheld from the public.
Everything is EXAMPLE DATA, drawn from a seeded random generator.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from io import BytesIO
from uuid import UUID

from openpyxl import Workbook

from rectify.access import Actor
from rectify.application import RectifyApplication
from rectify.domain import chinese

FEEDBACK_ON = date(2025, 8, 12)
CATEGORIES = (
    "党的政治建设方面",
    "党的思想建设方面",
    "党的组织建设方面",
    "党的作风建设方面",
    "党的纪律建设方面",
    "落实全面从严治党主体责任方面",
)
STATUSES = ("未启动", "整改中", "部分整改", "已完成", "长期坚持", "已验收", "已销号")
HEADERS = (
    "编号",
    "被巡察单位",
    "问题类别（方面）",
    "具体问题",
    "整改措施",
    "责任领导",
    "责任部门",
    "责任人",
    "完成时限",
    "整改进展",
    "整改状态",
    "完成日期",
    "涉及金额（万元）",
    "已整改金额（万元）",
    "是否公开",
    "备注",
)
DEPARTMENTS = ("党建办", "综合办", "财务科", "民政办", "城建科", "纪检组")
PROBLEMS = (
    "“第一议题”学习不够规范，学习记录不完整",
    "“三重一大”事项集体决策程序执行不严格",
    "公章使用登记不规范，用印审批缺失",
    "专项资金使用管理不规范，存在超范围支出",
    "党员发展程序不规范，档案资料缺失",
    "安全生产主体责任落实不到位，隐患整改不及时",
    "民生微实事项目审核把关不严",
    "党支部换届流程不规范",
)
MEASURE_TEXTS = (
    "制定规范性指引，明确工作流程和责任分工",
    "开展专项排查，建立问题清单和整改台账",
    "组织全体人员开展专题学习培训",
    "完善内部管理制度并严格执行",
    "加强日常监督检查，定期通报进展",
)


@dataclass(frozen=True)
class Round:
    """The round a generated 台账 belongs to."""

    round_id: UUID
    unit_ids: tuple[UUID, ...]
    unit_names: tuple[str, ...]


def unit_name(n: int) -> str:
    return f"示例第{n}社区党委"


def open_round(app: RectifyApplication, actor: Actor, *, units: int = 40, title: str = "示例区委第二轮巡察") -> Round:
    """Registers the units and opens the round with its feedback delivered, ready for the 台账."""
    names = tuple(unit_name(n) for n in range(1, units + 1))
    unit_ids = tuple(app.register_unit(actor, name=name).entity_id for name in names)
    round_id = app.open_round(
        actor,
        authority="区委",
        district="示例区",
        title=title,
        teams=["第一巡察组", "第二巡察组"],
        unit_ids=list(unit_ids),
        stationed_from="2025-03-26",
        stationed_to="2025-06-13",
    ).entity_id
    app.deliver_feedback(actor, round_id=round_id, occurred_on=FEEDBACK_ON, rectification_until="2025-12-31")
    return Round(round_id, unit_ids, names)


def ledger(findings: int = 700, *, units: int = 40, seed: int = 14) -> bytes:
    """The 台账 workbook (.xlsx) of `findings` findings over `units` units."""
    rng = random.Random(seed)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "台账"
    sheet.append(["示例区委第二轮巡察反馈问题整改台账"])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADERS))
    sheet.append(list(HEADERS))
    per_category = _split(findings, len(CATEGORIES))
    code = 0
    for c, (category, count) in enumerate(zip(CATEGORIES, per_category, strict=True), start=1):
        label = f"{chinese.numeral(c)}、{category}"
        sheet.append([label])
        sheet.merge_cells(start_row=sheet.max_row, start_column=1, end_row=sheet.max_row, end_column=len(HEADERS))
        for _ in range(count):
            code += 1
            sheet.append(_row(rng, code, label, unit_name(rng.randint(1, units))))
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _row(rng: random.Random, code: int, category: str, unit: str) -> list[object]:
    status = STATUSES[code % len(STATUSES)]
    working = status != "未启动" or code % 3 == 0  # some 未启动 findings have a responsibility, none a measure
    measures = rng.randint(1, 4) if status != "未启动" else 0
    done_on = FEEDBACK_ON + timedelta(days=rng.randint(20, 160))
    completed_on = done_on if status not in ("未启动", "整改中") else None
    if status == "部分整改" and code % 2:
        completed_on = None  # a partial report without a date is dated the day of the import
    lines = []
    for n in range(1, measures + 1):
        text = f"{rng.choice(MEASURE_TEXTS)}（第{code}-{n}项）"
        mark = ""
        if status in ("整改中", "部分整改") and n < measures and rng.random() < 0.6:
            mark = f"（已完成 {(FEEDBACK_ON + timedelta(days=rng.randint(5, 60))).isoformat()}）"
        elif status in ("长期坚持",) and n == 1:
            mark = "（已完成）"
        lines.append(f"{chinese.numeral(n)}是{text}{mark}" if measures > 1 else f"{text}{mark}")
    kind = rng.random()
    deadline: object = None
    if working:
        if status == "长期坚持" or kind < 0.1:
            deadline = "长期坚持"
        elif kind < 0.2:
            deadline = "立行立改"
        else:
            deadline = FEEDBACK_ON + timedelta(days=rng.choice((60, 90, 120, 141)))
    involved = rectified = None
    if rng.random() < 0.3:
        involved = rng.randint(1, 500_000) / 100  # 万元 with cents, as a number cell
        if working and status != "未启动" and rng.random() < 0.7:
            rectified = round(involved * rng.choice((0.25, 0.5, 1.0)), 2)
    progress = ""
    if status not in ("未启动", "整改中"):
        progress = f"已按措施推进整改，{status}（第{code}项）"
    elif status == "整改中" and rng.random() < 0.5:
        progress = "正在推进"
    public = "否（涉及在办案件）" if code % 37 == 0 else "是"
    return [
        code,
        unit,
        category,
        f"{rng.choice(PROBLEMS)}（第{code}项）",
        "\n".join(lines),
        "分管副书记" if working else None,
        rng.choice(DEPARTMENTS) if working else None,
        f"责任人{code}" if working and code % 4 else None,
        deadline,
        progress or None,
        status,
        completed_on,
        involved,
        rectified,
        public,
        "示例数据" if code % 11 == 0 else None,
    ]
