"""Commands real reports need, on both stores: bare units, audits, money, partial rectification, tokens."""

from __future__ import annotations

import json
from decimal import Decimal
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent

from rectify.access import Actor, Role
from rectify.application import RectifyApplication
from rectify.domain import Forbidden, IllegalTransition, InvalidInput, Round
from rectify.domain.values import MoneyRole, RoundKind

SYSTEM = Actor("tests", Role.SYSTEM)
INSPECTOR = Actor("审计局", Role.INSPECTOR)
ADMIN = Actor("管理员", Role.ADMIN)


def audit_round(app: RectifyApplication) -> tuple:
    """A unit registered by its name alone, and an audit of it with two teams and no stationed period."""
    unit_id = app.register_unit(ADMIN, name="罗湖区教育局").entity_id
    round_id = app.open_round(
        INSPECTOR,
        authority="区审计局",
        district="罗湖区",
        title="2024年度区本级预算执行审计",
        kind="AUDIT",
        teams=["审计一组", "审计二组"],
        unit_ids=[unit_id],
    ).entity_id
    app.deliver_feedback(INSPECTOR, round_id=round_id, occurred_on="2025-08-12")
    app.define_category(INSPECTOR, round_id=round_id, path=[1], title="预算管理方面")
    finding_id = app.raise_finding(
        INSPECTOR,
        round_id=round_id,
        unit_id=unit_id,
        category=[1],
        ordinal=1,
        heading="违规发放补贴",
        problem="违规发放补贴 12.50 万元",
        amounts=[("涉及金额", "12.50", "万元")],
    ).entity_id
    return unit_id, round_id, finding_id


def test_a_unit_needs_only_its_name_and_an_audit_neither_stationed_dates_nor_an_end_of_rectification(
    app: RectifyApplication,
) -> None:
    unit_id, round_id, _ = audit_round(app)
    unit = app.unit(unit_id)
    assert (unit.name, unit.short_name, unit.contact.address, unit.contact.postcode) == (
        "罗湖区教育局",
        "罗湖区教育局",
        "",
        "",
    )
    round_ = app.round(round_id)
    assert (round_.kind, round_.title, round_.teams) == (
        RoundKind.AUDIT,
        "2024年度区本级预算执行审计",
        ("审计一组", "审计二组"),
    )
    assert (round_.stationed_from, round_.rectification_until) == (None, None)
    with pytest.raises(InvalidInput) as refused:
        app.open_round(INSPECTOR, authority="区委", district="罗湖区", team="第一巡察组", unit_ids=[unit_id])
    assert refused.value.field == "stationed_from"


def test_amounts_are_decimals_given_as_text_and_a_float_is_refused_saying_why(app: RectifyApplication) -> None:
    _, _, finding_id = audit_round(app)
    head = app.head()
    with pytest.raises(InvalidInput) as refused:
        app.correct_amounts_involved(
            INSPECTOR, finding_id=finding_id, amounts=[("涉及金额", 12.5, "万元")], reason="复核"
        )
    assert refused.value.field == "amounts[0].amount"
    assert "floats are refused" in refused.value.reason and "to the cent" in refused.value.reason
    assert app.head() == head
    app.correct_amounts_involved(
        INSPECTOR, finding_id=finding_id, amounts=[("涉及金额", "13.05", "万元")], reason="审计复核更正"
    )
    finding = app.finding(finding_id)
    assert [(a.label, a.amount, a.unit) for a in finding.amounts] == [("涉及金额", Decimal("13.05"), "万元")]


def test_a_round_catalogues_activity_kinds_and_a_unit_may_mark_its_finding_partly_rectified(
    app: RectifyApplication,
) -> None:
    unit_id, round_id, finding_id = audit_round(app)
    app.define_activity_kind(INSPECTOR, round_id=round_id, name="收回违规补贴", money="RECOVERED")
    assert app.round(round_id).money_role("收回违规补贴") is MoneyRole.RECOVERED
    unit = Actor("教育局", Role.UNIT, unit_id)
    app.assign_responsibility(unit, finding_id=finding_id, department="财务科", due_on="2025-12-31")
    with pytest.raises(Forbidden):
        app.define_activity_kind(unit, round_id=round_id, name="x", money="NONE")
    app.mark_partly_rectified(unit, finding_id=finding_id, occurred_on="2025-10-01", summary="已收回 8 万元")
    finding = app.finding(finding_id)
    assert finding.partly is not None and finding.partly.summary == "已收回 8 万元"
    app.note_progress(INSPECTOR, finding_id=finding_id, progress="余款分期收回", remark="见审计报告")
    assert (app.finding(finding_id).progress_text, app.finding(finding_id).remark) == ("余款分期收回", "见审计报告")


