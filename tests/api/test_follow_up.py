"""The follow-up of rectification over GraphQL: 销号需佐证, standing rules, 回头看's interval and repeat links."""

from __future__ import annotations

from typing import Any


def test_a_round_that_requires_evidence_refuses_a_close_out_over_the_api_naming_the_rule(world: Any) -> None:
    office = world.client("INSPECTOR")
    finding = world.finding_ids["严格把关服务对象"]  # reported in the reference course
    round_id = str(world.loaded.round_id)
    accepted = office.mutate("setCloseOutEvidenceRule", {"roundId": round_id, "required": True})
    assert accepted["__typename"] == "Accepted", accepted
    verified = office.mutate(
        "recordVerification",
        {"findingId": finding, "passed": True, "verifiedBy": "区委巡察办", "occurredOn": "2026-01-10"},
    )
    assert verified["__typename"] == "Accepted", verified
    head = office.head()
    refused = office.mutate("closeFinding", {"findingId": finding, "occurredOn": "2026-01-15"})
    assert refused["__typename"] == "IllegalTransition" and "销号需佐证" in refused["message"]
    assert office.head() == head
    shown = office.data(
        "query($r: ID!) { round(id: $r) { evidenceRequiredForClose relapseCheckMonths } }", {"r": round_id}
    )["round"]
    assert shown == {"evidenceRequiredForClose": True, "relapseCheckMonths": 6}


def test_a_unit_adopts_a_rule_for_itself_that_no_other_unit_may_amend_and_all_read_by_period(world: Any) -> None:
    unit = world.client("UNIT")
    adopted = unit.mutate(
        "adoptRule",
        {
            "title": "每季度至少开展一次大扫除",
            "activityKind": "大扫除",
            "minimum": 2,
            "period": "QUARTER",
            "startsOn": "2025-10-01",
            "unitId": str(world.loaded.unit_id),
        },
    )
    assert adopted["__typename"] == "Accepted", adopted
    other = world.client("OTHER_UNIT").mutate(
        "amendRule", {"ruleId": adopted["id"], "effectiveFrom": "2026-01-01", "reason": "x", "minimum": 3}
    )
    assert other["__typename"] == "Forbidden"
    question = """query($u: ID!) { rules(scope: {unitId: $u}, until: "2026-03-12")
        { id title minimum period periods { label count minimum status } } }"""
    rules = {r["id"]: r for r in world.client().data(question, {"u": str(world.loaded.unit_id)})["rules"]}
    assert [(p["label"], p["count"], p["status"]) for p in rules[adopted["id"]]["periods"]] == [
        ("2025年第四季度", 6, "MET"),  # the reference's clean-ups of 10-09, 10-19, 10-29, 11-20, 12-10 and 12-30
        ("2026年第一季度", 3, "MET"),
    ]
    bad = world.client("INSPECTOR").mutate(
        "adoptRule",
        {"title": "t", "activityKind": "大扫除", "minimum": 0, "period": "YEAR", "startsOn": "2025-01-01",
         "roundId": str(world.loaded.round_id)},
    )  # fmt: skip
    assert bad["__typename"] == "InvalidInput" and bad["field"] == "minimum"


def test_a_repeat_link_must_name_an_earlier_rounds_finding(world: Any) -> None:
    office = world.client("INSPECTOR")
    same_round = office.mutate(
        "linkRepeat",
        {
            "findingId": world.finding_ids["强化公章使用管理"],
            "earlierFindingId": world.finding_ids["扎实开展政治理论学习"],
        },
    )
    assert same_round["__typename"] == "InvalidInput" and same_round["field"] == "earlierFindingId"
    interval = office.mutate("setRelapseCheckInterval", {"roundId": str(world.loaded.round_id), "months": 0})
    assert interval["__typename"] == "InvalidInput" and interval["field"] == "months"
