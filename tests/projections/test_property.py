"""Property: for any valid command sequence, incremental views == rebuild == as-of replay.

Random commands are sent to the real application on a real store; the ones the domain refuses
append nothing and are simply part of the randomness. The projector catches up at random points,
and each view seen then must be what an as-of replay of that position gives later.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rectify import settings as rectify_settings
from rectify.access import Actor, Role
from rectify.bootstrap import System, open_system
from rectify.domain import RectifyError, Round, Unit
from rectify.projections.progress import Scope
from scenario import SYSTEM

TODAY = date(2030, 1, 1)
KINDS = ("大扫除", "培训", "清退资金")

finding = st.integers(0, 3)
COMMANDS = st.one_of(
    st.tuples(st.just("raise"), st.integers(0, 1), st.integers(0, 1), st.booleans()),
    st.tuples(st.just("assign"), finding, st.integers(-5, 60)),
    st.tuples(st.just("extend"), finding, st.integers(1, 30)),
    st.tuples(st.just("plan"), finding),
    st.tuples(st.just("complete"), finding, st.integers(0, 2)),
    st.tuples(st.just("record"), finding, st.integers(0, 2), st.integers(-30, 0), st.integers(1, 3)),
    st.tuples(st.just("retract"), finding, st.integers(0, 3)),
    st.tuples(st.just("report"), finding),
    st.tuples(st.just("long_term"), finding),
    st.tuples(st.just("verify"), finding, st.booleans()),
    st.tuples(st.just("close"), finding),
    st.tuples(st.just("relapse"), finding, st.booleans()),
    st.tuples(st.just("reopen"), finding),
    st.tuples(st.just("narrative"), st.integers(0, 1)),
    st.tuples(st.just("contact"), st.integers(0, 1)),
    st.tuples(st.just("catch_up"), st.integers(1, 5)),
    *[st.tuples(st.just("advance"), finding)] * 10,  # weighted: most steps move a finding on
)
RAISES = st.lists(
    st.tuples(st.just("raise"), st.integers(0, 1), st.integers(0, 1), st.booleans()), min_size=1, max_size=4
)
SEQUENCES = st.tuples(RAISES, st.lists(COMMANDS, min_size=30, max_size=90)).map(lambda parts: parts[0] + parts[1])


class Driver:
    """Sends commands to the application as real actors would, keeping ids for later commands."""

    def __init__(self, system: System) -> None:
        self.system = system
        app = system.app
        self.units = [
            app.register_unit(
                SYSTEM, name=f"单位{i}", short_name=f"u{i}", address="a", phone="1", postcode="518000"
            ).entity_id
            for i in range(2)
        ]
        self.rounds = []
        for i in range(2):
            round_id = app.open_round(
                SYSTEM,
                authority="区委",
                district="罗湖区",
                team=f"第{i}巡察组",
                unit_ids=self.units[: i + 1],
                stationed_from="2025-03-01",
                stationed_to="2025-04-01",
            ).entity_id
            app.deliver_feedback(SYSTEM, round_id=round_id, occurred_on="2025-05-01", rectification_until="2025-08-01")
            app.define_category(SYSTEM, round_id=round_id, path=[1], title="方面")
            self.rounds.append(round_id)
        self.findings: list[tuple[Any, Any]] = []  # (finding id, unit id)
        self.measures: dict[Any, list[Any]] = {}
        self.activities: dict[Any, list[Any]] = {}
        self.day = date(2025, 5, 2)
        self.seen: dict[int, Any] = {}

    def run(self, command: tuple[Any, ...]) -> None:
        self.day += timedelta(days=1)
        name, *args = command
        if name == "catch_up":
            self.system.projector.batch_size = args[0]
            self.system.projector.step()
            with self.system.read.view() as view:
                self.seen[view.position] = view.ledger()
            return
        try:
            getattr(self, f"do_{name}")(*args)
        except RectifyError:
            pass  # refused: nothing appended

    def _finding(self, index: int) -> tuple[Any, Actor]:
        if not self.findings:
            raise RectifyError("no finding yet")
        finding_id, unit_id = self.findings[index % len(self.findings)]
        return finding_id, Actor("u", Role.UNIT, unit_id)

    def do_raise(self, round_index: int, unit_index: int, internal: bool) -> None:
        round_id = self.rounds[round_index]
        unit_id = self.units[unit_index if round_index else 0]
        receipt = self.system.app.raise_finding(
            SYSTEM,
            round_id=round_id,
            unit_id=unit_id,
            category=[1],
            ordinal=len(self.findings) + 1,
            heading="h",
            problem="p",
            amounts=[("问题资金", "10.00", "万元")],
            disclosure="INTERNAL" if internal else "PUBLIC",
            withholding_reason="在办案件" if internal else "",
        )
        self.findings.append((receipt.entity_id, unit_id))

    def do_assign(self, index: int, offset: int) -> None:
        finding_id, unit = self._finding(index)
        self.system.app.assign_responsibility(
            unit,
            finding_id=finding_id,
            department="d",
            leader="l",
            person="p",
            due_on=self.day + timedelta(days=offset),
        )

    def do_extend(self, index: int, days: int) -> None:
        finding_id, _ = self._finding(index)
        self.system.app.extend_deadline(
            SYSTEM, finding_id=finding_id, due_on=self.day + timedelta(days=60 + days), reason="r"
        )

    def do_plan(self, index: int) -> None:
        finding_id, unit = self._finding(index)
        receipt = self.system.app.plan_measure(unit, finding_id=finding_id, text="措施 {count:大扫除}")
        self.measures.setdefault(finding_id, []).append(receipt.entity_id)

    def do_complete(self, index: int, measure: int) -> None:
        finding_id, unit = self._finding(index)
        measures = self.measures.get(finding_id) or [uuid.uuid4()]
        self.system.app.complete_measure(
            unit, finding_id=finding_id, measure_id=measures[measure % len(measures)], occurred_on=self.day
        )

    def do_record(self, index: int, kind: int, offset: int, quantity: int) -> None:
        finding_id, unit = self._finding(index)
        figure = {"amount": f"{quantity}.25", "unit": "万元"} if KINDS[kind] == "清退资金" else {"count": quantity}
        receipt = self.system.app.record_activity(
            unit, finding_id=finding_id, kind=KINDS[kind], occurred_on=self.day + timedelta(days=offset), **figure
        )
        self.activities.setdefault(finding_id, []).append(receipt.entity_id)

    def do_retract(self, index: int, activity: int) -> None:
        finding_id, unit = self._finding(index)
        activities = self.activities.get(finding_id) or [uuid.uuid4()]
        self.system.app.retract_activity(
            unit, finding_id=finding_id, reason="错录", activity_id=activities[activity % len(activities)]
        )

    def do_report(self, index: int) -> None:
        finding_id, unit = self._finding(index)
        self.system.app.report_rectification(unit, finding_id=finding_id, occurred_on=self.day, summary="s")

    def do_long_term(self, index: int) -> None:
        finding_id, unit = self._finding(index)
        self.system.app.mark_long_term(unit, finding_id=finding_id, occurred_on=self.day, summary="s")

    def do_verify(self, index: int, passed: bool) -> None:
        finding_id, _ = self._finding(index)
        self.system.app.record_verification(
            SYSTEM, finding_id=finding_id, passed=passed, verified_by="v", occurred_on=self.day, comment="c"
        )

    def do_close(self, index: int) -> None:
        finding_id, _ = self._finding(index)
        self.system.app.close_finding(SYSTEM, finding_id=finding_id, occurred_on=self.day)

    def do_relapse(self, index: int, relapsed: bool) -> None:
        finding_id, _ = self._finding(index)
        self.system.app.record_relapse_check(
            SYSTEM,
            finding_id=finding_id,
            checked_by="c",
            occurred_on=self.day,
            outcome="RELAPSED" if relapsed else "HOLDING",
            comment="c",
        )

    def do_reopen(self, index: int) -> None:
        finding_id, _ = self._finding(index)
        self.system.app.reopen_finding(SYSTEM, finding_id=finding_id, occurred_on=self.day, reason="r")

    def do_advance(self, index: int) -> None:
        """The next step of the usual course, so that random runs reach deep into the lifecycle."""
        finding_id, _ = self._finding(index)
        state = self.system.app.finding(finding_id)
        open_measures = [m for m in state.measures if not m.is_completed]
        step = {
            "RAISED": lambda: self.do_assign(index, 30),
            "ASSIGNED": lambda: self.do_plan(index),
            "IN_PROGRESS": (lambda: self.do_complete(index, state.measures.index(open_measures[0])))
            if open_measures
            else (lambda: self.do_record(index, 0, 0, 1) if len(state.activities) < 2 else self.do_report(index)),
            "REPORTED": lambda: self.do_verify(index, len(state.verifications) % 3 != 1),
            "LONG_TERM": lambda: self.do_verify(index, True),
            "VERIFIED": lambda: self.do_close(index),
            "CLOSED": lambda: self.do_relapse(index, len(state.relapse_checks) == 0),
        }[state.status.value]
        step()

    def do_narrative(self, round_index: int) -> None:
        self.system.app.draft_narrative(
            SYSTEM,
            round_id=self.rounds[round_index],
            unit_id=self.units[0],
            section="NEXT_STEPS",
            intro=f"第{self.day}稿",
        )

    def do_contact(self, unit_index: int) -> None:
        self.system.app.change_unit_contact(
            SYSTEM, unit_id=self.units[unit_index], address=f"地址{self.day}", phone="2", postcode="518000"
        )


@contextmanager
def fresh_sqlite_file() -> Iterator[str]:
    """A new SQLite file for one example (a function-scoped tmp_path would be shared by all of them)."""
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite:///{Path(folder) / 'p.db'}"


def check(
    commands: list[tuple[Any, ...]], fresh_store: Callable[[], AbstractContextManager[str]] = fresh_sqlite_file
) -> None:
    with fresh_store() as url:
        system = open_system(rectify_settings.load({}, database_url=url), run_projector=False, today=lambda: TODAY)
        try:
            driver = Driver(system)
            for command in commands:
                driver.run(command)
            system.projector.batch_size = 1000
            system.projector.catch_up()
            head = system.app.head()
            with system.read.view() as view:
                assert view.position == head
                incremental = (view.ledger(), view.dump())  # type: ignore[attr-defined]
                figures = [system.read.progress(Scope(round_id=r), SYSTEM) for r in driver.rounds]
            replay = system.read.district_as_of(head)
            assert replay.ledger() == incremental[0]
            assert [system.read.progress(Scope(round_id=r), SYSTEM, at=_at(head)) for r in driver.rounds] == figures
            system.projector.rebuild(batch_size=17)
            with system.read.view() as view:
                assert (view.ledger(), view.dump()) == incremental  # type: ignore[attr-defined]
            for position, ledger in driver.seen.items():
                past = system.read.district_as_of(position)
                assert past.ledger() == ledger, position
                # the district's two ways of getting there agree, whichever one it chose
                with system.store.snapshot() as stored:
                    refolded = system.read._refold_changed(stored, stored.changed_after(position), position)
                replayed = system.read._replay(position)
                assert refolded.ledger() == replayed.ledger() == ledger, position
                for kind in (Round, Unit):
                    assert [vars(a) for a in refolded.aggregates(kind)] == [vars(a) for a in replayed.aggregates(kind)]
                for round_id in driver.rounds:
                    one_round = system.read.rounds_as_of((round_id,), position)
                    assert one_round.ledger() == [r for r in ledger if r.round_id == round_id], position
                    # as a request reads a position the views have passed: the views, kept rows, refolded findings
                    recent = system.read._round(round_id, position)
                    assert recent.ledger() == one_round.ledger(), position
                    for kind in (Round, Unit):
                        assert [vars(a) for a in recent.aggregates(kind)] == [
                            vars(a) for a in one_round.aggregates(kind)
                        ], position
        finally:
            system.close()


def _at(position: int) -> Any:
    from rectify.projections.views import At

    return At(position=position)


# Each example builds a store and replays it several ways, so these tests try a fraction of the profile's examples
# (tests/conftest.py): 10 on SQLite and 4 on PostgreSQL by default, 25 and 10 under the `thorough` profile.
SQLITE_EXAMPLES = settings.default.max_examples // 10
POSTGRES_EXAMPLES = settings.default.max_examples // 25
PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings(PROPERTY, max_examples=SQLITE_EXAMPLES)
@given(SEQUENCES)
def test_incremental_rebuild_and_as_of_agree_on_sqlite(commands: list[tuple[Any, ...]]) -> None:
    check(commands)


@pytest.mark.postgres
@settings(PROPERTY, max_examples=POSTGRES_EXAMPLES)
@given(SEQUENCES)
def test_incremental_rebuild_and_as_of_agree_on_postgres(
    postgres_schemas: Callable[[], AbstractContextManager[str]], commands: list[tuple[Any, ...]]
) -> None:
    check(commands, postgres_schemas)