def test_a_measure_and_an_activity_may_take_the_id_their_caller_decided(app: RectifyApplication) -> None:
    unit_id, _, finding_id = audit_round(app)
    unit = Actor("教育局", Role.UNIT, unit_id)
    app.assign_responsibility(unit, finding_id=finding_id, leader="分管副局长", due_on="2025-12-31")
    measure_id, activity_id = uuid4(), uuid4()
    assert app.plan_measure(unit, finding_id=finding_id, text="清退补贴", measure_id=measure_id).entity_id == measure_id
    recorded = app.record_activity(
        unit,
        finding_id=finding_id,
        kind="清退资金",
        occurred_on="2025-10-02",
        amount="4.5",
        unit="万元",
        activity_id=activity_id,
    )
    assert recorded.entity_id == activity_id
    assert app.finding(finding_id).activities[0].activity_id == activity_id
    with pytest.raises(InvalidInput) as refused:
        app.plan_measure(unit, finding_id=finding_id, text="again", measure_id=measure_id)
    assert refused.value.field == "measure_id"


def test_issue_token_retried_with_its_key_issues_a_fresh_secret_and_revokes_the_one_maybe_lost(
    app: RectifyApplication,
) -> None:
    key = f"token-{uuid4()}"
    first = app.issue_token(ADMIN, role="INSPECTOR", label="巡察办-李某", idempotency_key=key)
    again = app.issue_token(ADMIN, role="INSPECTOR", label="巡察办-李某", idempotency_key=key)
    third = app.issue_token(ADMIN, role="INSPECTOR", label="巡察办-李某", idempotency_key=key)
    assert (first.replayed, again.replayed, third.replayed) == (False, True, True)
    assert None not in (first.secret, again.secret, third.secret)
    assert len({first.secret, again.secret, third.secret}) == 3
    assert app.authenticate(first.secret) is None and app.authenticate(again.secret) is None
    holder = app.authenticate(third.secret)
    assert holder is not None and holder.role is Role.INSPECTOR
    assert app.repository.get(first.entity_id).replaced_by == again.entity_id
    with pytest.raises(InvalidInput, match="idempotency_key"):
        app.issue_token(ADMIN, role="ADMIN", label="巡察办-李某", idempotency_key=key)
    app.revoke_token(ADMIN, token_id=third.entity_id, reason="离岗")
    with pytest.raises(IllegalTransition, match="revoked"):
        app.issue_token(ADMIN, role="INSPECTOR", label="巡察办-李某", idempotency_key=key)


def test_a_round_opened_by_version_1_is_read_as_a_one_team_inspection(app: RectifyApplication) -> None:
    """What version 1 stored: a single team, no title, no kind."""
    round_id = uuid4()
    unit_id = app.register_unit(ADMIN, name="松园社区党委").entity_id
    v1_state = {
        "timestamp": {"_type_": "datetime_iso", "_data_": "2025-03-26T02:00:00+00:00"},
        "actor": "inspector:巡察办",
        "authority": "区委",
        "district": "罗湖区",
        "team": "第四巡察组",
        "unit_ids": [{"_type_": "uuid_hex", "_data_": unit_id.hex}],
        "stationed_from": {"_type_": "date_iso", "_data_": "2025-03-26"},
        "stationed_to": {"_type_": "date_iso", "_data_": "2025-06-13"},
        "originator_topic": "rectify.domain.round:Round",
    }
    app.recorder.insert_events(
        [
            StoredEvent(
                originator_id=round_id,
                originator_version=1,
                topic="rectify.domain.round:Round.Opened",
                state=json.dumps(v1_state).encode(),
            )
        ]
    )
    round_ = app.round(round_id)
    assert Round.Opened.class_version == 2
    assert (round_.kind, round_.title, round_.teams, round_.team_name) == (
        RoundKind.INSPECTION,
        "",
        ("第四巡察组",),
        "罗湖区第四巡察组",
    )
    app.deliver_feedback(INSPECTOR, round_id=round_id, occurred_on="2025-08-12")
    assert app.round(round_id).feedback_on is not None
