"""The notice (通报) as a read model: a round's state for one unit, as of a log position, in notice order.

Everything printed comes from the records: the header and contact lines from the unit, the
introduction from the round's dates and team, the narratives as drafted, every finding the
edition may show in its category order with its measures, and each figure counted from the
activities known at the position. Numbering is by what is shown: the public edition leaves
internal items out and numbers what remains without gaps.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Protocol
from uuid import UUID

from rectify.domain import Finding, NotFound, Round, Unit, chinese
from rectify.domain.figures import Figure, RuleFigures, filled, rule_figure
from rectify.domain.rule import StandingRule
from rectify.domain.values import Edition, Narrative, NarrativeSection

DEFAULT_WINDOW_DAYS = 30


class RoundState(Protocol):
    """What the notice needs from a view of the log (an as-of replay of the round)."""

    position: int

    def aggregate(self, identifier: UUID) -> object | None: ...

    def aggregates(self, cls: type) -> list: ...


@dataclass(frozen=True)
class Paragraph:
    """A numbered narrative paragraph: （一）+ its lead sentence + its text."""

    label: str
    title: str
    text: str


@dataclass(frozen=True)
class Section:
    intro: str
    paragraphs: tuple[Paragraph, ...]


@dataclass(frozen=True)
class Item:
    """A finding as printed: its number label, heading and measures (一是…, or one plain paragraph)."""

    label: str  # "1." at the 问题 level, "（1）" at the 子项 level
    heading: str
    measures: tuple[str, ...]
    children: tuple[Item, ...] = ()


@dataclass(frozen=True)
class Aspect:
    """（一）… 方面, and its items."""

    label: str
    title: str
    items: tuple[Item, ...]


@dataclass(frozen=True)
class NoticeHead:
    """The log's tree head at the notice's position, as the notice prints it (template v2 on)."""

    origin: str
    size: int
    position: int  # of the last leaf in the tree
    root: str  # base64, as in the signed text
    signed_at: str
    fingerprint: str | None  # of the public key that signed it; None when unsigned
    note: str  # the signed text and its signature line, exactly as checked

    @property
    def signed_by(self) -> str:
        return f"Ed25519 签名，公钥指纹 {self.fingerprint}" if self.fingerprint else "未签名"


@dataclass(frozen=True)
class Notice:
    edition: Edition
    position: int
    unit_name: str
    address: str
    phone: str
    postcode: str
    title: str
    intro: str
    responsibility: Section
    aspects: tuple[Aspect, ...]
    next_steps: Section
    window: str  # 2026年3月12日至4月11日
    contact_phone: str
    postal_address: str
    email: str
    signature: str
    dated: str
    published_on: date
    window_until: date
    tree_head: NoticeHead | None = None  # recorded from template v2 on


def digest(text: str) -> str:
    """The SHA-256 a publication records of its Markdown text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def window_end(published_on: date, days: int) -> date:
    """The publicity window starts on the publication date and lasts `days` days: 3月12日 + 30 → 4月11日."""
    return published_on + timedelta(days=days)


def measure_texts(finding: Finding, rules: RuleFigures | None = None) -> tuple[str, ...]:
    texts = [filled(m.text, finding.activities, rules) for m in finding.measures]
    if len(texts) < 2:
        return tuple(texts)
    return tuple(f"{chinese.numeral(i)}是{text}" for i, text in enumerate(texts, start=1))


def section(narrative: Narrative) -> Section:
    return Section(
        intro=narrative.intro,
        paragraphs=tuple(
            Paragraph(f"（{chinese.numeral(i)}）", item.title, item.text) for i, item in enumerate(narrative.items, 1)
        ),
    )


