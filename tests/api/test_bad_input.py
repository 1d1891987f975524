"""Bad input is answered with an error that names the field, and nothing is appended; abusive documents are refused."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from rectify.settings import Limits
from rectify.web.app import WebSettings

WORKING = "规范工程项目资金管理"  # in progress, deadline 2025-11-12
LONG_TERM_DEADLINE = "加强安全隐患排查工作"  # its deadline is 长期坚持
FEEDBACK_ON = "2025-08-12"
LONG = 5000  # characters: over every text limit
Ids = dict[str, str]


def future() -> str:
    return (date.today() + timedelta(days=3)).isoformat()


def activity(ids: Ids, **changes: Any) -> dict[str, Any]:
    return {"findingId": ids["finding"], "kind": "大扫除", "occurredOn": "2025-10-01", "count": 1, **changes}


def finding(ids: Ids, **changes: Any) -> dict[str, Any]:
    return {
        "roundId": ids["round"],
        "unitId": ids["unit"],
        "category": [1],
        "ordinal": 9,
        "heading": "新的反馈问题",
        "problem": "问题表现",
        **changes,
    }


def responsibility(ids: Ids, **changes: Any) -> dict[str, Any]:
    return {
        "findingId": ids["finding"],
        "department": "财务室",
        "leader": "书记",
        "person": "会计",
        "deadlineKind": "LONG_TERM",
        **changes,
    }


def round_(ids: Ids, **changes: Any) -> dict[str, Any]:
    return {
        "authority": "区委",
        "district": "罗湖区",
        "team": "第六巡察组",
        "unitIds": [ids["unit"]],
        "stationedFrom": "2025-09-01",
        "stationedTo": "2025-10-01",
        **changes,
    }


#: (who, mutation, input, the field the answer must name)
CASES: dict[str, tuple[str, str, Callable[[Ids], dict[str, Any]], str]] = {
    # malformed ids
    "finding id": ("UNIT", "recordActivity", lambda ids: activity(ids, findingId="not-an-id"), "findingId"),
    "empty finding id": ("UNIT", "planMeasure", lambda ids: {"findingId": "", "text": "措施"}, "findingId"),
    "measure id": (
        "UNIT",
        "completeMeasure",
        lambda ids: {"findingId": ids["finding"], "measureId": "42", "occurredOn": "2025-10-01"},
        "measureId",
    ),
    "unit id in a list": ("INSPECTOR", "openRound", lambda ids: round_(ids, unitIds=["松园"]), "unitIds"),
    "round id": ("INSPECTOR", "raiseFinding", lambda ids: finding(ids, roundId="1; DROP TABLE"), "roundId"),
    "token id": ("ADMIN", "revokeToken", lambda ids: {"tokenId": "x", "reason": "离岗"}, "tokenId"),
    # wrong dates
    "not a date": ("UNIT", "recordActivity", lambda ids: activity(ids, occurredOn="2025-13-01"), "occurredOn"),
    "a date in words": ("UNIT", "recordActivity", lambda ids: activity(ids, occurredOn="yesterday"), "occurredOn"),
    "a date in the future": ("UNIT", "recordActivity", lambda ids: activity(ids, occurredOn=future()), "occurredOn"),
    "stationed in the future": (
        "INSPECTOR",
        "openRound",
        lambda ids: round_(ids, stationedFrom=future(), stationedTo=future()),
        "stationedFrom",
    ),
    "a deadline before the feedback": (
        "UNIT",
        "assignResponsibility",
        lambda ids: responsibility(ids, deadlineKind="DATE", dueOn="2025-08-01"),
        "dueOn",
    ),
    "a date deadline without its date": (
        "UNIT",
        "assignResponsibility",
        lambda ids: responsibility(ids, deadlineKind="DATE"),
        "dueOn",
    ),
    "feedback in another format": (
        "INSPECTOR",
        "deliverFeedback",
        lambda ids: {"roundId": ids["round"], "occurredOn": FEEDBACK_ON, "rectificationUntil": "31/12/2025"},
        "rectificationUntil",
    ),
    # negative and zero counts
    "a zero count": ("UNIT", "recordActivity", lambda ids: activity(ids, count=0), "count"),
    "a negative count": ("UNIT", "recordActivity", lambda ids: activity(ids, count=-3), "count"),
    "a zero ordinal": ("INSPECTOR", "raiseFinding", lambda ids: finding(ids, ordinal=0), "ordinal"),
    "a zero in a category path": (
        "INSPECTOR",
        "defineCategory",
        lambda ids: {"roundId": ids["round"], "path": [1, 0], "title": "类别"},
        "path",
    ),
    # amounts
    "an amount with three decimals": (
        "UNIT",
        "recordActivity",
        lambda ids: activity(ids, count=None, amount="1.234", unit="万元"),
        "amount",
    ),
    "a negative amount": (
        "UNIT",
        "recordActivity",
        lambda ids: activity(ids, count=None, amount="-5.00", unit="万元"),
        "amount",
    ),
    "an amount that is not a number": (
        "UNIT",
        "recordActivity",
        lambda ids: activity(ids, count=None, amount="66,57", unit="万元"),
        "amount",
    ),
    "an amount involved with three decimals": (
        "INSPECTOR",
        "raiseFinding",
        lambda ids: finding(ids, amounts=[{"label": "问题资金", "amount": "66.575", "unit": "万元"}]),
        "amounts[0].amount",
    ),
    "both a count and an amount": (
        "UNIT",
        "recordActivity",
        lambda ids: activity(ids, amount="1.00", unit="万元"),
        "count",
    ),
    # over-long and empty strings
    "an over-long heading": ("INSPECTOR", "raiseFinding", lambda ids: finding(ids, heading="问" * LONG), "heading"),
    "an over-long measure": (
        "UNIT",
        "planMeasure",
        lambda ids: {"findingId": ids["finding"], "text": "措" * LONG},
        "text",
    ),
    "an over-long activity kind": ("UNIT", "recordActivity", lambda ids: activity(ids, kind="扫" * LONG), "kind"),
    "an over-long person": (
        "UNIT",
        "assignResponsibility",
        lambda ids: responsibility(ids, person="人" * LONG),
        "person",
    ),
    "an over-long idempotency key": (
        "UNIT",
        "recordActivity",
        lambda ids: activity(ids, idempotencyKey="k" * LONG),
        "idempotencyKey",
    ),
    "an empty heading": ("INSPECTOR", "raiseFinding", lambda ids: finding(ids, heading="   "), "heading"),
    "control characters": ("UNIT", "recordActivity", lambda ids: activity(ids, kind="大扫除\x00"), "kind"),
    "a malformed figure placeholder": (
        "UNIT",
        "planMeasure",
        lambda ids: {"findingId": ids["finding"], "text": "累计开展 {count:} 次"},
        "text",
    ),
    "a withholding reason on a public finding": (
        "INSPECTOR",
        "raiseFinding",
        lambda ids: finding(ids, withholdingReason="不宜公开"),
        "withholdingReason",
    ),
    # the ledger's commands
    "a 部分整改 dated in the future": (
        "UNIT",
        "markPartlyRectified",
        lambda ids: {"findingId": ids["finding"], "occurredOn": future(), "summary": "已清退部分资金"},
        "occurredOn",
    ),
    "a 部分整改 without its summary": (
        "UNIT",
        "markPartlyRectified",
        lambda ids: {"findingId": ids["finding"], "occurredOn": "2025-10-01", "summary": "  "},
        "summary",
    ),
    "a 部分整改 of a malformed finding id": (
        "UNIT",
        "markPartlyRectified",
        lambda ids: {"findingId": "第3条", "occurredOn": "2025-10-01", "summary": "已清退部分资金"},
        "findingId",
    ),
    "an over-long 整改进展": (
        "UNIT",
        "noteProgress",
        lambda ids: {"findingId": ids["finding"], "progress": "进" * LONG},
        "progress",
    ),
    "an over-long 备注": (
        "INSPECTOR",
        "noteProgress",
        lambda ids: {"findingId": ids["finding"], "progress": "正在推进", "remark": "备" * LONG},
        "remark",
    ),
    "a corrected amount involved below zero": (
        "INSPECTOR",
        "correctAmountsInvolved",
        lambda ids: {
            "findingId": ids["finding"],
            "amounts": [{"label": "问题资金", "amount": "-1.00", "unit": "万元"}],
            "reason": "审计复核",
        },
        "amounts[0].amount",
    ),
    "a correction of the amounts involved without its reason": (
        "INSPECTOR",
        "correctAmountsInvolved",
        lambda ids: {"findingId": ids["finding"], "amounts": [], "reason": ""},
        "reason",
    ),
    "a bad postcode": (
        "ADMIN",
        "registerUnit",
        lambda ids: {"name": "新社区党委", "shortName": "新", "address": "地址", "phone": "1", "postcode": "ABC"},
        "postcode",
    ),
}


@pytest.fixture(scope="module")
def ids(shared_world) -> Ids:
    return {
        "unit": str(shared_world.loaded.unit_id),
        "round": str(shared_world.loaded.round_id),
        "finding": shared_world.finding_ids[WORKING],
        "long_term": shared_world.finding_ids[LONG_TERM_DEADLINE],
    }


@pytest.fixture(scope="module")
def clients(shared_world) -> dict[str, Any]:
    return {role: shared_world.client(role) for role in ("PUBLIC", "UNIT", "INSPECTOR", "ADMIN")}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_answered_with_the_field_at_fault_and_nothing_is_appended(clients, ids, case) -> None:
    role, mutation, build, field = CASES[case]
    before = clients["INSPECTOR"].head()
    result = clients[role].mutate(mutation, build(ids))
    assert result["__typename"] == "InvalidInput", result
    assert result["field"] == field
    assert result["message"] == f"{field}: {result['reason']}"
    assert result["reason"]
    assert clients["INSPECTOR"].head() == before


def test_a_variable_of_the_wrong_type_is_answered_with_graphqls_own_message_naming_the_field(clients, ids) -> None:
    before = clients["INSPECTOR"].head()
    document = "mutation($input: RecordActivityInput!) { recordActivity(input: $input) { __typename } }"
    errors = clients["UNIT"].errors(document, {"input": activity(ids, count="three")})
    assert len(errors) == 1
    assert "count" in errors[0] and "Int cannot represent" in errors[0], errors
    errors = clients["PUBLIC"].errors("query($d: Date) { progress(until: $d) { total } }", {"d": "2025-13-01"})
    assert "Date" in errors[0] and "2025-13-01" in errors[0], errors
    assert clients["INSPECTOR"].head() == before


def test_an_extension_that_does_not_move_the_deadline_later_names_due_on(clients, ids) -> None:
    before = clients["INSPECTOR"].head()
    result = clients["INSPECTOR"].mutate(
        "extendDeadline", {"findingId": ids["finding"], "dueOn": "2025-10-01", "reason": "延期"}
    )
    assert result["__typename"] == "InvalidInput", result
    assert clients["INSPECTOR"].head() == before
    assert result["field"] == "dueOn"


def test_a_long_term_deadline_cannot_be_extended_to_a_date_before_the_feedback(clients, ids) -> None:
    before = clients["INSPECTOR"].head()
    result = clients["INSPECTOR"].mutate(
        "extendDeadline", {"findingId": ids["long_term"], "dueOn": "2025-08-01", "reason": "改为固定时限"}
    )
    assert result["__typename"] == "InvalidInput", result
    assert result["field"] == "dueOn"
    assert clients["INSPECTOR"].head() == before


# -- queries -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ("{ ledger(first: 1000) { total } }", "first"),
        ("{ ledger(first: 0) { total } }", "first"),
        ("query($round: ID!) { round(id: $round) { findings(first: 1000) { total } } }", "first"),
        ("{ events(first: 1000) { head } }", "first"),
        ("{ events(after: -1) { head } }", "after"),
        ('{ ledger(after: "bm90IGEgY3Vyc29y") { total } }', "after"),
        ('{ finding(id: "not-an-id") { id } }', "id"),
        ('{ round(id: "42") { id } }', "id"),
        ('{ ledger(scope: {roundId: "x"}) { total } }', "scope.roundId"),
        ('{ ledger(filter: {unitId: "x"}) { total } }', "filter.unitId"),
        ('{ progress(asOf: {position: 3, recordedAt: "2025-01-01T00:00:00Z"}) { total } }', "asOf"),
    ],
)
def test_a_bad_query_argument_is_refused_with_an_error_naming_it(clients, ids, document, field) -> None:
    errors = clients["INSPECTOR"].errors(document, {"round": ids["round"]})
    assert len(errors) == 1
    assert errors[0].startswith(f"{field}: "), errors


def test_a_page_over_the_cap_is_refused_not_truncated(clients) -> None:
    assert clients["PUBLIC"].errors("{ ledger(first: 1000) { total } }") == [
        "first: a page holds 1 to 100 items, asked for 1000"
    ]
    assert clients["PUBLIC"].data("{ ledger(first: 100) { total } }")["ledger"]["total"] > 0


# -- abusive documents -------------------------------------------------------------------------


def nested(depth: int) -> str:
    return "{ units " * depth + "{ id }" + " }" * depth


def test_a_depth_bomb_is_refused_and_appends_nothing(clients, ids) -> None:
    before = clients["INSPECTOR"].head()
    depth = Limits().max_depth + 5
    errors = clients["INSPECTOR"].refused("query Bomb " + nested(depth))
    assert any("exceeds maximum operation depth" in e for e in errors), errors
    mutation = "mutation Bomb($input: RecordActivityInput!) { recordActivity(input: $input) " + nested(depth) + " }"
    errors = clients["UNIT"].refused(mutation, {"input": activity(ids)})
    assert any("exceeds maximum operation depth" in e for e in errors), errors
    assert clients["INSPECTOR"].head() == before


def test_an_alias_flood_is_refused_and_appends_nothing(clients, ids) -> None:
    before = clients["INSPECTOR"].head()
    count = Limits().max_aliases + 1
    queries = " ".join(f"a{n}: head" for n in range(count))
    assert clients["PUBLIC"].refused("{ " + queries + " }") == [f"{count} aliases found. Allowed: {count - 1}"]
    mutations = " ".join(f"a{n}: recordActivity(input: $input) {{ __typename }}" for n in range(count))
    document = "mutation($input: RecordActivityInput!) { " + mutations + " }"
    errors = clients["UNIT"].refused(document, {"input": activity(ids)})
    assert errors == [f"{count} aliases found. Allowed: {count - 1}"]
    assert clients["INSPECTOR"].head() == before


def test_a_document_of_too_many_tokens_is_refused_before_it_is_parsed(clients, ids) -> None:
    before = clients["INSPECTOR"].head()
    limit = Limits().max_tokens
    padding = " ".join(["__typename"] * limit)
    mutation = "mutation($input: RecordActivityInput!) { recordActivity(input: $input) { " + padding + " } }"
    errors = clients["UNIT"].errors(mutation, {"input": activity(ids)})
    assert errors == [f"Syntax Error: Document contains more than {limit} tokens. Parsing aborted."]
    assert clients["INSPECTOR"].head() == before


def test_a_request_body_over_the_cap_is_refused_with_413_whether_its_length_is_declared_or_not(
    clients, ids, shared_world
) -> None:
    before = clients["INSPECTOR"].head()
    limit = WebSettings().max_body_bytes
    document = "mutation($input: RecordActivityInput!) { recordActivity(input: $input) { __typename } }"
    big = activity(ids, description="说明" * limit)
    declared = clients["UNIT"].http.post("/graphql", json={"query": document, "variables": {"input": big}})
    assert declared.status_code == 413, declared.text

    def chunks() -> Any:
        body = httpx.Request("POST", "/", json={"query": document, "variables": {"input": big}}).content
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    streamed = clients["UNIT"].http.post("/graphql", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413, streamed.text
    assert clients["INSPECTOR"].head() == before
    # A body just under the cap goes through.
    assert clients["UNIT"].http.post("/graphql", json={"query": "{ head }"}).status_code == 200
