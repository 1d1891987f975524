"""Figures in measure texts: placeholders filled from recorded activities, never typed numbers.

A measure's text may say "截止 2025 年 11 月 12 日，累计开展 {count:大扫除:to=2025-11-12} 次":
the figure is the number of the finding's 大扫除 activities with occurred_on on or before that date,
as known at the position the text is rendered at. `{sum:清退资金}` adds up amounts instead.
Bounds are optional and inclusive: `from=YYYY-MM-DD`, `to=YYYY-MM-DD`. `{{` and `}}` are literal braces.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from rectify.domain.errors import InvalidInput
from rectify.domain.values import Activity

PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


@dataclass(frozen=True)
class Figure:
    """One placeholder: which activities to count or add up."""

    function: str  # "count" or "sum"
    kind: str
    since: date | None = None
    until: date | None = None

    def selects(self, activity: Activity) -> bool:
        return (
            not activity.retracted
            and activity.kind == self.kind
            and (self.since is None or activity.occurred_on >= self.since)
            and (self.until is None or activity.occurred_on <= self.until)
        )

    def value(self, activities: Iterable[Activity]) -> Decimal:
        chosen = [a for a in activities if self.selects(a)]
        if self.function == "count":
            return Decimal(sum(a.count or 1 for a in chosen))
        return sum((a.quantity for a in chosen), Decimal(0))


def parse_figure(spec: str, field: str = "text") -> Figure:
    parts = spec.split(":")
    if len(parts) < 2 or parts[0] not in ("count", "sum") or not parts[1].strip():
        raise InvalidInput(field, f"placeholder {{{spec}}} should read {{count:KIND}} or {{sum:KIND}}")
    bounds: dict[str, date] = {}
    for part in parts[2:]:
        name, _, value = part.partition("=")
        if name not in ("from", "to") or name in bounds:
            raise InvalidInput(field, f"placeholder {{{spec}}}: unknown or repeated bound {name!r}")
        try:
            bounds[name] = date.fromisoformat(value)
        except ValueError:
            raise InvalidInput(field, f"placeholder {{{spec}}}: {value!r} is not a date YYYY-MM-DD") from None
    return Figure(parts[0], parts[1].strip(), bounds.get("from"), bounds.get("to"))


def figures_in(text: str, field: str = "text") -> list[Figure]:
    """The placeholders of a text, checked; raises InvalidInput on a malformed one."""
    found = [parse_figure(m.group(1), field) for m in PLACEHOLDER.finditer(text) if m.group(1) is not None]
    stray = PLACEHOLDER.sub("", text)
    if "{" in stray or "}" in stray:
        raise InvalidInput(field, "has an unmatched brace; write {{ or }} for a literal one")
    return found


def fill(text: str, value_of: Callable[[Figure], str]) -> str:
    """The text with each placeholder replaced by value_of(figure)."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "{{":
            return "{"
        if match.group(0) == "}}":
            return "}"
        return value_of(parse_figure(match.group(1)))

    return PLACEHOLDER.sub(replace, text)


def number(value: Decimal) -> str:
    """A figure as printed: whole numbers without decimals, others with two (66.57)."""
    return str(int(value)) if value == value.to_integral_value() else f"{value:.2f}"


def filled(text: str, activities: Iterable[Activity]) -> str:
    """A measure's text with every placeholder replaced by its figure from these activities."""
    kept = tuple(activities)
    return fill(text, lambda figure: number(figure.value(kept)))
