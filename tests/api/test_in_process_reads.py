"""The schema in process, over the reference scenario: the short path for plain fields gives graphql-core's
answers, and every field of an operation reads the log at one position."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
import strawberry
from api_documents import everything

from rectify import settings
from rectify.access import PUBLIC, Actor, Role
from rectify.bootstrap import System, open_system
from rectify.domain.values import Disclosure
from rectify.examples import songyuan
from rectify.graphql.context import Context, OneReadingPerOperation
from rectify.graphql.execution import PlainFieldsExecution
from rectify.graphql.mutations import Mutation
from rectify.graphql.resolvers import Query, Subscription
from rectify.projections.feed import Feed
from rectify.queries import Reading

TODAY = date(2026, 3, 12)
SYSTEM = Actor("tests", Role.SYSTEM)
INTERNAL = next(plan for plan in songyuan.FINDINGS if plan.disclosure is Disclosure.INTERNAL)


def schema(**kwargs: Any) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query, mutation=Mutation, subscription=Subscription, extensions=[OneReadingPerOperation], **kwargs
    )


BASELINE = schema()
SHORT = schema(execution_context_class=PlainFieldsExecution)


@dataclass
class Scenario:
    system: System
    loaded: songyuan.Loaded
    actors: dict[str, Actor]
    variables: dict[str, Any]

    def run(self, document: str, role: str = "INSPECTOR", on: strawberry.Schema = SHORT) -> Any:
        feed = Feed(self.system.app, self.system.store)  # not started: queries do not listen
        context = Context(self.system.app, self.system.queries, feed, actor=self.actors[role])
        return asyncio.run(on.execute(document, variable_values=self.variables, context_value=context))

    def advance(self) -> int:
        """A public clean-up recorded and projected: the views move on."""
        finding = self.loaded.finding_ids["人居环境品质有效提升"]
        unit = self.actors["UNIT"]
        self.system.app.record_activity(unit, finding_id=finding, kind="大扫除", occurred_on="2026-03-01", count=1)
        return self.system.projector.catch_up()


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    config = settings.load({}, database_url=f"sqlite:///{tmp_path_factory.mktemp('in-process') / 'rectify.db'}")
    system = open_system(config, run_projector=False, today=lambda: TODAY)
    try:
        loaded = songyuan.load(system.app, SYSTEM)
        notices = {}
        for edition in ("PUBLIC", "INTERNAL"):
            system.projector.catch_up()  # a notice is built from the views' history index
            notices[edition] = system.app.publish_notice(
                SYSTEM, round_id=loaded.round_id, unit_id=loaded.unit_id, edition=edition, published_on=TODAY
            ).entity_id
        other = system.app.register_unit(
            SYSTEM, name="其他社区党委", short_name="其他", address="地址", phone="1", postcode="518000"
        )
        system.projector.catch_up()
        actors = {
            "PUBLIC": PUBLIC,
            "UNIT": Actor("松园", Role.UNIT, loaded.unit_id),
            "OTHER_UNIT": Actor("其他", Role.UNIT, other.entity_id),
            "INSPECTOR": Actor("巡察办", Role.INSPECTOR),
        }
        variables = {
            "round": str(loaded.round_id),
            "unit": str(loaded.unit_id),
            "internal": str(loaded.finding_ids[INTERNAL.heading]),
            "position": loaded.position,
            "publicNotice": str(notices["PUBLIC"]),
            "internalNotice": str(notices["INTERNAL"]),
        }
        yield Scenario(system, loaded, actors, variables)
    finally:
        system.close()


ROUND, FINDING, PAGE, PROGRESS = (
    everything("Round"),
    everything("Finding"),
    everything("FindingPage"),
    everything("Progress"),
)
DOCUMENTS = [
    "{ head viewPosition me { name role unitId } units " + everything("Unit") + " }",
    "{ rounds " + ROUND + " }",
    "query($round: ID!, $position: Int!) { round(id: $round, asOf: {position: $position}) " + ROUND + " }",
    "query($internal: ID!) { finding(id: $internal) " + FINDING + " }",
    "{ ledger(first: 100) " + PAGE + " }",
    "query($unit: ID!) { ledger(filter: {unitId: $unit, light: GREEN}) { total items { code light } } }",
    "query($round: ID!) { progress(scope: {roundId: $round}) " + PROGRESS + " }",
    "query($round: ID!) { progress(scope: {roundId: $round, category: [2]}) " + PROGRESS + " }",
    "{ events(first: 50) " + everything("EventPage") + " }",
    "query($publicNotice: ID!, $internalNotice: ID!) { a: notice(id: $publicNotice) { verified publication "
    + everything("Publication")
    + " } b: notice(id: $internalNotice) { verified } }",
    'query($round: ID!) { round(id: $round) { findings(filter: {department: "财务室"}) { total } '
    "unitProgress { unit { name } progress { total undisclosed } } } }",
]


@pytest.mark.parametrize("role", ["PUBLIC", "OTHER_UNIT", "UNIT", "INSPECTOR"])
def test_the_short_path_gives_graphql_cores_answers_to_every_document(scenario: Scenario, role: str) -> None:
    for document in DOCUMENTS:
        short, baseline = scenario.run(document, role), scenario.run(document, role, on=BASELINE)
        assert short.data == baseline.data, document
        assert [e.formatted for e in short.errors or []] == [e.formatted for e in baseline.errors or []], document


def test_sibling_and_nested_fields_read_one_position_while_the_views_move_on(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Views that advance between the fields of one operation change nothing it answers: the round is
    read, the log and the views move on, and only then are its nested fields and the ledger read."""
    document = (
        "query($round: ID!) { progress(scope: {roundId: $round}) { position total } "
        "round(id: $round) { findings(first: 100) { position total items { id position } } progress { position } } "
        "ledger(first: 100) { position total } }"
    )
    before = scenario.run(document)
    assert not before.errors, before.errors
    read_round, read_ledger = Reading.round, Reading.ledger
    moved: list[int] = []
    advanced = threading.Event()

    def round_then_advance(self: Reading, *args: Any) -> Any:
        answer = read_round(self, *args)
        moved.append(scenario.advance())
        advanced.set()
        return answer

    def ledger_once_advanced(self: Reading, *args: Any) -> Any:
        assert advanced.wait(10)
        return read_ledger(self, *args)

    monkeypatch.setattr(Reading, "round", round_then_advance)
    monkeypatch.setattr(Reading, "ledger", ledger_once_advanced)
    during = scenario.run(document)
    monkeypatch.undo()
    after = scenario.run(document)
    assert not during.errors, during.errors
    assert moved[0] > before.data["progress"]["position"]
    assert during.data == before.data  # every field at the position the first one read
    assert after.data["ledger"]["position"] == after.data["round"]["findings"]["position"] == moved[0]
    assert after.data["ledger"]["total"] == before.data["ledger"]["total"]  # a clean-up: no new finding
