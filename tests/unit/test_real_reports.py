"""What real reports need of the model: rounds of every kind, partial rectification, money kept apart."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import uuid4

import pytest

from rectify.domain import Finding, IllegalTransition, InvalidInput, Round
from rectify.domain.token import AccessToken
from rectify.domain.values import (
    AmountInvolved,
    Deadline,
    DeadlineKind,
    Disclosure,
    FindingStatus,
    MoneyRole,
    Responsibility,
    Role,
    RoundKind,
)

WHO = "test:actor"
S = FindingStatus


def audit(**changes: object) -> Round:
    fields: dict[str, object] = {
        "round_id": uuid4(),
        "authority": "区审计局",
        "district": "罗湖区",
        "title": "2024年度区本级预算执行审计",
        "kind": RoundKind.AUDIT,
        "teams": ("审计一组", "审计二组"),
        "unit_ids": (uuid4(),),
        "stationed_from": None,
        "stationed_to": None,
        "actor": WHO,
        **changes,
    }
    return Round.open(**fields)  # type: ignore[arg-type]


def working_finding() -> Finding:
    finding = Finding.raise_finding(
        finding_id=uuid4(),
        round_id=uuid4(),
        unit_id=uuid4(),
        code="1",
        category=(1,),
        ordinal=1,
        heading="h",
        problem="p",
        amounts=(AmountInvolved("涉及金额", Decimal("12.50"), "万元"),),
        disclosure=Disclosure.PUBLIC,
        withholding_reason="",
        actor=WHO,
    )
    finding.assign_responsibility(
        Responsibility("财务科", "", "", Deadline(DeadlineKind.DATE, date(2025, 12, 31))), actor=WHO
    )
    return finding


def test_an_audit_has_a_title_several_teams_and_no_stationed_period() -> None:
    round_ = audit()
    assert (round_.title, round_.kind, round_.kind.label) == ("2024年度区本级预算执行审计", RoundKind.AUDIT, "审计")
    assert round_.team == "审计一组、审计二组"
    assert round_.stationed_from is None and round_.stationed_to is None
    round_.deliver_feedback(date(2025, 8, 12), None, actor=WHO)
    assert (round_.feedback_on, round_.rectification_until) == (date(2025, 8, 12), None)


def test_a_round_that_stations_a_team_needs_its_stationed_period() -> None:
    with pytest.raises(InvalidInput) as refused:
        audit(kind=RoundKind.INSPECTION)
    assert refused.value.field == "stationed_from" and "巡察" in refused.value.reason
    with pytest.raises(InvalidInput) as half:
        audit(stationed_from=date(2025, 3, 1))
    assert half.value.field == "stationed_to"
    with pytest.raises(InvalidInput, match="teams"):
        audit(teams=())
    with pytest.raises(InvalidInput, match="teams"):
        audit(teams=("审计一组", "审计一组"))


def test_the_catalogue_of_activity_kinds_says_what_counts_as_which_money_and_a_later_entry_corrects() -> None:
    round_ = audit()
    assert round_.money_role("清退资金") is MoneyRole.RECTIFIED  # the default catalogue
    assert round_.money_role("追回资金") is MoneyRole.RECOVERED
    assert round_.money_role("挽回损失") is MoneyRole.RETRIEVED
    assert round_.money_role("培训") is MoneyRole.NONE
    round_.define_activity_kind("收回违规补贴", MoneyRole.RECOVERED, actor=WHO)
    round_.define_activity_kind("清退资金", MoneyRole.RECOVERED, actor=WHO)
    assert round_.money_role("收回违规补贴") is MoneyRole.RECOVERED
    assert round_.money_role("清退资金") is MoneyRole.RECOVERED
    with pytest.raises(InvalidInput, match="already counts"):
        round_.define_activity_kind("清退资金", MoneyRole.RECOVERED, actor=WHO)
    assert [type(e).__name__ for e in round_.pending_events][-2:] == ["ActivityKindDefined", "ActivityKindDefined"]


def test_partial_rectification_is_a_flag_of_the_working_finding_until_it_is_reported() -> None:
    finding = working_finding()
    finding.plan_measure(measure_id := uuid4(), "追回违规资金", actor=WHO)
    finding.mark_partly_rectified(date(2025, 10, 1), "已追回 8 万元，余款分期追缴", actor=WHO)
    assert finding.status is S.IN_PROGRESS
    assert finding.partly is not None and finding.progress_text == "已追回 8 万元，余款分期追缴"
    finding.complete_measure(measure_id, date(2025, 11, 1), "", actor=WHO)
    finding.report_rectification(date(2025, 11, 2), "全部追回", actor=WHO)
    assert finding.partly is None and finding.status is S.REPORTED
    assert finding.progress_text == "全部追回"
    with pytest.raises(IllegalTransition):
        finding.mark_partly_rectified(date(2025, 11, 3), "x", actor=WHO)


def test_amounts_involved_are_corrected_by_an_event_and_the_same_amounts_again_are_refused() -> None:
    finding = working_finding()
    corrected = (AmountInvolved("涉及金额", Decimal("13.05"), "万元"), AmountInvolved("其中挪用", Decimal("1"), "元"))
    finding.correct_amounts_involved(corrected, "审计复核更正", actor=WHO)
    assert finding.amounts == corrected
    assert isinstance(finding.pending_events[-1], Finding.AmountsInvolvedCorrected)
    with pytest.raises(InvalidInput, match="already recorded"):
        finding.correct_amounts_involved(corrected, "again", actor=WHO)


def test_the_ledgers_free_text_is_noted_by_an_event() -> None:
    finding = working_finding()
    finding.note_progress("已召开专题会", "备注", actor=WHO)
    assert (finding.progress_text, finding.remark) == ("已召开专题会", "备注")
    with pytest.raises(InvalidInput):
        finding.note_progress("已召开专题会", "备注", actor=WHO)


def test_a_measure_id_is_used_once_per_finding() -> None:
    finding = working_finding()
    measure_id = uuid4()
    finding.plan_measure(measure_id, "一", actor=WHO)
    with pytest.raises(InvalidInput) as refused:
        finding.plan_measure(measure_id, "二", actor=WHO)
    assert refused.value.field == "measure_id"


def test_a_replaced_token_is_revoked_and_names_its_replacement() -> None:
    token = AccessToken.issue(secret_digest="d", role=Role.INSPECTOR, unit_id=None, label="l", actor=WHO)
    replacement = uuid4()
    token.replace_with(replacement, actor=WHO)
    assert token.revoked and token.replaced_by == replacement
    with pytest.raises(IllegalTransition):
        token.replace_with(uuid4(), actor=WHO)
