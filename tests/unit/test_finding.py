"""The Finding aggregate: every lifecycle transition, legal and illegal, and replay."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from uuid import uuid4

import pytest
from eventsourcing.persistence import JSONTranscoder, Mapper

from rectify.domain import Finding, IllegalTransition, InvalidInput, NotFound
from rectify.domain.values import (
    AmountInvolved,
    Deadline,
    DeadlineKind,
    Disclosure,
    FindingStatus,
    RelapseOutcome,
    Responsibility,
)
from rectify.transcodings import register_all

S = FindingStatus
WHO = "test:actor"
D = date(2025, 9, 1)


def raised(**overrides: object) -> Finding:
    fields: dict[str, object] = {
        "finding_id": uuid4(),
        "round_id": uuid4(),
        "unit_id": uuid4(),
        "code": "二-2-(1)",
        "category": (2, 2),
        "ordinal": 1,
        "heading": "强化公章使用管理",
        "problem": "公章使用审批不规范",
        "amounts": (AmountInvolved("问题资金", Decimal("12.50"), "万元"),),
        "disclosure": Disclosure.PUBLIC,
        "withholding_reason": "",
        "actor": WHO,
    }
    fields.update(overrides)
    return Finding.raise_finding(**fields)  # type: ignore[arg-type]


def responsibility(due: date = date(2025, 11, 12)) -> Responsibility:
    return Responsibility("党建办", "社区党委书记", "张某", Deadline(DeadlineKind.DATE, due))


def finding_in(status: FindingStatus) -> Finding:
    """A finding brought to `status` by legal commands, with one completed measure and one activity."""
    finding = raised()
    if status is S.RAISED:
        return _collected(finding)
    finding.assign_responsibility(responsibility(), actor=WHO)
    if status is S.ASSIGNED:
        return _collected(finding)
    measure_id = uuid4()
    finding.plan_measure(measure_id, "一是", actor=WHO)
    finding.record_activity(
        activity_id=uuid4(),
        kind="大扫除",
        occurred_on=D,
        unit="次",
        description="",
        count=1,
        amount=None,
        measure_id=measure_id,
        actor=WHO,
    )
    finding.complete_measure(measure_id, D, "", actor=WHO)
    if status is S.IN_PROGRESS:
        return _collected(finding)
    if status is S.LONG_TERM:
        finding.mark_long_term(date(2025, 10, 1), "基本完成", actor=WHO)
        return _collected(finding)
    finding.report_rectification(date(2025, 10, 1), "已完成", actor=WHO)
    if status is S.REPORTED:
        return _collected(finding)
    finding.record_verification(
        passed=True, verified_by="巡察办", occurred_on=date(2025, 10, 20), comment="", actor=WHO
    )
    if status is S.VERIFIED:
        return _collected(finding)
    finding.close(date(2025, 10, 25), "对账销号", actor=WHO)
    assert status is S.CLOSED
    return _collected(finding)


def _collected(finding: Finding) -> Finding:
    finding.collect_events()
    return finding


Command = Callable[[Finding], None]

COMMANDS: dict[str, tuple[Command, dict[FindingStatus, FindingStatus]]] = {
    # name: (command, {status it is legal in: status it leads to})
    "assign responsibility": (
        lambda f: f.assign_responsibility(responsibility(), actor=WHO),
        {
            S.RAISED: S.ASSIGNED,
            S.ASSIGNED: S.ASSIGNED,
            S.IN_PROGRESS: S.IN_PROGRESS,
            S.REPORTED: S.REPORTED,
            S.LONG_TERM: S.LONG_TERM,
        },
    ),
    "extend the deadline": (
        lambda f: f.extend_deadline(Deadline(DeadlineKind.DATE, date(2025, 12, 31)), "等待换届", actor=WHO),
        {S.ASSIGNED: S.ASSIGNED, S.IN_PROGRESS: S.IN_PROGRESS, S.REPORTED: S.REPORTED, S.LONG_TERM: S.LONG_TERM},
    ),
    "plan a measure": (
        lambda f: f.plan_measure(uuid4(), "二是", actor=WHO),
        {S.ASSIGNED: S.ASSIGNED, S.IN_PROGRESS: S.IN_PROGRESS, S.LONG_TERM: S.LONG_TERM},
    ),
    "record an activity": (
        lambda f: f.record_activity(
            activity_id=uuid4(),
            kind="培训",
            occurred_on=D,
            unit="次",
            description="",
            count=2,
            amount=None,
            measure_id=None,
            actor=WHO,
        ),
        {S.ASSIGNED: S.IN_PROGRESS, S.IN_PROGRESS: S.IN_PROGRESS, S.REPORTED: S.REPORTED, S.LONG_TERM: S.LONG_TERM},
    ),
    "report the rectification": (
        lambda f: f.report_rectification(date(2025, 10, 2), "已完成", actor=WHO),
        {S.IN_PROGRESS: S.REPORTED, S.LONG_TERM: S.REPORTED},
    ),
    "mark it long-term": (
        lambda f: f.mark_long_term(date(2025, 10, 2), "持续整改", actor=WHO),
        {S.IN_PROGRESS: S.LONG_TERM, S.REPORTED: S.LONG_TERM},
    ),
    "pass a verification": (
        lambda f: f.record_verification(
            passed=True, verified_by="巡察办", occurred_on=date(2025, 11, 1), comment="", actor=WHO
        ),
        {S.REPORTED: S.VERIFIED, S.LONG_TERM: S.VERIFIED},
    ),
    "fail a verification": (
        lambda f: f.record_verification(
            passed=False, verified_by="巡察办", occurred_on=date(2025, 11, 1), comment="不到位", actor=WHO
        ),
        {S.REPORTED: S.IN_PROGRESS, S.LONG_TERM: S.IN_PROGRESS},
    ),
    "close it": (lambda f: f.close(date(2025, 11, 1), "", actor=WHO), {S.VERIFIED: S.CLOSED}),
    "find it holding": (
        lambda f: f.record_relapse_check(
            outcome=RelapseOutcome.HOLDING, checked_by="巡察办", occurred_on=date(2026, 2, 1), comment="", actor=WHO
        ),
        {S.CLOSED: S.CLOSED},
    ),
    "find it relapsed": (
        lambda f: f.record_relapse_check(
            outcome=RelapseOutcome.RELAPSED,
            checked_by="巡察办",
            occurred_on=date(2026, 2, 1),
            comment="反弹",
            actor=WHO,
        ),
        {S.CLOSED: S.IN_PROGRESS},
    ),
    "reopen it": (
        lambda f: f.reopen(date(2026, 2, 1), "发现新问题", actor=WHO),
        {S.VERIFIED: S.IN_PROGRESS, S.CLOSED: S.IN_PROGRESS},
    ),
}

CASES = [(name, status) for name in COMMANDS for status in S]


@pytest.mark.parametrize(("command", "status"), CASES, ids=[f"{c} when {s.value}" for c, s in CASES])
def test_each_command_is_allowed_exactly_in_its_statuses(command: str, status: FindingStatus) -> None:
    run, allowed = COMMANDS[command]
    finding = finding_in(status)
    version = finding.version
    if status in allowed:
        run(finding)
        events = finding.collect_events()
        assert len(events) == 1
        assert events[0].actor == WHO
        assert finding.status is allowed[status]
    else:
        with pytest.raises(IllegalTransition) as refused:
            run(finding)
        assert refused.value.status == status.value
        assert status.value in str(refused.value)
        assert finding.collect_events() == []
        assert finding.version == version


def test_closing_an_unverified_finding_is_refused() -> None:
    finding = finding_in(S.REPORTED)
    with pytest.raises(IllegalTransition, match="only a verified finding can be closed"):
        finding.close(date(2025, 11, 1), "", actor=WHO)
    assert finding.collect_events() == []


def test_verifying_what_was_never_reported_is_refused() -> None:
    finding = finding_in(S.IN_PROGRESS)
    with pytest.raises(IllegalTransition, match="only a reported rectification can be verified"):
        finding.record_verification(passed=True, verified_by="x", occurred_on=D, comment="", actor=WHO)


def test_recording_on_a_closed_finding_needs_reopening_first() -> None:
    finding = finding_in(S.CLOSED)
    record = COMMANDS["record an activity"][0]
    with pytest.raises(IllegalTransition, match="reopen it first"):
        record(finding)
    finding.reopen(date(2026, 1, 5), "补充整改", actor=WHO)
    record(finding)
    assert finding.status is S.IN_PROGRESS
    assert [type(e).__name__ for e in finding.collect_events()] == ["Reopened", "ActivityRecorded"]


def test_reporting_with_an_open_measure_is_refused() -> None:
    finding = finding_in(S.IN_PROGRESS)
    finding.plan_measure(uuid4(), "二是", actor=WHO)
    with pytest.raises(IllegalTransition, match="measures 2 are not completed"):
        finding.report_rectification(date(2025, 10, 2), "done", actor=WHO)


def test_reporting_without_any_measure_is_refused() -> None:
    finding = finding_in(S.ASSIGNED)
    finding.record_activity(
        activity_id=uuid4(),
        kind="培训",
        occurred_on=D,
        unit="次",
        description="",
        count=1,
        amount=None,
        measure_id=None,
        actor=WHO,
    )
    with pytest.raises(IllegalTransition, match="plan at least one measure"):
        finding.report_rectification(date(2025, 10, 2), "done", actor=WHO)


def test_marking_long_term_needs_a_phased_result() -> None:
    finding = finding_in(S.ASSIGNED)
    finding.plan_measure(uuid4(), "一是", actor=WHO)
    with pytest.raises(IllegalTransition, match="complete at least one measure"):
        finding.mark_long_term(D, "持续整改", actor=WHO)


def test_measures_are_numbered_in_the_order_planned_and_completed_once() -> None:
    finding = finding_in(S.ASSIGNED)
    first, second = uuid4(), uuid4()
    finding.plan_measure(first, "一是", actor=WHO)
    finding.plan_measure(second, "二是", actor=WHO)
    finding.complete_measure(second, D, "完成", actor=WHO)
    assert [(m.ordinal, m.text, m.completed_on) for m in finding.measures] == [(1, "一是", None), (2, "二是", D)]
    assert finding.status is S.IN_PROGRESS
    with pytest.raises(IllegalTransition, match="measure 2 is already completed"):
        finding.complete_measure(second, D, "", actor=WHO)
    with pytest.raises(NotFound, match="measure"):
        finding.complete_measure(uuid4(), D, "", actor=WHO)


def test_an_extension_keeps_the_original_deadline_visible() -> None:
    finding = finding_in(S.IN_PROGRESS)
    finding.extend_deadline(Deadline(DeadlineKind.DATE, date(2025, 12, 31)), "换届推迟", actor=WHO)
    finding.extend_deadline(Deadline(DeadlineKind.DATE, date(2026, 1, 31)), "再次推迟", actor=WHO)
    assert finding.original_deadline == Deadline(DeadlineKind.DATE, date(2025, 11, 12))
    assert finding.responsibility is not None
    assert finding.responsibility.deadline.due_on == date(2026, 1, 31)
    assert [(e.previous.due_on, e.new.due_on, e.reason) for e in finding.extensions] == [
        (date(2025, 11, 12), date(2025, 12, 31), "换届推迟"),
        (date(2025, 12, 31), date(2026, 1, 31), "再次推迟"),
    ]


def test_an_extension_must_move_the_deadline_later() -> None:
    finding = finding_in(S.IN_PROGRESS)
    with pytest.raises(InvalidInput) as refused:
        finding.extend_deadline(Deadline(DeadlineKind.DATE, date(2025, 11, 12)), "无", actor=WHO)
    assert refused.value.field == "due_on"
    assert finding.collect_events() == []


def test_an_activity_is_a_count_or_an_amount_not_both() -> None:
    finding = finding_in(S.IN_PROGRESS)
    with pytest.raises(InvalidInput) as refused:
        finding.record_activity(
            activity_id=uuid4(),
            kind="清退资金",
            occurred_on=D,
            unit="万元",
            description="",
            count=1,
            amount=Decimal("1.00"),
            measure_id=None,
            actor=WHO,
        )
    assert refused.value.field == "count"


def test_a_long_term_deadline_has_no_date_to_extend() -> None:
    finding = raised()
    finding.assign_responsibility(Responsibility("党建办", "书记", "张某", Deadline(DeadlineKind.LONG_TERM)), actor=WHO)
    with pytest.raises(InvalidInput, match="长期坚持") as refused:
        finding.extend_deadline(Deadline(DeadlineKind.DATE, date(2026, 1, 1)), "改为固定时限", actor=WHO)
    assert refused.value.field == "due_on"


def test_a_retraction_corrects_an_activity_in_any_status_but_only_once() -> None:
    finding = finding_in(S.CLOSED)
    activity = finding.activities[0]
    finding.retract_activity(activity.activity_id, "重复登记", actor=WHO)
    assert finding.activities[0].retracted
    assert finding.activities[0].retraction_reason == "重复登记"
    assert finding.status is S.CLOSED
    with pytest.raises(IllegalTransition, match="already retracted"):
        finding.retract_activity(activity.activity_id, "again", actor=WHO)
    with pytest.raises(NotFound):
        finding.retract_activity(uuid4(), "unknown", actor=WHO)


def test_check_dates_must_follow_what_they_check() -> None:
    finding = finding_in(S.REPORTED)
    with pytest.raises(InvalidInput) as refused:
        finding.record_verification(passed=True, verified_by="x", occurred_on=date(2025, 9, 30), comment="", actor=WHO)
    assert refused.value.field == "occurred_on"
    finding = finding_in(S.VERIFIED)
    with pytest.raises(InvalidInput, match="before the verification"):
        finding.close(date(2025, 10, 19), "", actor=WHO)
    finding = finding_in(S.CLOSED)
    with pytest.raises(InvalidInput, match="before the close-out"):
        finding.record_relapse_check(
            outcome=RelapseOutcome.HOLDING, checked_by="x", occurred_on=date(2025, 10, 24), comment="", actor=WHO
        )


def test_an_internal_finding_needs_a_withholding_reason() -> None:
    with pytest.raises(InvalidInput) as refused:
        raised(disclosure=Disclosure.INTERNAL, withholding_reason=" ")
    assert refused.value.field == "withholding_reason"
    internal = raised(disclosure=Disclosure.INTERNAL, withholding_reason="涉及在办案件")
    assert not internal.is_public
    with pytest.raises(InvalidInput):
        raised(withholding_reason="不该有")


def test_a_relapse_reopens_the_finding_and_it_can_be_closed_again() -> None:
    finding = finding_in(S.CLOSED)
    finding.record_relapse_check(
        outcome=RelapseOutcome.RELAPSED,
        checked_by="巡察办",
        occurred_on=date(2026, 2, 1),
        comment="问题回潮",
        actor=WHO,
    )
    assert finding.status is S.IN_PROGRESS
    finding.report_rectification(date(2026, 2, 10), "再次整改", actor=WHO)
    finding.record_verification(passed=True, verified_by="巡察办", occurred_on=date(2026, 2, 20), comment="", actor=WHO)
    finding.close(date(2026, 2, 21), "", actor=WHO)
    assert finding.status is S.CLOSED
    assert len(finding.close_outs) == 2
    assert [c.outcome for c in finding.relapse_checks] == [RelapseOutcome.RELAPSED]


def full_history() -> tuple[Finding, list[object]]:
    finding = raised()
    events: list[object] = []
    finding.assign_responsibility(responsibility(), actor=WHO)
    measure = uuid4()
    finding.plan_measure(measure, "一是 {count:大扫除:to=2025-11-12} 次", actor=WHO)
    activity = uuid4()
    finding.record_activity(
        activity_id=activity,
        kind="大扫除",
        occurred_on=D,
        unit="次",
        description="d",
        count=1,
        amount=None,
        measure_id=measure,
        actor=WHO,
    )
    finding.record_activity(
        activity_id=uuid4(),
        kind="清退资金",
        occurred_on=D,
        unit="万元",
        description="",
        count=None,
        amount=Decimal("66.57"),
        measure_id=None,
        actor=WHO,
    )
    finding.retract_activity(activity, "重复", actor=WHO)
    finding.extend_deadline(Deadline(DeadlineKind.DATE, date(2025, 12, 1)), "延期", actor=WHO)
    finding.complete_measure(measure, D, "ok", actor=WHO)
    finding.mark_long_term(date(2025, 10, 1), "阶段性成果", actor=WHO)
    finding.record_verification(passed=False, verified_by="x", occurred_on=date(2025, 10, 2), comment="no", actor=WHO)
    finding.report_rectification(date(2025, 10, 3), "done", actor=WHO)
    finding.record_verification(passed=True, verified_by="x", occurred_on=date(2025, 10, 4), comment="ok", actor=WHO)
    finding.close(date(2025, 10, 5), "", actor=WHO)
    finding.record_relapse_check(
        outcome=RelapseOutcome.RELAPSED, checked_by="x", occurred_on=date(2025, 10, 6), comment="r", actor=WHO
    )
    events.extend(finding.collect_events())
    return finding, events


def test_a_finding_rebuilt_from_its_events_equals_the_one_that_made_them() -> None:
    finding, events = full_history()
    rebuilt = None
    for event in events:
        rebuilt = event.mutate(rebuilt)  # type: ignore[attr-defined]
    assert rebuilt == finding


def test_a_finding_rebuilt_from_stored_events_equals_the_one_that_made_them() -> None:
    """Through the real JSON transcoding: dates, decimals, enums and values come back as they went."""
    finding, events = full_history()
    transcoder = JSONTranscoder()
    register_all(transcoder)
    mapper: Mapper = Mapper(transcoder=transcoder)
    rebuilt = None
    for event in events:
        stored = mapper.to_stored_event(event)  # type: ignore[arg-type]
        rebuilt = mapper.to_domain_event(stored).mutate(rebuilt)  # type: ignore[attr-defined]
    assert rebuilt == finding
    assert rebuilt.activities[1].amount == Decimal("66.57")
    assert isinstance(rebuilt.category, tuple)
