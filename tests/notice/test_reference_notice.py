"""The reference notice of 2026-03-12, printed again from the records, section by section."""

from __future__ import annotations

import difflib
import re
import unicodedata
from datetime import date

from rectify.access import Actor, Role
from rectify.bootstrap import System
from rectify.domain.values import Edition
from rectify.examples import songyuan
from scenario import SYSTEM

PUBLISHED_ON = date(2026, 3, 12)

REFERENCE = songyuan.REFERENCE_NOTICE
TREE_HEAD_MARK = "\n---\n\n记录核验："
SECTIONS = ("一、", "二、巡察整改任务落实情况", "三、下一步工作打算", "欢迎广大干部群众")


def normalised(markdown: str) -> str:
    """What the comparison ignores: whitespace and line breaks, Markdown heading marks, link and escape
    syntax, and the full-width/half-width forms of the same character (NFKC: （1） and (1))."""
    text = re.sub(r"^\s*#+\s*", "", markdown, flags=re.MULTILINE)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # [text](url) → text
    text = re.sub(r"\\+(?=[\\`*_{}\[\]<>()#+!|])", "", text)  # Markdown escapes
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def split(text: str) -> list[tuple[str, str]]:
    """The notice cut at its section starts: header and intro, 一、, 二、, 三、, closing."""
    marks = [m for m in (unicodedata.normalize("NFKC", s) for s in SECTIONS)]
    parts, rest = [], text
    for name, mark in zip(("head", "一", "二", "三"), marks, strict=True):
        before, found, after = rest.partition(mark)
        assert found, f"section starting {mark!r} is missing"
        parts.append((name, before))
        rest = found + after
    parts.append(("closing", rest))
    return parts


def differences(ours: str, theirs: str, context: int = 12) -> list[str]:
    matcher = difflib.SequenceMatcher(a=theirs, b=ours, autojunk=False)
    listed = []
    for tag, a1, a2, b1, b2 in matcher.get_opcodes():
        if tag != "equal":
            listed.append(
                f"{tag}: reference …{theirs[max(0, a1 - context) : a2 + context]}… "
                f"vs ours …{ours[max(0, b1 - context) : b2 + context]}…"
            )
    return listed


def test_the_reference_notice_is_printed_again_from_the_records(system: System, loaded: songyuan.Loaded) -> None:
    receipt = system.app.publish_notice(
        SYSTEM, round_id=loaded.round_id, unit_id=loaded.unit_id, published_on=PUBLISHED_ON
    )
    system.projector.catch_up()
    check = system.notices.rebuild(receipt.entity_id)
    assert check.ok
    # What the paper notice cannot have: the log's tree head at the notice's position (template v2), after it.
    printed, mark, record_check = check.rendered.markdown.partition(TREE_HEAD_MARK)
    assert mark and check.rendered.notice.tree_head is not None
    assert check.rendered.notice.tree_head.note in record_check
    ours = normalised(printed)
    reference = normalised(REFERENCE.read_text(encoding="utf-8"))
    report = []
    for (name, our_part), (_, their_part) in zip(split(ours), split(reference), strict=True):
        if our_part != their_part:
            report.append(f"section {name}:\n  " + "\n  ".join(differences(our_part, their_part)))
    assert not report, "the notice differs from the reference:\n" + "\n".join(report)


def test_the_figures_are_counted_from_activities_not_typed(system: System, loaded: songyuan.Loaded) -> None:
    """The notice's 22 and 5 change when the records do: they are counts of activities."""
    finding = system.app.finding(loaded.finding_ids["人居环境品质有效提升"])
    assert all("22" not in m.text and " 5 " not in m.text for m in finding.measures)
    unit = Actor("松园社区党委（示例）", Role.UNIT, loaded.unit_id)
    system.app.record_activity(unit, finding_id=finding.id, kind="大扫除", occurred_on="2025-11-01", count=1)
    system.app.record_activity(unit, finding_id=finding.id, kind="培训", occurred_on="2025-03-20", count=1)
    system.projector.catch_up()
    draft = system.notices.draft(
        loaded.round_id, loaded.unit_id, Edition.PUBLIC, system.app.head(), PUBLISHED_ON, 30
    ).markdown
    assert "累计开展 23 次" in draft  # one more clean-up on or before 2025-11-12
    assert "培训要求 5 次" in draft  # a training before the team was stationed does not count
