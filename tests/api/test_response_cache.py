"""The response cache never serves a stale answer, nor one meant for another caller."""

from __future__ import annotations

from typing import Any

from api_documents import everything
from api_harness import open_world

FINDING = "query($id: ID!) { finding(id: $id) { position status activityTotals { kind records } } }"
PROGRESS = "query($round: ID!) { progress(scope: {roundId: $round}) { position activities { kind records } } }"


def clean_ups(totals: list[dict[str, Any]]) -> int:
    return next(int(t["records"]) for t in totals if t["kind"] == "大扫除")


def test_a_query_asked_again_after_a_mutation_shows_the_change(shared_world) -> None:
    finding_id = shared_world.finding_ids["人居环境品质有效提升"]
    unit, public = shared_world.client("UNIT"), shared_world.client()
    variables = {"id": finding_id, "round": str(shared_world.loaded.round_id)}
    seen = unit.data(FINDING, variables)["finding"]
    assert unit.data(FINDING, variables)["finding"] == seen  # asked twice: the second may come from the cache
    figures = public.data(PROGRESS, variables)["progress"]
    head = unit.head()

    recorded = shared_world.record_clean_up(unit)
    assert recorded["__typename"] == "Accepted"

    now = unit.data(FINDING, variables)["finding"]
    assert now["position"] == recorded["position"]
    assert clean_ups(now["activityTotals"]) == clean_ups(seen["activityTotals"]) + 1
    later = public.data(PROGRESS, variables)["progress"]
    assert later["position"] == recorded["position"]
    assert clean_ups(later["activities"]) == clean_ups(figures["activities"]) + 1
    assert unit.head() == recorded["position"] > head


def test_answers_as_of_a_past_position_stay_the_same_after_later_writes(shared_world) -> None:
    inspector = shared_world.client("INSPECTOR")
    position = inspector.head()
    variables = {
        "at": {"position": position},
        "id": shared_world.finding_ids["人居环境品质有效提升"],
        "round": str(shared_world.loaded.round_id),
    }
    document = (
        "query($at: AsOf!, $id: ID!, $round: ID!) {"
        f" finding(id: $id, asOf: $at) {everything('Finding')}"
        f" ledger(asOf: $at, first: 100) {everything('FindingPage')}"
        f" progress(asOf: $at, scope: {{roundId: $round}}) {everything('Progress')}"
        f" round(id: $round, asOf: $at) {{ findings {{ total }} progress {{ completed total }} }}"
        f" units(asOf: $at) {{ id name }}"
        " }"
    )
    before = inspector.data(document, variables)
    assert before["finding"]["position"] <= position

    later = [shared_world.record_clean_up(occurred_on="2026-02-20")["position"] for _ in range(2)]
    assert min(later) > position
    shared_world.client("ADMIN").mutate(
        "registerUnit",
        {"name": "后来社区党委", "shortName": "后来", "address": "地址", "phone": "1", "postcode": "518000"},
    )
    assert inspector.data(document, variables) == before
    assert shared_world.client("INSPECTOR").data(document, variables) == before  # a fresh connection too
    now = inspector.data(document, {**variables, "at": {"position": inspector.head()}})
    assert now != before


def test_a_cached_answer_is_never_served_to_another_caller(shared_world) -> None:
    internal = shared_world.finding_ids["规范工程项目资金管理"]
    document = "{ ledger(first: 100) { total items { id heading department } } me { name role } }"
    unit = shared_world.client("UNIT").data(document)
    public = shared_world.client().data(document)
    other = shared_world.client("OTHER_UNIT").data(document)
    assert internal in {i["id"] for i in unit["ledger"]["items"]}
    assert internal not in {i["id"] for i in public["ledger"]["items"]}
    assert internal not in {i["id"] for i in other["ledger"]["items"]}
    assert {i["department"] for i in other["ledger"]["items"]} == {None}
    assert (public["me"]["role"], other["me"]["role"], unit["me"]["role"]) == ("PUBLIC", "UNIT", "UNIT")
    assert other["me"]["name"] != unit["me"]["name"]


def test_two_callers_of_one_role_each_get_their_own_answer(shared_world) -> None:
    issued = shared_world.client("ADMIN").mutate("issueToken", {"role": "INSPECTOR", "label": "第二位巡察员"})
    assert issued["__typename"] == "TokenIssued", issued
    first = shared_world.client("INSPECTOR")
    second = shared_world.client("PUBLIC")
    second.http.headers["Authorization"] = f"Bearer {issued['secret']}"
    document = "{ me { name role } }"
    mine = first.data(document)["me"]
    theirs = second.data(document)["me"]
    assert mine["role"] == theirs["role"] == "INSPECTOR"
    assert theirs["name"].startswith("第二位巡察员#")
    assert mine["name"] != theirs["name"]


def test_the_head_is_never_stale_even_when_no_projector_moves_the_views(tmp_path) -> None:
    """`rectify serve --no-projector` leaves the views to a worker; here there is none, so they stand still."""
    with open_world(f"sqlite:///{tmp_path / 'rectify.db'}", run_projector=False) as world:
        unit = world.client("UNIT")
        inspector = world.client("INSPECTOR")
        head = inspector.head()  # the unit's head is the last event it may see: not the tokens issued last
        log = "query($after: Int!) { events(after: $after) { head events { position type } } }"
        assert world.client().errors(log, {"after": head})  # the public may not read the log; the inspector may
        assert inspector.data(log, {"after": head})["events"] == {"head": head, "events": []}

        recorded = world.record_clean_up(unit)
        assert recorded["__typename"] == "Accepted"
        assert unit.head() == recorded["position"] > head
        through_a_fragment = "query { ...Where } fragment Where on Query { head }"
        assert unit.data(through_a_fragment) == {"head": recorded["position"]}
        recorded = world.record_clean_up(unit, occurred_on="2026-03-02")
        assert unit.data(through_a_fragment) == {"head": recorded["position"]}
        assert inspector.data(log, {"after": head})["events"] == {
            "head": recorded["position"],
            "events": [
                {"position": recorded["position"] - 1, "type": "Finding.ActivityRecorded"},
                {"position": recorded["position"], "type": "Finding.ActivityRecorded"},
            ],
        }
