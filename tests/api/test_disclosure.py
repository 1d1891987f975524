"""An internal finding (不宜公开) never reaches the public: not through any query, filter, error or subscription."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from api_documents import everything, root_fields
from api_harness import SYSTEM, wait_until_caught_up

from evidence_files import pdf, photo
from rectify import settings
from rectify.bootstrap import open_application
from rectify.domain.values import Disclosure
from rectify.examples import songyuan

INTERNAL = next(plan for plan in songyuan.FINDINGS if plan.disclosure is Disclosure.INTERNAL)
#: What the public must never read: the internal finding's heading, problem, reason, measures and
#: the activity recorded only against it.
SECRETS = (INTERNAL.heading, INTERNAL.problem, INTERNAL.withholding_reason, *INTERNAL.measures, songyuan.REFUND)
#: Evidence the public must never see: an internal attachment of a public finding (its name and note), and a
#: "public" attachment of the internal finding (internal whatever it says).
EVIDENCE_SECRETS = ("内部佐证材料-甲.pdf", "内部说明-甲", "在办案件佐证-乙.pdf")

ROUND = everything("Round")
FINDING = everything("Finding")
PAGE = everything("FindingPage")
PROGRESS = everything("Progress")

#: Every query field, asked every way that could let an internal item through.
DOCUMENTS: dict[str, list[str]] = {
    "head": ["{ head }"],
    "viewPosition": ["{ viewPosition }"],
    "me": ["{ me { name role unitId } }"],
    "units": [
        "{ units " + everything("Unit") + " }",
        "query($position: Int!) { units(asOf: {position: $position}) " + everything("Unit") + " }",
    ],
    "rounds": [
        "{ rounds " + ROUND + " }",
        "query($position: Int!) { rounds(asOf: {position: $position}) " + ROUND + " }",
        "{ rounds { findings(filter: {disclosure: INTERNAL}) " + PAGE + " } }",
        "{ rounds { findings(filter: {status: [IN_PROGRESS], category: [2]}, first: 100) " + PAGE + " } }",
        '{ rounds { progress(until: "2025-11-12") ' + PROGRESS + " } }",
    ],
    "round": [
        "query($round: ID!) { round(id: $round) " + ROUND + " }",
        "query($round: ID!, $position: Int!) { round(id: $round, asOf: {position: $position}) " + ROUND + " }",
        "query($round: ID!, $unit: ID!) { round(id: $round) "
        "{ findings(filter: {unitId: $unit, disclosure: INTERNAL, overdue: false}) " + PAGE + " } }",
    ],
    "finding": [
        "query($internal: ID!) { finding(id: $internal) " + FINDING + " }",
        "query($internal: ID!, $position: Int!) { finding(id: $internal, asOf: {position: $position}) "
        + FINDING
        + " }",
        "query($public: ID!) { finding(id: $public) " + FINDING + " }",
    ],
    "ledger": [
        "{ ledger(first: 100) " + PAGE + " }",
        "{ ledger(filter: {disclosure: INTERNAL}) " + PAGE + " }",
        "query($unit: ID!) { ledger(filter: {unitId: $unit, status: [IN_PROGRESS]}) " + PAGE + " }",
        "query($round: ID!, $unit: ID!) { ledger(scope: {roundId: $round, unitId: $unit, category: [2]}) "
        + PAGE
        + " }",
        "{ ledger(filter: {light: GREEN}) " + PAGE + " }",
        "{ ledger(filter: {light: RED}) " + PAGE + " }",
        "query($position: Int!) { ledger(asOf: {position: $position}) " + PAGE + " }",
        '{ ledger(filter: {department: "' + INTERNAL.department + '"}) ' + PAGE + " }",
    ],
    "progress": [
        "{ progress " + PROGRESS + " }",
        "query($round: ID!) { progress(scope: {roundId: $round}) " + PROGRESS + " }",
        "query($unit: ID!) { progress(scope: {unitId: $unit, category: [2]}) " + PROGRESS + " }",
        "query($position: Int!) { progress(asOf: {position: $position}) " + PROGRESS + " }",
        'query($round: ID!) { progress(scope: {roundId: $round}, until: "2025-11-12") ' + PROGRESS + " }",
    ],
    "events": ["{ events(first: 500) " + everything("EventPage") + " }"],
    "latestEvents": ["{ latestEvents(last: 500) " + everything("EventPage") + " }"],
    "rules": [
        "{ rules " + everything("RuleStanding") + " }",
        "query($round: ID!, $position: Int!) { rules(scope: {roundId: $round}, asOf: {position: $position}, "
        'until: "2026-01-05") ' + everything("RuleStanding") + " }",
    ],
    "relapseChecks": ["{ relapseChecks(states: [DUE, OVERDUE, LATER]) " + everything("RelapseCheckDue") + " }"],
    "relapseRates": [
        "{ relapseRates(by: CATEGORY) " + everything("Rate") + " }",
        "{ relapseRates(by: ROUND) " + everything("Rate") + " }",
        "{ relapseRates(by: DEPARTMENT) " + everything("Rate") + " }",
    ],
    "repeatRates": [
        "{ repeatRates(by: UNIT) " + everything("Rate") + " }",
        "{ repeatRates(by: DISTRICT) " + everything("Rate") + " }",
    ],
    "ledgerImport": ['{ ledgerImport(progressId: "any") ' + everything("LedgerImportProgress") + " }"],
    "notice": [
        "query($publicNotice: ID!) { notice(id: $publicNotice) " + everything("NoticeText") + " }",
        "query($internalNotice: ID!) { notice(id: $internalNotice) " + everything("NoticeText") + " }",
    ],
    "proof": ["query($position: Int!) { proof(position: $position) " + everything("Proof") + " }"],
    "noticeProof": [
        "query($publicNotice: ID!) { noticeProof(id: $publicNotice) " + everything("Proof") + " }",
        "query($internalNotice: ID!) { noticeProof(id: $internalNotice) " + everything("Proof") + " }",
    ],
}


def readable(body: str) -> str:
    """A JSON text with every escape undone, so that a secret cannot hide as \\uXXXX."""
    return json.dumps(json.loads(body), ensure_ascii=False)


@pytest.fixture(scope="module")
def variables(shared_world) -> dict[str, Any]:
    public = next(i for heading, i in shared_world.finding_ids.items() if heading != INTERNAL.heading)
    inspector = shared_world.client("INSPECTOR")
    notices = {}
    for edition in ("PUBLIC", "INTERNAL"):  # published today: the public edition is within its window
        published = inspector.mutate(
            "publishNotice",
            {
                "roundId": str(shared_world.loaded.round_id),
                "unitId": str(shared_world.loaded.unit_id),
                "edition": edition,
            },
        )
        assert published["__typename"] == "NoticePublished", published
        notices[edition] = published["id"]
    evidence = attach_evidence(shared_world, public)
    return {
        **evidence,
        "round": str(shared_world.loaded.round_id),
        "unit": str(shared_world.loaded.unit_id),
        "internal": shared_world.finding_ids[INTERNAL.heading],
        "public": public,
        "position": shared_world.loaded.position,
        "publicNotice": notices["PUBLIC"],
        "internalNotice": notices["INTERNAL"],
    }


def attach_evidence(world: Any, public: str) -> dict[str, str]:
    """Evidence of every disclosure, attached through the application beside the app (the GraphQL upload comes with
    multipart requests); the views are waited for."""
    app = open_application(settings.load({}, database_url=world.database_url))
    try:
        public_finding = app.finding(public)
        target = {"target": "MEASURE", "target_ref": public_finding.measures[0].measure_id}
        internal_note = app.attach_evidence(
            SYSTEM, finding_id=public, stream=io.BytesIO(pdf(3000)), file_name=EVIDENCE_SECRETS[0],
            disclosure="INTERNAL", note=EVIDENCE_SECRETS[1], **target,
        )  # fmt: skip
        shown = app.attach_evidence(
            SYSTEM, finding_id=public, stream=io.BytesIO(photo(400, 300)), file_name="公开佐证-丙.jpg", **target
        )
        internal_finding = app.finding(world.finding_ids[INTERNAL.heading])
        of_internal = app.attach_evidence(
            SYSTEM, finding_id=internal_finding.id, stream=io.BytesIO(pdf(4000)), file_name=EVIDENCE_SECRETS[2],
            target="MEASURE", target_ref=internal_finding.measures[0].measure_id,
        )  # fmt: skip
    finally:
        app.close()
    wait_until_caught_up(lambda: world.get("/health"))
    return {
        "internalAttachment": str(internal_note.entity_id),
        "publicAttachment": str(shown.entity_id),
        "attachmentOfInternal": str(of_internal.entity_id),
    }


def answers(client: Any, variables: dict[str, Any]) -> list[str]:
    """Every document's answer, as the raw text of the response."""
    bodies = []
    for field, documents in DOCUMENTS.items():
        for document in documents:
            response = client.post(document, variables)
            assert response.status_code == 200, (field, response.text)
            answer = json.loads(response.text)
            assert field in (answer.get("data") or {}) or answer.get("errors"), (field, response.text)
            bodies.append(readable(response.text))
    return bodies


