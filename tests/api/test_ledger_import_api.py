"""A whole 台账 over GraphQL: the generated ledger imported with importLedger by the inspection office's token, on
each store. The office keeps the consolidated 台账 (汇总台账), so its import records the units' reported steps too,
as the office (access.LEDGER_IMPORT_COMMANDS); its token alone still may not give those commands one by one.
The import commits through the unit of work's batches, so both stores take the full 700 findings. The generated
sheet is written, read and edited once for the module; the dry run takes a small sheet of its own round."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from api_harness import World, open_world
from api_uploads import IMPORT, answer, upload

from ledger_edits import GeneratedLedger, generate_ledger, statuses_and_money
from rectify import settings
from rectify.access import Actor, Role
from rectify.bootstrap import open_system
from rectify.examples import ledger_sheet

FINDINGS = 700
#: The dry run's sheet: its findings and units.
SMALL, SMALL_UNITS = 12, 2
SETUP = Actor("ledger-test-setup", Role.SYSTEM)

PROGRESS = """
query($round: ID!) {
  progress(scope: {roundId: $round}) {
    position total completed longTerm inProgress notStarted partly amountInvolved amountRectified
  }
}"""

EVENTS = """
query($after: Int!) { events(after: $after, first: 100) { events { type actor businessDate } nextCursor head } }"""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'rectify.db'}", FINDINGS
        return
    with request.getfixturevalue("postgres_schemas")() as url:
        yield url, FINDINGS


@dataclass(frozen=True)
class Sheets:
    """The generated 台账 (see ledger_edits) and a small sheet for the dry run."""

    ledger: GeneratedLedger
    small: bytes


@pytest.fixture(scope="module")
def generated_ledger(tmp_path_factory: pytest.TempPathFactory) -> Sheets:
    small = ledger_sheet.ledger(SMALL, units=SMALL_UNITS)
    return Sheets(generate_ledger(tmp_path_factory.mktemp("台账"), FINDINGS), small)


def import_ledger(world: World, round_id: str, data: bytes, *, dry_run: bool = False) -> dict[str, Any]:
    variables = {"round": round_id, "dryRun": dry_run, "progress": f"台账-{time.monotonic_ns()}"}
    return answer(upload(world.http("INSPECTOR"), IMPORT, variables, {"file": ("台账.xlsx", data)}))["importLedger"]


def progress_at(world: World, round_id: str, position: int) -> dict[str, Any]:
    """The round's figures once the views have reached `position` (they follow the log on their own)."""
    deadline = time.monotonic() + 300
    while True:
        figures = world.client("INSPECTOR").data(PROGRESS, {"round": round_id})["progress"]
        if figures["position"] >= position or time.monotonic() > deadline:
            return figures
        time.sleep(0.2)


def appended_after(world: World, after: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        page = world.client("INSPECTOR").data(EVENTS, {"after": after})["events"]
        found += page["events"]
        if not page["events"] or page["nextCursor"] >= page["head"]:
            return found
        after = page["nextCursor"]


@pytest.mark.slow
def test_a_whole_generated_ledger_imports_over_graphql_as_the_office_and_again_appends_nothing_then_only_edits(
    store: tuple[str, int], generated_ledger: Sheets
) -> None:
    url, findings = store
    with open_world(url) as world:
        system = open_system(settings.load({}, database_url=url), run_projector=False)
        try:
            round_id = str(ledger_sheet.open_round(system.app, SETUP).round_id)
            small_round_id = str(ledger_sheet.open_round(system.app, SETUP, units=SMALL_UNITS, title="小台账").round_id)
        finally:
            system.close()
        path, rows = generated_ledger.ledger.path, generated_ledger.ledger.rows
        assert len(rows) == findings
        statuses, involved, rectified = statuses_and_money(rows)
        assert set(statuses) == {"未启动", "整改中", "部分整改", "已完成", "长期坚持", "已验收", "已销号"}

        # a dry run appends nothing, and counts the events the import then appends
        start = world.client("INSPECTOR").head()
        dry = import_ledger(world, small_round_id, generated_ledger.small, dry_run=True)
        assert dry["__typename"] == "LedgerImported" and dry["dryRun"], dry
        assert dry["events"] > 6 * SMALL and world.client("INSPECTOR").head() == start
        small = import_ledger(world, small_round_id, generated_ledger.small)
        assert small["__typename"] == "LedgerImported" and not small["dryRun"], small
        assert small["events"] == dry["events"] == world.client("INSPECTOR").head() - start

        start = world.client("INSPECTOR").head()
        done = import_ledger(world, round_id, path.read_bytes())
        assert done["__typename"] == "LedgerImported", done
        assert done["events"] > 6 * findings and done["events"] == world.client("INSPECTOR").head() - start
        assert (done["unchanged"], done["lines"]) == (0, findings)
        importer = "inspector:" + world.client("INSPECTOR").data("{ me { name } }")["me"]["name"]
        first_page = world.client("INSPECTOR").data(EVENTS, {"after": start})["events"]["events"]
        assert {e["actor"] for e in first_page} == {importer}  # the importer is the actor of every event
        assert "Finding.MeasurePlanned" in {e["type"] for e in first_page}  # a unit's step, recorded by the office

        # the API's figures equal the counts worked out from the sheet
        figures = progress_at(world, round_id, done["lastPosition"])
        assert figures["total"] == findings
        assert figures["completed"] == statuses["已验收"] + statuses["已销号"]
        assert figures["longTerm"] == statuses["长期坚持"]
        assert figures["partly"] == statuses["部分整改"]
        assert figures["inProgress"] == statuses["整改中"] + statuses["已完成"]
        assert figures["notStarted"] == statuses["未启动"]
        assert Decimal(figures["amountInvolved"]) == involved * 10_000  # 元, to the cent
        assert Decimal(figures["amountRectified"]) == rectified * 10_000

        # the same sheet again appends nothing
        head = world.client("INSPECTOR").head()
        again = import_ledger(world, round_id, path.read_bytes())
        assert (again["__typename"], again["events"], again["unchanged"]) == ("LedgerImported", 0, findings)
        assert world.client("INSPECTOR").head() == head

        # an edited copy with 5 changed rows appends exactly their changes, as the office, with the sheet's dates
        edited, expected = generated_ledger.ledger.edited, generated_ledger.ledger.expected
        changed = import_ledger(world, round_id, edited.read_bytes())
        assert changed["__typename"] == "LedgerImported", changed
        assert (changed["events"], changed["unchanged"]) == (sum(expected.values()), findings - 5)
        appended = appended_after(world, head)
        assert Counter(e["type"] for e in appended) == expected
        assert {e["actor"] for e in appended} == {importer}
        assert {e["businessDate"] for e in appended if e["type"] == "Finding.Closed"} == {"2026-01-20"}
