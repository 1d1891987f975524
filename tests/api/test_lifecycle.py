"""A finding's whole lifecycle driven through the API's mutations, on both stores, each write read back."""

from __future__ import annotations

from typing import Any

from rectify.access import Role

ROUND = """query($id: ID!) { round(id: $id) {
    id teamName unitIds stationedFrom stationedTo feedbackOn rectificationUntil categories { path title }
} }"""

FINDING = """query($id: ID!) { finding(id: $id) {
    id code place heading problem status disclosure position
    department leader person deadline { kind dueOn label }
    measures { id ordinal text filledText completedOn }
    activityTotals { kind unit records quantity }
    lastVerification { passed verifiedBy occurredOn comment }
    closeOut { occurredOn comment }
    relapseChecks { outcome checkedBy occurredOn comment }
    history { type actor position businessDate payload }
} }"""

ROUND_FINDINGS = "query($id: ID!) { round(id: $id) { findings { total items { id } } } }"
EVENT_AT = "query($after: Int!) { events(after: $after, first: 1) { events { position type actor businessDate } } }"


class Recorder:
    """Sends each mutation, checks it was Accepted, and that the log holds its event at that position."""

    def __init__(self, world: Any) -> None:
        self.clients = {role: world.client(role) for role in ("INSPECTOR", "UNIT")}
        self.actors = {role: actor_of(client) for role, client in self.clients.items()}
        self.reader = self.clients["INSPECTOR"]
        self.written: list[tuple[int, str, str]] = []  # position, event type, actor

    def send(self, role: str, mutation: str, input: dict[str, Any], event: str) -> dict[str, Any]:  # noqa: A002
        before = self.reader.head()
        result = self.clients[role].mutate(mutation, input)
        assert result["__typename"] == "Accepted", result
        assert result["replayed"] is False
        position = result["position"]
        assert position > before
        assert self.reader.head() == position  # the query after the mutation shows the write
        logged = self.reader.data(EVENT_AT, {"after": position - 1})["events"]["events"]
        assert [(e["position"], e["type"], e["actor"]) for e in logged] == [(position, event, self.actors[role])]
        self.written.append((position, event, self.actors[role]))
        return result


def actor_of(client: Any) -> str:
    me = client.data("{ me { name role } }")["me"]
    return f"{Role(me['role']).value.lower()}:{me['name']}"