def test_every_query_field_is_asked_as_the_public() -> None:
    assert sorted(DOCUMENTS) == root_fields("query"), "add the new query field's documents to DOCUMENTS"


@pytest.mark.parametrize("role", ["PUBLIC", "OTHER_UNIT"])
def test_an_internal_findings_text_reaches_no_answer_to_the_public_or_another_unit(
    shared_world, variables, role
) -> None:
    for body in answers(shared_world.client(role), variables):
        for secret in (*SECRETS, *EVIDENCE_SECRETS):
            assert secret not in body, (secret, body[:500])
        assert variables["internal"] not in body
        assert variables["internalAttachment"] not in body and variables["attachmentOfInternal"] not in body


@pytest.mark.parametrize("role", ["PUBLIC", "OTHER_UNIT"])
def test_an_internal_attachment_cannot_be_downloaded_by_the_public_but_a_public_one_can(
    shared_world, variables, role
) -> None:
    http = shared_world.http(role)
    for hidden in ("internalAttachment", "attachmentOfInternal"):
        finding = variables["internal"] if hidden == "attachmentOfInternal" else variables["public"]
        for tail in ("", "/thumbnail"):
            answer = http.get(f"/findings/{finding}/evidence/{variables[hidden]}{tail}")
            assert answer.status_code == 404 and answer.text == "no such evidence", (hidden, tail)
    shown = http.get(f"/findings/{variables['public']}/evidence/{variables['publicAttachment']}")
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"
    assert shown.headers["content-disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%E5%85%AC%E5%BC%80" in shown.headers["content-disposition"]
    assert shown.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in shown.headers["content-security-policy"]
    assert "script-src" not in shown.headers["content-security-policy"]
    thumbnail = http.get(f"/findings/{variables['public']}/evidence/{variables['publicAttachment']}/thumbnail")
    assert thumbnail.status_code == 200 and thumbnail.content[:2] == b"\xff\xd8"  # a JPEG


@pytest.mark.parametrize("role", ["UNIT", "INSPECTOR", "ADMIN"])
def test_the_units_own_token_and_the_inspection_office_do_see_the_internal_finding(
    shared_world, variables, role
) -> None:
    everything_seen = "\n".join(answers(shared_world.client(role), variables))
    for secret in (*SECRETS, *EVIDENCE_SECRETS):
        assert secret in everything_seen, secret
    found = shared_world.client(role).data(
        "query($internal: ID!) { finding(id: $internal) { heading problem withholdingReason disclosure } }", variables
    )["finding"]
    assert found == {
        "heading": INTERNAL.heading,
        "problem": INTERNAL.problem,
        "withholdingReason": INTERNAL.withholding_reason,
        "disclosure": "INTERNAL",
    }


def test_public_progress_counts_the_internal_finding_as_undisclosed_and_nothing_more(shared_world, variables) -> None:
    question = "query($round: ID!) { progress(scope: {roundId: $round}) { total undisclosed amountInvolved } }"
    public = shared_world.client().data(question, variables)["progress"]
    inspector = shared_world.client("INSPECTOR").data(question, variables)["progress"]
    assert public["undisclosed"] == 1
    assert inspector["undisclosed"] == 0
    assert public["total"] == inspector["total"] - 1
    assert public["amountInvolved"] == "0.00"  # only the internal finding has an amount; money has two decimals
    assert shared_world.client().data("query($internal: ID!) { finding(id: $internal) { id } }", variables) == {
        "finding": None
    }


def test_a_public_progress_subscription_does_not_even_hear_of_internal_work(served_shared_world) -> None:
    """Work on an internal finding changes nothing the public sees, so nothing is pushed: not even
    the moment it happened. The next push is the next change to public figures."""
    subscription = "subscription($round: ID!) { progressChanged(roundId: $round) " + PROGRESS + " }"

    async def scenario() -> list[str]:
        async with served_shared_world.ws() as session:
            operation = await session.subscribe(subscription, {"round": str(served_shared_world.loaded.round_id)})
            before = (await session.next(operation))["progressChanged"]
            internal = await asyncio.to_thread(
                served_shared_world.client("UNIT").mutate,
                "recordActivity",
                {
                    "findingId": served_shared_world.finding_ids[INTERNAL.heading],
                    "kind": songyuan.REFUND,
                    "occurredOn": "2025-12-01",
                    "amount": "5.00",
                    "unit": "万元",
                    "description": INTERNAL.heading,
                },
            )
            assert internal["__typename"] == "Accepted", internal
            public = await asyncio.to_thread(served_shared_world.record_clean_up, None, "2025-12-02")
            after = (await session.next(operation))["progressChanged"]
            assert after["position"] == public["position"] > internal["position"]
            assert after["undisclosed"] == before["undisclosed"] == 1
            assert after["amountRectified"] == before["amountRectified"]
            return session.transcript

    transcript = asyncio.run(scenario())
    assert len(transcript) >= 2
    for message in transcript:
        for secret in SECRETS:
            assert secret not in readable(message), secret


def test_another_unit_cannot_learn_a_units_departments_by_filtering_or_scoping(shared_world, variables) -> None:
    department = songyuan.FINDINGS[0].department
    by_filter = "query($d: String!) { ledger(filter: {department: $d}) { total items { id department } } }"
    by_scope = "query($d: String!) { progress(scope: {department: $d}) { total } }"
    asked = {**variables, "d": department}
    assert shared_world.client("INSPECTOR").data(by_filter, asked)["ledger"]["total"] > 0
    assert shared_world.client("OTHER_UNIT").data(by_filter, asked)["ledger"] == {"total": 0, "items": []}
    refused = shared_world.client("OTHER_UNIT").errors(by_scope, asked)
    assert refused == ["department: a unit token sees the departments of its own unit only (scope it with unitId)"]
    for role in ("PUBLIC", "OTHER_UNIT"):
        ledger_scope = "query($d: String!) { ledger(scope: {department: $d}) { total } }"
        assert shared_world.client(role).errors(ledger_scope, asked)


def test_a_unit_filters_and_scopes_its_own_findings_by_department(shared_world, variables) -> None:
    department = songyuan.FINDINGS[0].department
    asked = {**variables, "d": department}
    unit = shared_world.client("UNIT")
    page = unit.data("query($d: String!) { ledger(filter: {department: $d}) { total items { department } } }", asked)
    assert page["ledger"]["total"] > 0
    assert {item["department"] for item in page["ledger"]["items"]} == {department}
    scoped = unit.data(
        "query($unit: ID!, $d: String!) { progress(scope: {unitId: $unit, department: $d}) { total } }", asked
    )
    assert scoped["progress"]["total"] == page["ledger"]["total"]


# -- positions: they move only on what the caller may see ------------------------------------

POSITIONS = (
    "query($round: ID!) { head viewPosition progress(scope: {roundId: $round}) { position } "
    "ledger { position } round(id: $round) { findings { position } progress { position } } }"
)
LOG = "query($after: Int!) { events(after: $after, first: 500) { head nextCursor events { position } } }"


def positions(client: Any, variables: dict[str, Any]) -> dict[str, int]:
    answer = client.data(POSITIONS, variables)
    return {
        "head": answer["head"],
        "viewPosition": answer["viewPosition"],
        "progress": answer["progress"]["position"],
        "ledger": answer["ledger"]["position"],
        "round.findings": answer["round"]["findings"]["position"],
        "round.progress": answer["round"]["progress"]["position"],
    }


def work_on_the_internal_finding(world: Any, variables: dict[str, Any], occurred_on: str) -> int:
    """The unit records an activity against its internal finding (with an idempotency key, so that
    a record only the office sees is appended with it); the position of that work."""
    recorded = world.client("UNIT").mutate(
        "recordActivity",
        {
            "findingId": variables["internal"],
            "kind": songyuan.REFUND,
            "occurredOn": occurred_on,
            "amount": "1.00",
            "unit": "万元",
            "idempotencyKey": str(uuid.uuid4()),
        },
    )
    assert (recorded["__typename"], recorded["replayed"]) == ("Accepted", False), recorded
    return int(world.client("INSPECTOR").head())


@pytest.mark.parametrize("role", ["PUBLIC", "OTHER_UNIT"])
def test_positions_shown_to_the_public_and_other_units_do_not_move_on_internal_work(
    shared_world, variables, role
) -> None:
    client = shared_world.client(role)
    public = shared_world.record_clean_up(None, "2025-12-03")["position"]  # the last thing everyone sees
    before = positions(client, variables)
    assert set(before.values()) == {public}
    internal = work_on_the_internal_finding(shared_world, variables, "2025-12-04")
    assert internal > public
    assert positions(client, variables) == before
    assert set(positions(shared_world.client("UNIT"), variables).values()) == {internal - 1}  # its own work
    assert set(positions(shared_world.client("INSPECTOR"), variables).values()) == {internal}  # and the key's record
    later = shared_world.record_clean_up(None, "2025-12-05")["position"]
    assert set(positions(client, variables).values()) == {later}


def test_another_units_log_cursor_and_head_do_not_move_on_a_units_internal_work(shared_world, variables) -> None:
    other = shared_world.client("OTHER_UNIT")
    start = shared_world.client("INSPECTOR").head()
    before = other.data(LOG, {"after": start})["events"]
    assert before["events"] == []
    work_on_the_internal_finding(shared_world, variables, "2025-12-06")
    assert other.data(LOG, {"after": start})["events"] == before
    assert other.data(LOG, {"after": before["nextCursor"]})["events"] == before


def test_a_record_time_is_shown_as_the_last_event_before_it_the_caller_may_see(shared_world, variables) -> None:
    public = shared_world.record_clean_up(None, "2025-12-07")["position"]
    work_on_the_internal_finding(shared_world, variables, "2025-12-08")
    now = datetime.now(UTC).isoformat()
    question = "query($at: DateTime!) { progress(asOf: {recordedAt: $at}) { position } }"
    for role in ("PUBLIC", "OTHER_UNIT"):
        assert shared_world.client(role).data(question, {"at": now})["progress"]["position"] == public
    assert shared_world.client("INSPECTOR").data(question, {"at": now})["progress"]["position"] > public


def test_a_public_subscription_starts_at_the_last_position_the_public_may_see(served_shared_world) -> None:
    world = served_shared_world  # subscriptions: a real server
    served = {"round": str(world.loaded.round_id), "internal": world.finding_ids[INTERNAL.heading]}
    public = world.record_clean_up(None, "2025-12-09")["position"]
    internal = work_on_the_internal_finding(world, served, "2025-12-10")
    subscription = "subscription($round: ID!) { progressChanged(roundId: $round) { position undisclosed } }"

    async def first_push(role: str) -> dict[str, Any]:
        async with world.ws(role) as session:
            operation = await session.subscribe(subscription, {"round": served["round"]})
            return (await session.next(operation))["progressChanged"]

    assert asyncio.run(first_push("PUBLIC")) == {"position": public, "undisclosed": 1}
    assert asyncio.run(first_push("INSPECTOR")) == {"position": internal, "undisclosed": 0}


# -- counts: withheld items are counted where that does not place them --------------------------


def test_withheld_findings_are_counted_for_the_district_a_round_or_a_unit_but_never_for_a_category(
    shared_world, variables
) -> None:
    internal_place = list(INTERNAL.category) + [INTERNAL.ordinal]
    asked = {**variables, "place": internal_place, "top": list(INTERNAL.category[:1])}
    counts = (
        "query($round: ID!, $unit: ID!, $place: [Int!]!, $top: [Int!]!) { "
        "district: progress { undisclosed } round: progress(scope: {roundId: $round}) { undisclosed } "
        "unit: progress(scope: {unitId: $unit}) { undisclosed } "
        "place: progress(scope: {category: $place}) { total undisclosed } "
        "top: progress(scope: {roundId: $round, category: $top}) { undisclosed } "
        "unitPlace: progress(scope: {unitId: $unit, category: $place}) { undisclosed } "
        "byRound: round(id: $round) { categoryProgress { progress { undisclosed } } "
        "unitProgress { progress { undisclosed } } } }"
    )
    for role in ("PUBLIC", "OTHER_UNIT"):
        answer = shared_world.client(role).data(counts, asked)
        assert answer["district"] == answer["round"] == answer["unit"] == {"undisclosed": 1}, role
        assert answer["place"] == {"total": 0, "undisclosed": None}, role  # the question of F5
        assert answer["top"] == answer["unitPlace"] == {"undisclosed": None}, role
        assert {c["progress"]["undisclosed"] for c in answer["byRound"]["categoryProgress"]} == {None}, role
        assert [u["progress"]["undisclosed"] for u in answer["byRound"]["unitProgress"]] == [1], role
    inspector = shared_world.client("INSPECTOR").data(counts, asked)  # sees everything: nothing withheld
    assert inspector["place"] == {"total": 1, "undisclosed": 0}
    assert inspector["top"] == inspector["unitPlace"] == {"undisclosed": 0}
    assert {c["progress"]["undisclosed"] for c in inspector["byRound"]["categoryProgress"]} == {0}
    unit = shared_world.client("UNIT").data(counts, asked)  # counts in full only within its own unit
    assert unit["unitPlace"] == {"undisclosed": 0}
    assert unit["place"] == {"total": 1, "undisclosed": None}  # other units' withheld items would be placed


def test_internal_evidence_on_a_public_finding_moves_no_position_the_public_is_shown(shared_world, variables) -> None:
    """Attaching internal evidence to a public finding is work the public must not see, even as a moment."""

    def attach(disclosure: str, data: bytes) -> int:
        app = open_application(settings.load({}, database_url=shared_world.database_url))
        try:
            finding = app.finding(variables["public"])
            return app.attach_evidence(
                SYSTEM, finding_id=finding.id, stream=io.BytesIO(data), file_name="核查.pdf", disclosure=disclosure,
                target="MEASURE", target_ref=finding.measures[-1].measure_id,
            ).position  # fmt: skip
        finally:
            app.close()

    public, office = shared_world.client(), shared_world.client("INSPECTOR")
    before = public.head()
    internal = attach("INTERNAL", pdf(5000))
    wait_until_caught_up(lambda: shared_world.get("/health"))
    assert office.head() >= internal > before
    assert public.head() == before
    assert public.data("{ viewPosition }")["viewPosition"] == before
    shown = attach("PUBLIC", pdf(6000))
    wait_until_caught_up(lambda: shared_world.get("/health"))
    assert public.head() == shown
