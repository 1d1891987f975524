"""Who may do what: every mutation of the schema × every role, as DESIGN.md's table and access.py say."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from api_documents import root_fields
from api_uploads import ATTACH, IMPORT, answer, upload
from openpyxl import load_workbook

from evidence_files import png
from rectify.access import ADMIN_COMMANDS, INSPECTOR_COMMANDS, UNIT_COMMANDS

ROLES = ("PUBLIC", "OTHER_UNIT", "UNIT", "INSPECTOR", "ADMIN")
#: Mutations that take a file, sent as multipart requests (tested below, and in test_uploads.py).
FILE_MUTATIONS = ("attachEvidence", "importLedger")
MUTATIONS = [name for name in root_fields("mutation") if name not in FILE_MUTATIONS]

INSPECTOR = frozenset({"INSPECTOR"})
UNIT = frozenset({"UNIT"})  # a unit token, for its own unit only: OTHER_UNIT acts on another unit's data
ADMIN = frozenset({"ADMIN"})

#: Who may give each mutation (DESIGN.md, "Who may do what"). The inspection office opens rounds
#: (with their feedback and category tree), raises findings, extends deadlines, verifies, closes,
#: checks relapses and reopens; the unit works its own findings, drafts its narrative and publishes
#: its notice (as the inspection office may too); an admin
#: registers units and issues and revokes tokens. A unit's contact data: the admin or the unit itself.
MAY: dict[str, frozenset[str]] = {
    "registerUnit": ADMIN,
    "changeUnitContact": ADMIN | UNIT,
    "issueToken": ADMIN,
    "revokeToken": ADMIN,
    "openRound": INSPECTOR,
    "deliverFeedback": INSPECTOR,
    "defineCategory": INSPECTOR,
    "raiseFinding": INSPECTOR,
    "extendDeadline": INSPECTOR,
    "recordVerification": INSPECTOR,
    "closeFinding": INSPECTOR,
    "recordRelapseCheck": INSPECTOR,
    "reopenFinding": INSPECTOR,
    "draftNarrative": UNIT,
    "assignResponsibility": UNIT,
    "planMeasure": UNIT,
    "completeMeasure": UNIT,
    "recordActivity": UNIT,
    "retractActivity": UNIT,
    "reportRectification": UNIT,
    "markLongTerm": UNIT,
    "markPartlyRectified": UNIT,
    "noteProgress": INSPECTOR | UNIT,
    "correctAmountsInvolved": INSPECTOR,
    "publishNotice": INSPECTOR | UNIT,
    "withdrawEvidence": INSPECTOR | UNIT,
    "setCloseOutEvidenceRule": INSPECTOR,
    "setRelapseCheckInterval": INSPECTOR,
    "linkRepeat": INSPECTOR,
    "unlinkRepeat": INSPECTOR,
    "adoptRule": INSPECTOR | UNIT,  # a unit, for itself only
    "amendRule": INSPECTOR | UNIT,
    "retireRule": INSPECTOR | UNIT,
}

Ids = dict[str, str]

#: A well-formed input for each mutation, on the reference unit's data: a refusal cannot hide behind
#: a malformed id or an unknown finding.
INPUTS: dict[str, Callable[[Ids], dict[str, Any]]] = {
    "registerUnit": lambda ids: {
        "name": "中共深圳市罗湖区桂园街道新社区委员会",
        "shortName": "新社区党委",
        "address": "地址",
        "phone": "1",
        "postcode": "518000",
    },
    "changeUnitContact": lambda ids: {
        "unitId": ids["unit"],
        "address": "宝安南路 3029 号国速荟二楼 215-216",
        "phone": "25469657",
        "postcode": "518000",
    },
    "issueToken": lambda ids: {"role": "UNIT", "label": "松园社区-新", "unitId": ids["unit"]},
    "revokeToken": lambda ids: {"tokenId": str(uuid.uuid4()), "reason": "离岗"},
    "openRound": lambda ids: {
        "authority": "区委",
        "district": "罗湖区",
        "team": "第六巡察组",
        "unitIds": [ids["unit"]],
        "stationedFrom": "2025-09-01",
        "stationedTo": "2025-10-01",
    },
    "deliverFeedback": lambda ids: {
        "roundId": ids["round"],
        "occurredOn": "2025-08-12",
        "rectificationUntil": "2025-11-12",
    },
    "defineCategory": lambda ids: {"roundId": ids["round"], "path": [4], "title": "新的问题类别"},
    "raiseFinding": lambda ids: {
        "roundId": ids["round"],
        "unitId": ids["unit"],
        "category": [1],
        "ordinal": 9,
        "heading": "新的反馈问题",
        "problem": "问题表现",
    },
    "extendDeadline": lambda ids: {"findingId": ids["finding"], "dueOn": "2026-06-30", "reason": "需延期复核"},
    "recordVerification": lambda ids: {
        "findingId": ids["finding"],
        "passed": True,
        "verifiedBy": "区委巡察办",
        "occurredOn": "2025-11-15",
    },
    "closeFinding": lambda ids: {"findingId": ids["finding"], "occurredOn": "2025-11-20"},
    "recordRelapseCheck": lambda ids: {
        "findingId": ids["finding"],
        "outcome": "HOLDING",
        "checkedBy": "区委巡察办",
        "occurredOn": "2026-01-10",
    },
    "reopenFinding": lambda ids: {"findingId": ids["finding"], "occurredOn": "2026-01-10", "reason": "复查发现问题"},
    "draftNarrative": lambda ids: {
        "roundId": ids["round"],
        "unitId": ids["unit"],
        "section": "NEXT_STEPS",
        "intro": "继续抓好整改。",
    },
    "assignResponsibility": lambda ids: {
        "findingId": ids["finding"],
        "department": "环境办",
        "leader": "社区党委书记",
        "person": "环境办负责人",
        "deadlineKind": "LONG_TERM",
    },
    "planMeasure": lambda ids: {"findingId": ids["finding"], "text": "建立常态化巡查机制。"},
    "completeMeasure": lambda ids: {
        "findingId": ids["finding"],
        "measureId": ids["measure"],
        "occurredOn": "2025-10-01",
    },
    "recordActivity": lambda ids: {
        "findingId": ids["finding"],
        "kind": "大扫除",
        "occurredOn": "2025-10-01",
        "count": 1,
    },
    "retractActivity": lambda ids: {"findingId": ids["finding"], "activityId": ids["activity"], "reason": "重复录入"},
    "reportRectification": lambda ids: {"findingId": ids["finding"], "occurredOn": "2025-11-10", "summary": "已整改"},
    "markLongTerm": lambda ids: {"findingId": ids["finding"], "occurredOn": "2025-11-10", "summary": "持续整改"},
    "markPartlyRectified": lambda ids: {"findingId": ids["finding"], "occurredOn": "2025-11-10", "summary": "部分整改"},
    "noteProgress": lambda ids: {"findingId": ids["finding"], "progress": "正在推进", "remark": "见附件"},
    "correctAmountsInvolved": lambda ids: {
        "findingId": ids["finding"],
        "amounts": [{"label": "涉及金额", "amount": "1.50", "unit": "万元"}],
        "reason": "审计复核",
    },
    "publishNotice": lambda ids: {"roundId": ids["round"], "unitId": ids["unit"], "publishedOn": "2026-03-12"},
    "withdrawEvidence": lambda ids: {"findingId": ids["finding"], "attachmentId": str(uuid.uuid4()), "reason": "传错"},
    "setCloseOutEvidenceRule": lambda ids: {"roundId": ids["round"], "required": True},
    "setRelapseCheckInterval": lambda ids: {"roundId": ids["round"], "months": 3},
    "linkRepeat": lambda ids: {"findingId": ids["finding"], "earlierFindingId": ids["other_finding"]},
    "unlinkRepeat": lambda ids: {"findingId": ids["finding"], "reason": "误关联"},
    "adoptRule": lambda ids: {
        "title": "每季度至少开展一次大扫除",
        "activityKind": "大扫除",
        "minimum": 1,
        "period": "QUARTER",
        "startsOn": "2025-09-01",
        "unitId": ids["unit"],
    },
    "amendRule": lambda ids: {"ruleId": ids["rule"], "effectiveFrom": "2026-01-01", "reason": "加密", "minimum": 2},
    "retireRule": lambda ids: {"ruleId": ids["rule"], "occurredOn": "2026-06-30", "reason": "并入物业规约"},
}


def snake(name: str) -> str:
    return re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), name)


@pytest.fixture(scope="module")
def ids(shared_world) -> Ids:
    """The reference unit, round, a public finding of it, one of its measures and one of its activities."""
    finding_id = shared_world.finding_ids["人居环境品质有效提升"]
    found = shared_world.client("INSPECTOR").data(
        "query($id: ID!) { finding(id: $id) { measures { id } history { type payload } } }", {"id": finding_id}
    )["finding"]
    activity = next(e["payload"]["activity_id"] for e in found["history"] if e["type"] == "Finding.ActivityRecorded")
    (rule,) = shared_world.client("INSPECTOR").data("{ rules { id } }")["rules"]
    return {
        "rule": rule["id"],
        "other_finding": shared_world.finding_ids["强化公章使用管理"],
        "unit": str(shared_world.loaded.unit_id),
        "round": str(shared_world.loaded.round_id),
        "finding": finding_id,
        "measure": found["measures"][0]["id"],
        "activity": activity,
    }


@pytest.fixture(scope="module")
def clients(shared_world) -> dict[str, Any]:
    return {role: shared_world.client(role) for role in ROLES}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("mutation", MUTATIONS)
def test_each_mutation_is_allowed_or_refused_for_each_role_as_the_design_says(clients, ids, mutation, role) -> None:
    if mutation not in MAY or mutation not in INPUTS:
        pytest.fail(f"{mutation} has no entry in the authorisation matrix: say who may give it, and with what input")
    before = clients["INSPECTOR"].head()
    result = clients[role].mutate(mutation, INPUTS[mutation](ids))
    # A unit asking to act on another unit's finding is told it does not exist (as for a made-up id):
    # "forbidden" would confirm that a finding, perhaps an internal one, stands behind the id.
    on_a_finding = "findingId" in INPUTS[mutation](ids) and "UNIT" in MAY[mutation]
    refusal = "NotFound" if role == "OTHER_UNIT" and on_a_finding else "Forbidden"
    if role in MAY[mutation]:
        assert result["__typename"] != "Forbidden", result
    else:
        assert result["__typename"] == refusal, result
        assert result["message"]
        assert clients["INSPECTOR"].head() == before  # a refusal appends nothing


def test_the_matrix_names_only_mutations_the_schema_has() -> None:
    assert sorted(MAY) == MUTATIONS
    assert sorted(INPUTS) == MUTATIONS
    assert sorted([*MUTATIONS, *FILE_MUTATIONS]) == root_fields("mutation")


#: attachEvidence is the attach_evidence command: the unit on its own findings, and the inspection office.
ATTACHING = INSPECTOR | UNIT


@pytest.mark.parametrize("role", ROLES)
def test_attaching_evidence_is_allowed_or_refused_for_each_role_as_the_design_says(shared_world, clients, ids, role):
    assert ("UNIT" in ATTACHING, "INSPECTOR" in ATTACHING) == (
        "attach_evidence" in UNIT_COMMANDS,
        "attach_evidence" in INSPECTOR_COMMANDS,
    )
    before = clients["INSPECTOR"].head()
    variables = {"input": {"findingId": ids["finding"], "target": "REPORT"}, "file": None}
    file = {"file": (f"{role}.png", png(size=16 + ROLES.index(role)))}
    result = answer(upload(shared_world.http(role), ATTACH, variables, file))["attachEvidence"]
    if role in ATTACHING:
        assert result["__typename"] == "Accepted", result
    else:
        assert result["__typename"] == ("NotFound" if role == "OTHER_UNIT" else "Forbidden"), result
        assert clients["INSPECTOR"].head() == before


@pytest.mark.parametrize("role", ROLES)
def test_importing_a_ledger_is_refused_to_the_public_and_to_any_role_for_a_change_it_may_not_make(world, role) -> None:
    """importLedger is no command of its own: each row's change is authorised as its command, as the importer
    importing a 台账. A unit may plan a measure of its own finding; the inspection office may too, as the keeper of
    the consolidated 台账 (汇总台账); no other role may, and the public may not import at all. Its own world: the
    finding must still be open to new measures, whatever the matrix's mutations did to the shared one."""
    office = world.http("INSPECTOR").get(f"/rounds/{world.loaded.round_id}/ledger.xlsx")
    sheet = load_workbook(io.BytesIO(office.content))
    ledger = sheet["台账"]
    header = {str(c.value): c.column for c in ledger[3] if c.value}
    row = next(
        r for r in range(4, ledger.max_row + 1) if ledger.cell(r, header["问题标题"]).value == "人居环境品质有效提升"
    )
    measures = ledger.cell(row, header["整改措施"])
    measures.value = f"{measures.value}\n{role}：新增一项整改措施"
    out = io.BytesIO()
    sheet.save(out)
    before = world.client("INSPECTOR").head()
    variables = {"round": str(world.loaded.round_id), "dryRun": False}
    files = {"file": ("台账.xlsx", out.getvalue())}
    result = answer(upload(world.http(role), IMPORT, variables, files))["importLedger"]
    if role in ("UNIT", "INSPECTOR"):
        assert result["__typename"] == "LedgerImported" and result["events"] == 1, result
        return
    expected = "Forbidden" if role == "PUBLIC" else "SheetRefused"
    assert result["__typename"] == expected, result
    assert world.client("INSPECTOR").head() == before


