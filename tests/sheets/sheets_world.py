"""The 台账 tests' world: a round of two units on each store, and sheets written as offices write them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from openpyxl import Workbook

from rectify import settings
from rectify.access import Actor, Role
from rectify.bootstrap import System, open_system
from rectify.eventlog import read as read_log

TODAY = date(2026, 3, 12)
OFFICE = Actor("区委巡察办", Role.SYSTEM)
INSPECTOR = Actor("区委巡察办", Role.INSPECTOR)

HEADERS = [
    "编号",
    "被巡察单位",
    "问题类别（方面）",
    "问题标题",
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
]

#: A small 台账 with every kind of line: in progress, closed with money, long-term and internal,
#: partly rectified with money, not started.
ROWS: list[list[Any]] = [
    [
        "1",
        "甲社区党委",
        "一、党的政治建设方面",
        "规范理论学习",
        "“第一议题”学习不规范，记录不完整",
        "一是制定学习指引（已完成 2025-09-01）\n二是建立学习台账",
        "书记",
        "党建办",
        "张某",
        date(2025, 12, 31),
        "正在推进",
        "整改中",
        None,
        None,
        None,
        "是",
        None,
    ],
    [
        2,
        "乙社区党委",
        "一、党的政治建设方面",
        "规范资金管理",
        "专项资金超范围支出 12.50 万元",
        "一是清退违规支出\n二是完善财务制度",
        "副书记",
        "财务科",
        "李某",
        date(2025, 11, 30),
        "已清退全部资金",
        "已销号",
        date(2025, 11, 20),
        12.5,
        12.5,
        "是",
        None,
    ],
    [
        "3",
        "甲社区党委",
        "二、党的组织建设方面",
        "规范换届",
        "换届流程不规范",
        "规范换届流程",
        "书记",
        "党建办",
        None,
        "长期坚持",
        "建立长效机制",
        "长期坚持",
        date(2025, 10, 15),
        None,
        None,
        "否（涉及在办案件）",
        "内部掌握",
    ],
    [
        "4",
        "乙社区党委",
        "二、党的组织建设方面",
        "补齐档案",
        "党员档案缺失",
        "补齐档案\n建立档案管理制度",
        None,
        "组织委员",
        "王某",
        "立行立改",
        "已补齐部分档案",
        "部分整改",
        date(2025, 10, 1),
        3.33,
        1.11,
        "是",
        None,
    ],
    [
        "5",
        "甲社区党委",
        "二、党的组织建设方面",
        "发展党员",
        "发展党员程序不规范",
        *([None] * 6),
        "未启动",
        *([None] * 3),
        "是",
        None,
    ],
]


def write_sheet(
    path: Path,
    rows: Sequence[Sequence[Any]] = ROWS,
    headers: Sequence[str] = HEADERS,
    *,
    title: str | None = "十二届区委第二轮巡察反馈问题整改台账",
) -> Path:
    """A 台账 as an office saves it: a title above the header, then one finding a row."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "台账"
    if title:
        sheet.append([title])
        sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(headers))
    sheet.append(list(headers))
    for row in rows:
        sheet.append(list(row))
    book.save(path)
    return path


@dataclass
class LedgerWorld:
    """A store with two units and a round of both, its feedback delivered."""

    system: System
    round_id: UUID
    unit_ids: dict[str, UUID]

    @property
    def app(self) -> Any:
        return self.system.app

    def events(self, after: int = 0) -> list[Any]:
        return list(read_log(self.app.recorder, self.app.mapper, after=after))

    def fresh_round(self, title: str = "复制的轮次") -> UUID:
        return open_round(self.system, list(self.unit_ids.values()), title)


def open_round(system: System, unit_ids: list[UUID], title: str) -> UUID:
    round_id = system.app.open_round(
        INSPECTOR,
        authority="区委",
        district="罗湖区",
        title=title,
        teams=["第四巡察组"],
        unit_ids=unit_ids,
        stationed_from="2025-03-26",
        stationed_to="2025-06-13",
    ).entity_id
    system.app.deliver_feedback(INSPECTOR, round_id=round_id, occurred_on="2025-08-12")
    return round_id


@pytest.fixture
def ledger_world(database_url: str) -> Iterator[LedgerWorld]:
    with ledger_world_at(database_url) as world:
        yield world


@contextlib.contextmanager
def ledger_world_at(database_url: str) -> Iterator[LedgerWorld]:
    system = open_system(settings.load({}, database_url=database_url), run_projector=False, today=lambda: TODAY)
    try:
        units = {
            name: system.app.register_unit(OFFICE, name=f"中共罗湖区{name[:3]}委员会", short_name=name).entity_id
            for name in ("甲社区党委", "乙社区党委")
        }
        round_id = open_round(system, list(units.values()), "十二届区委第二轮巡察")
        system.projector.catch_up()
        yield LedgerWorld(system, round_id, units)
    finally:
        system.close()