def build(
    state: RoundState,
    *,
    round_id: UUID,
    unit_id: UUID,
    edition: Edition,
    published_on: date,
    window_until: date,
) -> Notice:
    """The notice of `unit_id` in round `round_id`, from `state` (the round as of some position)."""
    round_ = state.aggregate(round_id)
    unit = state.aggregate(unit_id)
    if not isinstance(round_, Round):
        raise NotFound("round", round_id)
    if not isinstance(unit, Unit) or unit_id not in round_.unit_ids:
        raise NotFound("unit", unit_id)
    if round_.feedback_on is None:
        raise NotFound("feedback of round", round_id)
    shown = [
        f
        for f in state.aggregates(Finding)
        if f.round_id == round_id and f.unit_id == unit_id and (edition is Edition.INTERNAL or f.is_public)
    ]
    who = unit.short_name
    team = round_.team_name
    kind = round_.kind.label  # 巡察, 巡视, 审计…
    if round_.stationed_from is not None and round_.stationed_to is not None:
        when = f"{chinese.span(round_.stationed_from, round_.stationed_to)}，"
        feedback_year = round_.feedback_on.year != round_.stationed_to.year
    else:  # a kind that stations no team (an audit): no stay to date
        when, feedback_year = "", True
    intro = (
        f"根据{round_.authority}统一部署，{when}{team}对{who}进行了{kind}。"
        f"{chinese.day(round_.feedback_on, year=feedback_year)}，"
        f"{round_.authority}{round_.team}向{who}反馈了{kind}意见。{who}高度重视，对照问题，"
        f"逐一明确完成时限、责任部门、责任领导和责任人，全面推进整改。按照{kind}工作有关要求，现将{kind}整改进展情况予以公布。"
    )
    contact = unit.contact
    title = f"{unit.name} 关于{kind}整改进展情况的通报" + ("（党内通报）" if edition is Edition.INTERNAL else "")
    return Notice(
        edition=edition,
        position=state.position,
        unit_name=unit.name,
        address=contact.address,
        phone=contact.phone,
        postcode=contact.postcode,
        title=title,
        intro=intro,
        responsibility=section(round_.narrative(unit_id, NarrativeSection.RESPONSIBILITY)),
        aspects=aspects(round_, shown, rule_figures(state, round_id, unit_id, shown, published_on)),
        next_steps=section(round_.narrative(unit_id, NarrativeSection.NEXT_STEPS)),
        window=chinese.span(published_on, window_until),
        contact_phone=f"{contact.area_code}-{contact.phone}" if contact.area_code else contact.phone,
        postal_address=contact.postal_address or contact.address,
        email=contact.email,
        signature=unit.name,
        dated=chinese.day(published_on),
        published_on=published_on,
        window_until=window_until,
    )


def rule_figures(state: RoundState, round_id: UUID, unit_id: UUID, shown: list[Finding], on: date) -> RuleFigures:
    """A rule figure's value in this notice: the unit's rules (in this round), from the activities of the findings the
    edition shows, judged on the notice's date."""

    def value(figure: Figure) -> Decimal:
        rules = [r for r in state.aggregates(StandingRule) if r.binds(round_id, unit_id)]
        activities = [a for f in shown for a in f.activities]
        return rule_figure(figure, rules, activities, on)

    return value


def aspects(round_: Round, findings: list[Finding], rules: RuleFigures | None = None) -> tuple[Aspect, ...]:
    """The category tree with the shown findings, each level numbered by what is shown."""
    titles = {c.path: c.title for c in round_.categories}
    result: list[Aspect] = []
    for top in sorted(p for p in titles if len(p) == 1):
        under = [f for f in findings if f.category[:1] == top]
        # A place at the 问题 level holds a finding, or a category grouping 子项 findings; both kinds
        # are kept apart so that neither can hide the other, and ordered by ordinal.
        entries: dict[tuple[int, int], Item | list[Finding]] = {}
        for finding in sorted(under, key=lambda f: (f.place, f.code)):
            if len(finding.category) == 1:
                entries[(finding.ordinal, 0)] = Item("", finding.heading, measure_texts(finding, rules))
            else:
                group = entries.setdefault((finding.category[1], 1), [])
                assert isinstance(group, list)
                group.append(finding)
        items = []
        for number, ((ordinal, _), entry) in enumerate(sorted(entries.items(), key=lambda e: e[0]), start=1):
            if isinstance(entry, Item):
                items.append(Item(f"{number}.", entry.heading, entry.measures))
            else:
                children = tuple(
                    Item(f"（{n}）", f.heading, measure_texts(f, rules)) for n, f in enumerate(entry, start=1)
                )
                items.append(Item(f"{number}.", titles.get((top[0], ordinal), ""), (), children))
        if items:
            result.append(Aspect(f"（{chinese.numeral(len(result) + 1)}）", titles[top], tuple(items)))
    return tuple(result)