def test_the_matrix_agrees_with_the_access_policy_in_the_code() -> None:
    for mutation, roles in MAY.items():
        command = snake(mutation)
        assert ("UNIT" in roles) == (command in UNIT_COMMANDS), mutation
        assert ("INSPECTOR" in roles) == (command in INSPECTOR_COMMANDS), mutation
        assert ("ADMIN" in roles) == (command in ADMIN_COMMANDS), mutation
        assert "PUBLIC" not in roles and "OTHER_UNIT" not in roles


def test_a_unit_token_cannot_touch_another_units_finding_nor_tell_it_exists(shared_world, clients, ids) -> None:
    question = "query($id: ID!) { finding(id: $id) { position activityTotals { kind records } } }"
    before = clients["INSPECTOR"].data(question, {"id": ids["finding"]})["finding"]
    head = clients["INSPECTOR"].head()
    result = clients["OTHER_UNIT"].mutate("recordActivity", INPUTS["recordActivity"](ids))
    assert result["__typename"] == "NotFound" and result["kind"] == "finding"
    made_up = str(uuid.uuid4())
    nothing = clients["OTHER_UNIT"].mutate("recordActivity", {**INPUTS["recordActivity"](ids), "findingId": made_up})
    assert {k: v for k, v in result.items() if k not in ("message", "identifier")} == {
        k: v for k, v in nothing.items() if k not in ("message", "identifier")
    }
    assert clients["INSPECTOR"].head() == head
    assert clients["INSPECTOR"].data(question, {"id": ids["finding"]})["finding"] == before


def test_a_unit_token_cannot_draft_another_units_narrative(clients, ids) -> None:
    head = clients["INSPECTOR"].head()
    result = clients["OTHER_UNIT"].mutate("draftNarrative", INPUTS["draftNarrative"](ids))
    assert result["__typename"] == "Forbidden"
    assert clients["INSPECTOR"].head() == head


def test_an_unknown_bearer_token_is_refused_before_anything_runs(shared_world) -> None:
    response = shared_world.client("PUBLIC").http.post(
        "/graphql", json={"query": "{ me { role } }"}, headers={"Authorization": "Bearer rct_not-a-token"}
    )
    assert response.status_code == 401
    assert response.json() == {"errors": [{"message": "invalid or revoked token"}]}