def test_a_finding_goes_through_its_whole_lifecycle_through_the_api(world) -> None:
    steps = Recorder(world)
    read = steps.reader
    unit_id = str(world.loaded.unit_id)

    opened = steps.send(
        "INSPECTOR",
        "openRound",
        {
            "authority": "区委",
            "district": "罗湖区",
            "team": "第五巡察组",
            "unitIds": [unit_id],
            "stationedFrom": "2025-09-01",
            "stationedTo": "2025-10-15",
        },
        "Round.Opened",
    )
    round_id = opened["id"]
    stationed = read.data(ROUND, {"id": round_id})["round"]
    assert stationed["teamName"] == "罗湖区第五巡察组"
    assert stationed["unitIds"] == [unit_id]
    assert (stationed["stationedFrom"], stationed["stationedTo"], stationed["feedbackOn"]) == (
        "2025-09-01",
        "2025-10-15",
        None,
    )

    fed_back = steps.send(
        "INSPECTOR",
        "deliverFeedback",
        {"roundId": round_id, "occurredOn": "2025-10-20", "rectificationUntil": "2026-01-20"},
        "Round.FeedbackDelivered",
    )
    assert fed_back["id"] == round_id
    after_feedback = read.data(ROUND, {"id": round_id})["round"]
    assert (after_feedback["feedbackOn"], after_feedback["rectificationUntil"]) == ("2025-10-20", "2026-01-20")

    steps.send(
        "INSPECTOR",
        "defineCategory",
        {"roundId": round_id, "path": [1], "title": "关于落实全面从严治党主体责任方面"},
        "Round.CategoryDefined",
    )
    assert read.data(ROUND, {"id": round_id})["round"]["categories"] == [
        {"path": [1], "title": "关于落实全面从严治党主体责任方面"}
    ]

    raised = steps.send(
        "INSPECTOR",
        "raiseFinding",
        {
            "roundId": round_id,
            "unitId": unit_id,
            "category": [1],
            "ordinal": 1,
            "heading": "规范会议记录",
            "problem": "会议记录不完整。",
        },
        "Finding.Raised",
    )
    finding_id = raised["id"]

    def finding() -> dict[str, Any]:
        found = read.data(FINDING, {"id": finding_id})["finding"]
        assert found["position"] == steps.written[-1][0]  # its last event is the write just made
        return found

    now = finding()
    assert (now["code"], now["place"], now["heading"], now["problem"], now["status"], now["disclosure"]) == (
        "一-1",
        [1, 1],
        "规范会议记录",
        "会议记录不完整。",
        "RAISED",
        "PUBLIC",
    )
    listed = read.data(ROUND_FINDINGS, {"id": round_id})["round"]["findings"]
    assert ([f["id"] for f in listed["items"]], listed["total"]) == ([finding_id], 1)

    steps.send(
        "UNIT",
        "assignResponsibility",
        {
            "findingId": finding_id,
            "department": "党建办",
            "leader": "社区党委书记",
            "person": "党建组织员",
            "deadlineKind": "DATE",
            "dueOn": "2026-01-20",
        },
        "Finding.ResponsibilityAssigned",
    )
    now = finding()
    assert (now["status"], now["department"], now["leader"], now["person"]) == (
        "ASSIGNED",
        "党建办",
        "社区党委书记",
        "党建组织员",
    )
    assert now["deadline"] == {"kind": "DATE", "dueOn": "2026-01-20", "label": "2026-01-20"}

    planned = steps.send(
        "UNIT",
        "planMeasure",
        {"findingId": finding_id, "text": "开展会议记录培训，累计 {count:培训} 次。"},
        "Finding.MeasurePlanned",
    )
    measure_id = planned["id"]
    now = finding()
    assert [(m["id"], m["ordinal"], m["completedOn"]) for m in now["measures"]] == [(measure_id, 1, None)]
    assert now["measures"][0]["filledText"] == "开展会议记录培训，累计 0 次。"

    recorded = steps.send(
        "UNIT",
        "recordActivity",
        {"findingId": finding_id, "kind": "培训", "occurredOn": "2025-11-03", "count": 2, "measureId": measure_id},
        "Finding.ActivityRecorded",
    )
    now = finding()
    assert now["activityTotals"] == [{"kind": "培训", "unit": "次", "records": 1, "quantity": "2"}]
    assert now["measures"][0]["filledText"] == "开展会议记录培训，累计 2 次。"
    assert now["status"] == "IN_PROGRESS"  # work has started

    steps.send(
        "UNIT",
        "completeMeasure",
        {"findingId": finding_id, "measureId": measure_id, "occurredOn": "2025-11-10"},
        "Finding.MeasureCompleted",
    )
    now = finding()
    assert (now["status"], now["measures"][0]["completedOn"]) == ("IN_PROGRESS", "2025-11-10")

    steps.send(
        "UNIT",
        "reportRectification",
        {"findingId": finding_id, "occurredOn": "2025-11-20", "summary": "已完成整改"},
        "Finding.RectificationReported",
    )
    assert finding()["status"] == "REPORTED"

    steps.send(
        "INSPECTOR",
        "recordVerification",
        {
            "findingId": finding_id,
            "passed": False,
            "verifiedBy": "区委巡察办",
            "occurredOn": "2025-11-25",
            "comment": "记录仍不完整",
        },
        "Finding.VerificationRecorded",
    )
    now = finding()
    assert now["status"] == "IN_PROGRESS"
    assert now["lastVerification"] == {
        "passed": False,
        "verifiedBy": "区委巡察办",
        "occurredOn": "2025-11-25",
        "comment": "记录仍不完整",
    }

    steps.send(
        "UNIT",
        "reportRectification",
        {"findingId": finding_id, "occurredOn": "2025-12-01", "summary": "已补齐记录"},
        "Finding.RectificationReported",
    )
    assert finding()["status"] == "REPORTED"

    steps.send(
        "INSPECTOR",
        "recordVerification",
        {"findingId": finding_id, "passed": True, "verifiedBy": "区委巡察办", "occurredOn": "2025-12-05"},
        "Finding.VerificationRecorded",
    )
    now = finding()
    assert (now["status"], now["lastVerification"]["passed"]) == ("VERIFIED", True)

    steps.send(
        "INSPECTOR",
        "closeFinding",
        {"findingId": finding_id, "occurredOn": "2025-12-10", "comment": "对账销号"},
        "Finding.Closed",
    )
    now = finding()
    assert (now["status"], now["closeOut"]) == ("CLOSED", {"occurredOn": "2025-12-10", "comment": "对账销号"})

    steps.send(
        "INSPECTOR",
        "recordRelapseCheck",
        {"findingId": finding_id, "outcome": "HOLDING", "checkedBy": "区委巡察办", "occurredOn": "2026-02-10"},
        "Finding.RelapseCheckRecorded",
    )
    now = finding()
    assert now["status"] == "CLOSED"
    assert now["relapseChecks"] == [
        {"outcome": "HOLDING", "checkedBy": "区委巡察办", "occurredOn": "2026-02-10", "comment": ""}
    ]

    steps.send(
        "INSPECTOR",
        "recordRelapseCheck",
        {
            "findingId": finding_id,
            "outcome": "RELAPSED",
            "checkedBy": "区委巡察办",
            "occurredOn": "2026-03-10",
            "comment": "问题反弹",
        },
        "Finding.RelapseCheckRecorded",
    )
    now = finding()
    assert now["status"] == "IN_PROGRESS"  # a relapse reopens the finding
    assert [c["outcome"] for c in now["relapseChecks"]] == ["HOLDING", "RELAPSED"]

    # The history is every event of the finding, oldest first, each where the log holds it.
    on_finding = [w for w in steps.written if w[1].startswith("Finding.")]
    history = now["history"]
    assert [(h["position"], h["type"], h["actor"]) for h in history] == on_finding
    assert [h["businessDate"] for h in history] == [
        None,  # raised
        None,  # assigned
        None,  # planned
        "2025-11-03",
        "2025-11-10",
        "2025-11-20",
        "2025-11-25",
        "2025-12-01",
        "2025-12-05",
        "2025-12-10",
        "2026-02-10",
        "2026-03-10",
    ]
    payloads = [h["payload"] for h in history]
    assert payloads[0]["heading"] == "规范会议记录"
    assert payloads[0]["round_id"] == round_id
    assert payloads[1]["responsibility"]["department"] == "党建办"
    assert payloads[2] == {"measure_id": measure_id, "text": "开展会议记录培训，累计 {count:培训} 次。"}
    assert payloads[3]["activity_id"] == recorded["id"]
    assert (payloads[3]["kind"], payloads[3]["count"], payloads[3]["measure_id"]) == ("培训", 2, measure_id)
    assert [p.get("passed") for p in payloads[6:9:2]] == [False, True]
    assert [p.get("outcome") for p in payloads[-2:]] == ["HOLDING", "RELAPSED"]
