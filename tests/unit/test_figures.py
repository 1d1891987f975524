"""Figures in measure texts come from activities, cut at business dates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import uuid4

import pytest

from rectify.domain import InvalidInput
from rectify.domain.figures import Figure, figures_in, fill
from rectify.domain.values import Activity


def activity(
    kind: str, day: date, *, count: int | None = 1, amount: str | None = None, retracted: bool = False
) -> Activity:
    return Activity(
        uuid4(),
        kind,
        day,
        "次" if amount is None else "万元",
        "",
        count=None if amount else count,
        amount=Decimal(amount) if amount else None,
        retracted=retracted,
    )


ACTIVITIES = [
    activity("大扫除", date(2025, 11, 12)),
    activity("大扫除", date(2025, 11, 13)),
    activity("大扫除", date(2025, 4, 1), count=3),
    activity("大扫除", date(2025, 5, 1), retracted=True),
    activity("培训", date(2025, 3, 25)),
    activity("培训", date(2025, 3, 26)),
    activity("清退资金", date(2025, 10, 1), amount="40.00"),
    activity("清退资金", date(2025, 10, 2), amount="26.57"),
]


def test_a_count_is_cut_at_its_dates_and_skips_retracted_activities() -> None:
    text = "截止 2025 年 11 月 12 日，累计开展 {count:大扫除:to=2025-11-12} 次；培训 {count:培训:from=2025-03-26} 次"
    filled = fill(text, lambda figure: str(figure.value(ACTIVITIES)))
    assert filled == "截止 2025 年 11 月 12 日，累计开展 4 次；培训 1 次"


def test_a_sum_adds_amounts_exactly() -> None:
    assert Figure("sum", "清退资金").value(ACTIVITIES) == Decimal("66.57")


def test_literal_braces_survive_and_malformed_placeholders_are_refused() -> None:
    assert fill("{{示例}}", lambda figure: "?") == "{示例}"
    assert figures_in("no figures") == []
    for bad in (
        "{total:大扫除}",
        "{count:大扫除:to=2025-13-01}",
        "{count:大扫除:at=2025-01-01}",
        "开展 { 次",
        "{count:}",
    ):
        with pytest.raises(InvalidInput) as refused:
            figures_in(bad)
        assert refused.value.field == "text"
