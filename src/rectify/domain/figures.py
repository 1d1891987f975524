"""Figures in measure texts: placeholders filled from recorded activities, never typed numbers.

A measure's text may say "截止 2025 年 11 月 12 日，累计开展 {count:大扫除:to=2025-11-12} 次":
the figure is the number of the finding's 大扫除 activities with occurred_on on or before that date,
as known at the position the text is rendered at. `{sum:清退资金}` adds up amounts instead.
Bounds are optional and inclusive: `from=YYYY-MM-DD`, `to=YYYY-MM-DD`. `{{` and `}}` are literal braces.

A text may also cite a standing rule (长效机制) of the finding's unit: `{met:消防演练}` is the number of periods
of the rules on that activity kind that were met, `{missed:消防演练}` of those missed, judged on the day the
text is rendered for (a notice's date), or on `to=`; `from=` counts the periods that begin on or after it.
These were no placeholders before, so no published text holds one: adding them changes no published notice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from rectify.domain.errors import InvalidInput
from rectify.domain.rule import PeriodStatus, StandingRule
from rectify.domain.values import Activity

PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
#: Figures of activities, and figures of standing rules (periods met, missed).
ACTIVITY_FUNCTIONS = ("count", "sum")
RULE_FUNCTIONS = ("met", "missed")


@dataclass(frozen=True)
class Figure:
    """One placeholder: which activities to count or add up."""

    function: str  # "count" or "sum" (activities), "met" or "missed" (a standing rule's periods)
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
    if len(parts) < 2 or parts[0] not in (*ACTIVITY_FUNCTIONS, *RULE_FUNCTIONS) or not parts[1].strip():
        raise InvalidInput(
            field, f"placeholder {{{spec}}} should read {{count:KIND}}, {{sum:KIND}}, {{met:KIND}} or {{missed:KIND}}"
        )
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


#: What a rule figure is worked out by, where the text is rendered (the rules and activities of the finding's unit).
RuleFigures = Callable[[Figure], Decimal]


def filled(text: str, activities: Iterable[Activity], rules: RuleFigures | None = None) -> str:
    """A measure's text with every placeholder replaced by its figure from these activities (and, for a rule's
    figure, by `rules`; without them a rule's figure shows as —)."""
    kept = tuple(activities)

    def value_of(figure: Figure) -> str:
        if figure.function in RULE_FUNCTIONS:
            return number(rules(figure)) if rules is not None else "—"
        return number(figure.value(kept))

    return fill(text, value_of)


def rule_figure(figure: Figure, rules: Iterable[StandingRule], activities: Iterable[Activity], today: date) -> Decimal:
    """{met:KIND} or {missed:KIND}: periods of the rules on that kind, met or missed, judged on `today` (or `to=`),
    counting those that begin on or after `from=`."""
    wanted = PeriodStatus.MET if figure.function == "met" else PeriodStatus.MISSED
    day = min(today, figure.until) if figure.until is not None else today
    kept = tuple(activities)
    found = 0
    for rule in rules:
        if all(t.activity_kind != figure.kind for t in rule.terms):
            continue
        for period in rule.periods(kept, day):
            if period.activity_kind == figure.kind and period.status is wanted:
                found += figure.since is None or period.starts_on >= figure.since
    return Decimal(found)
