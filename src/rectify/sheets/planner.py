"""Planning a 台账 import: the commands that bring a round's record to what the sheet says.

An import is a diff. Each line of the sheet is compared with its finding as recorded (found by its
编号), and what differs becomes the ordinary lifecycle commands, in lifecycle order: raise, correct
the amounts involved, assign or extend, plan and complete measures, record rectified money, report
partial, done or long-term, verify, close, and note the free text. The same sheet again plans
nothing. Every command carries the importer as its actor and the business dates of the sheet.

The plan is a list of commands with every id decided up front (a finding's from its round and
编号, measures' and activities' drawn here), so that it can be carried out command by command or
committed as one batch. Before anything is carried out, each step is tried in memory on the
aggregates themselves, by the same domain method its command runs, and against the importer's
role: whatever would be refused is an error naming its row and column, and nothing is appended.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from rectify.access import Actor, Role, authorise
from rectify.application import RectifyApplication, finding_id_for
from rectify.domain import Finding, Round
from rectify.domain.errors import NotFound, RectifyError
from rectify.domain.figures import filled
from rectify.domain.values import AmountInvolved, Deadline, DeadlineKind, MoneyRole, Responsibility
from rectify.projections.ledger import LedgerStatus, in_wan, ledger_row
from rectify.projections.progress import Scope
from rectify.projections.views import ReadModels
from rectify.sheets.reader import MAX_ERRORS, ReadSheet, SheetError, SheetRejected, read_workbook
from rectify.sheets.template import LedgerLine, bare_measure, category_label, heading_from

L = LedgerStatus
#: How far along each status is: an import moves a finding forward only.
STAGE = {L.NOT_STARTED: 0, L.IN_PROGRESS: 1, L.PARTLY: 2, L.RECTIFIED: 3, L.LONG_TERM: 3, L.VERIFIED: 4, L.CLOSED: 5}
#: Statuses that say every measure is done: a measure not marked （已完成） is completed on 完成日期.
ALL_DONE = frozenset({L.RECTIFIED, L.VERIFIED, L.CLOSED})
RECTIFIED_KIND = "整改到位资金"
#: Reads the places of every finding of a round, internal ones included, to place new ones after them.
SYSTEM_READER = Actor("ledger-import", Role.SYSTEM)
AMOUNT_LABEL = "涉及金额"


@dataclass(frozen=True)
class Step:
    """One command of an import, and the event it appends."""

    row: int
    code: str
    column: str  # the key of the column the change comes from
    command: str  # the application method
    arguments: dict[str, Any]  # its keyword arguments, ids decided
    event: str  # the event it appends, e.g. Finding.MeasurePlanned
    says: str  # what it does, in words, for the dry run


@dataclass
class Plan:
    """What an import of a sheet into a round would append, or why it cannot be imported."""

    round_id: UUID
    actor: Actor
    sheet: ReadSheet
    steps: list[Step] = field(default_factory=list)
    errors: list[SheetError] = field(default_factory=list)

    @property
    def unchanged(self) -> int:
        """Lines of the sheet that change nothing."""
        changed = {s.row for s in self.steps}
        return sum(line.row not in changed for line in self.sheet.lines)

    def by_row(self) -> list[tuple[int, str, list[Step]]]:
        rows: dict[int, tuple[str, list[Step]]] = {}
        for step in self.steps:
            rows.setdefault(step.row, (step.code, []))[1].append(step)
        return [(row, code, steps) for row, (code, steps) in sorted(rows.items())]


class RowRefused(Exception):
    """A line of the sheet cannot be imported: the rest of its row is not planned."""

    def __init__(self, column: str | None, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


def plan(
    app: RectifyApplication,
    round_id: UUID,
    actor: Actor,
    sheet: ReadSheet,
    *,
    taken: Iterable[tuple[int, ...]] = (),
    recorded: frozenset[UUID] | None = None,
) -> Plan:
    """The plan of importing `sheet` into the round as `actor`. `taken`: the places (category path and
    ordinal) of the round's findings, so that new findings follow them. `recorded`, when known: the ids of
    every finding of the round, so that a line's finding not among them is new without asking the store.

    The plan's actor is the importer, importing a 台账 (access.LEDGER_IMPORT_COMMANDS): the inspection office's
    import records the units' reported steps of its 汇总台账 too, a unit's touches its own findings only and
    never verifies or closes. Its events carry the importer as their actor."""
    return _Planner(app, round_id, actor.importing(), sheet, taken, recorded).plan()


class _Planner:
    def __init__(
        self,
        app: RectifyApplication,
        round_id: UUID,
        actor: Actor,
        sheet: ReadSheet,
        taken: Iterable[tuple[int, ...]],
        recorded: frozenset[UUID] | None = None,
    ) -> None:
        self.app = app
        self.recorded = recorded
        self.actor = actor
        self.who = str(actor)
        self.sheet = sheet
        self.today = app.today()
        self.result = Plan(round_id, actor, sheet, errors=list(sheet.errors))
        self.round: Round | None = None
        self.taken = list(taken)

    # -- the whole sheet ----------------------------------------------------------------------

    def plan(self) -> Plan:
        """Plans every line the reader could read, so that one pass names the problems of them all."""
        try:
            self.round = self.app.round(self.result.round_id)
        except NotFound:
            self.result.errors.append(SheetError(None, None, None, f"no round {self.result.round_id}"))
            return self.result
        self.units = self._units()
        self.categories = {c.title: c.path for c in self.round.categories if len(c.path) == 1}
        self.next_ordinal = self._ordinals()
        self.catalogue = self.round.activity_kinds
        for line in self.sheet.lines:
            steps: list[Step] = []
            try:
                self._line(line, steps)
            except RowRefused as refused:
                if len(self.result.errors) < MAX_ERRORS:
                    self.result.errors.append(self.sheet.located(line.row, refused.column, refused.reason))
                continue
            self.result.steps.extend(steps)
        self.result.errors.sort(key=lambda e: e.row or 0)  # the reader's and the planner's, in sheet order
        return self.result

    def _units(self) -> dict[str, UUID | None]:
        """The round's units by name and by short name; None for a name two units share."""
        assert self.round is not None
        names: dict[str, UUID | None] = {}
        for unit_id in self.round.unit_ids:
            unit = self.app.unit(unit_id)
            for name in {unit.name, unit.short_name}:
                names[name] = unit_id if names.get(name, unit_id) == unit_id else None
        return names

    def _ordinals(self) -> dict[int, int]:
        """Per top category, the last ordinal in use: findings right under it, and its sub-categories."""
        assert self.round is not None
        used: dict[int, int] = {}
        places = [*self.taken, *(c.path for c in self.round.categories if len(c.path) == 2)]
        for place in places:
            if len(place) >= 2:
                used[place[0]] = max(used.get(place[0], 0), place[1])
        return used

    # -- one line ------------------------------------------------------------------------------

    def _line(self, line: LedgerLine, steps: list[Step]) -> None:
        assert self.round is not None
        unit_id = self._unit_of(line)
        finding_id = finding_id_for(self.round.id, line.code)
        finding = self._recorded(finding_id, line)
        step = self._stepper(line, unit_id, steps)
        if finding is None:
            finding = self._raise(line, finding_id, unit_id, step)
        else:
            self._same_finding(line, finding, unit_id)
            self._forward(line, finding)
            self._amounts(line, finding, step)
        self._responsibility(line, finding, step)
        self._measures(line, finding, step)
        self._money(line, finding, step)
        self._status(line, finding, step)
        if (finding.progress_text, finding.remark) != (line.progress, line.remark):
            step(
                "progress" if finding.progress_text != line.progress else "remark",
                "note_progress",
                {"finding_id": finding.id, "progress": line.progress, "remark": line.remark},
                "note 整改进展 and 备注",
                finding,
                lambda: finding.note_progress(line.progress, line.remark, actor=self.who),
            )

    def _stepper(self, line: LedgerLine, unit_id: UUID, steps: list[Step]) -> Callable[..., None]:
        """A function that tries one command's change in memory, as the importer, and if it holds
        records the step, with the event the change triggered."""

        def step(
            column: str,
            command: str,
            arguments: dict[str, Any],
            says: str,
            aggregate: Aggregate | Callable[[], Aggregate],
            change: Callable[[], object],
        ) -> None:
            try:
                authorise(self.actor, command, unit_id)
                change()
            except RectifyError as refused:
                raise RowRefused(column, f"{says}: {refused}") from None
            changed = aggregate if isinstance(aggregate, Aggregate) else aggregate()
            event = type(changed.pending_events[-1]).__qualname__
            steps.append(Step(line.row, line.code, column, command, arguments, event, says))

        return step

    def _unit_of(self, line: LedgerLine) -> UUID:
        assert self.round is not None
        if line.unit is not None:
            if line.unit in self.units and self.units[line.unit] is None:
                raise RowRefused("unit", f"{line.unit} names two units of this round: write the unit's full name")
            unit_id = self.units.get(line.unit)
            if unit_id is None:
                names = sorted({self.app.unit(u).short_name for u in self.round.unit_ids})
                known = "、".join(names) if len(names) <= 8 else f"{len(names)} units, e.g. {'、'.join(names[:3])}"
                raise RowRefused("unit", f"{line.unit} is not a unit of this round (its units: {known})")
        elif self.actor.role is Role.UNIT and self.actor.unit_id in self.round.unit_ids:
            unit_id = self.actor.unit_id
        elif len(self.round.unit_ids) == 1:
            unit_id = self.round.unit_ids[0]
        else:
            raise RowRefused("unit", f"the round inspects {len(self.round.unit_ids)} units: name this row's unit")
        if self.actor.role is Role.UNIT and unit_id != self.actor.unit_id:
            raise RowRefused("unit", "a unit imports its own findings only")
        return unit_id

    def _recorded(self, finding_id: UUID, line: LedgerLine) -> Finding | None:
        found: Aggregate | None = None
        if self.recorded is None or finding_id in self.recorded:
            try:
                found = self.app.repository.get(finding_id)
            except AggregateNotFoundError:
                found = None
        finding = found if isinstance(found, Finding) else None
        if finding is not None and self.actor.role is Role.UNIT and finding.unit_id != self.actor.unit_id:
            finding = None  # another unit's finding is, to a unit, as if it did not exist
        if finding is None and self.actor.role is Role.UNIT:
            raise RowRefused("code", f"{line.code} is no finding of this unit in the round; a unit raises no findings")
        return finding

    # -- the finding itself --------------------------------------------------------------------

    def _raise(self, line: LedgerLine, finding_id: UUID, unit_id: UUID, step: Callable[..., None]) -> Finding:
        assert self.round is not None
        round_ = self.round
        path = self.categories.get(line.category)
        if path is None:
            path = (max((p[0] for p in self.categories.values()), default=0) + 1,)
            new_path = path
            step(
                "category",
                "define_category",
                {"round_id": round_.id, "path": list(path), "title": line.category},
                f"define category {category_label(path[0], line.category)}",
                round_,
                lambda: round_.define_category(new_path, line.category, actor=self.who),
            )
            self.categories[line.category] = path
        ordinal = self.next_ordinal.get(path[0], 0) + 1
        self.next_ordinal[path[0]] = ordinal
        heading = line.heading or heading_from(line.problem)
        amounts = ((AMOUNT_LABEL, line.involved, "万元"),) if line.involved > 0 else ()
        arguments = {
            "round_id": round_.id,
            "unit_id": unit_id,
            "category": list(path),
            "ordinal": ordinal,
            "code": line.code,
            "heading": heading,
            "problem": line.problem,
            "amounts": [(label, str(amount), unit) for label, amount, unit in amounts],
            "disclosure": line.disclosure,
            "withholding_reason": line.withholding_reason,
        }
        made: list[Finding] = []

        def raise_it() -> None:
            round_.require_feedback()
            round_.require_unit(unit_id)
            made.append(
                Finding.raise_finding(
                    finding_id=finding_id,
                    round_id=round_.id,
                    unit_id=unit_id,
                    code=line.code,
                    category=path,
                    ordinal=ordinal,
                    heading=heading,
                    problem=line.problem,
                    amounts=tuple(AmountInvolved(label, amount, unit) for label, amount, unit in amounts),
                    disclosure=line.disclosure,
                    withholding_reason=line.withholding_reason,
                    actor=self.who,
                )
            )

        step("code", "raise_finding", arguments, f"raise {line.code}", lambda: made[0], raise_it)
        return made[0]

    def _same_finding(self, line: LedgerLine, finding: Finding, unit_id: UUID) -> None:
        """What the ledger cannot change of a recorded finding."""
        assert self.round is not None
        if finding.unit_id != unit_id:
            raise RowRefused("unit", f"{line.code} is a finding of another unit; a finding does not move")
        recorded = next((c.title for c in self.round.categories if c.path == finding.category[:1]), "")
        if recorded != line.category:
            raise RowRefused("category", f"{line.code} is recorded under {recorded}; a finding does not move")
        if line.heading and line.heading != finding.heading:
            raise RowRefused("heading", f"differs from the recorded heading {finding.heading[:30]!r}")
        if line.problem != finding.problem:
            raise RowRefused("problem", "differs from the problem as fed back; the ledger does not rewrite it")
        if (line.disclosure, line.withholding_reason) != (finding.disclosure, finding.withholding_reason):
            raise RowRefused("public", "differs from the recorded disclosure; the ledger does not change it")

    def _forward(self, line: LedgerLine, finding: Finding) -> None:
        current = ledger_row(finding, 0).ledger_status
        if STAGE[line.status] < STAGE[current]:
            raise RowRefused(
                "status", f"would move back from {current.value} to {line.status.value}; an import moves forward only"
            )

    def _amounts(self, line: LedgerLine, finding: Finding, step: Callable[..., None]) -> None:
        recorded = in_wan(ledger_row(finding, 0).amount_involved)
        if line.involved == recorded:
            return
        amounts = [(AMOUNT_LABEL, str(line.involved), "万元")] if line.involved > 0 else []
        given = tuple(AmountInvolved(label, Decimal(amount), unit) for label, amount, unit in amounts)
        reason = f"台账更正：涉及金额由 {recorded} 万元改为 {line.involved} 万元"
        step(
            "involved",
            "correct_amounts_involved",
            {"finding_id": finding.id, "amounts": amounts, "reason": reason},
            f"correct 涉及金额 to {line.involved} 万元",
            finding,
            lambda: finding.correct_amounts_involved(given, reason, actor=self.who),
        )

    # -- the unit's part -----------------------------------------------------------------------

    def _responsibility(self, line: LedgerLine, finding: Finding, step: Callable[..., None]) -> None:
        assert self.round is not None
        named = bool(line.department or line.leader or line.person)
        deadline = line.deadline
        recorded = finding.responsibility
        if not named and deadline is None:
            if recorded is not None:
                raise RowRefused("department", "is empty, but a responsibility is recorded; the ledger removes none")
            return
        if not named:
            raise RowRefused("department", "完成时限 is given but no 责任部门, 责任领导 or 责任人")
        if deadline is None:
            raise RowRefused("deadline", "is needed with a responsibility: a date, 立行立改 or 长期坚持")
        feedback_on = self.round.feedback_on
        for given in (deadline, line.original_deadline):
            if given and given.due_on is not None and feedback_on is not None and given.due_on < feedback_on:
                raise RowRefused("deadline", f"{given.due_on} is before the feedback date ({feedback_on})")
        if recorded is None and line.original_deadline not in (None, deadline):
            # a new finding whose deadline was extended: assigned as first given, then extended
            original = line.original_deadline
            assert original is not None
            first = Responsibility(line.department, line.leader, line.person, original)
            step(
                "deadline",
                "assign_responsibility",
                self._assignment(finding, line, original),
                f"assign the responsibility, due {original.due_on or original.kind.value}",
                finding,
                lambda: finding.assign_responsibility(first, actor=self.who),
            )
            recorded = finding.responsibility
        if recorded is not None and recorded.deadline != deadline:
            was = recorded.deadline
            if was.kind is DeadlineKind.DATE and deadline.kind is DeadlineKind.DATE:
                assert was.due_on is not None and deadline.due_on is not None
                if deadline.due_on < was.due_on:
                    raise RowRefused(
                        "deadline",
                        f"{deadline.due_on} is before the recorded {was.due_on}: a deadline is only extended",
                    )
                reason = f"台账更新：完成时限由 {was.due_on} 延至 {deadline.due_on}"
                step(
                    "deadline",
                    "extend_deadline",
                    {"finding_id": finding.id, "due_on": deadline.due_on, "reason": reason},
                    f"extend the deadline to {deadline.due_on}",
                    finding,
                    lambda: finding.extend_deadline(deadline, reason, actor=self.who),
                )
        wanted = Responsibility(line.department, line.leader, line.person, deadline)
        if finding.responsibility == wanted:
            return
        names = "、".join(n for n in (line.department, line.leader, line.person) if n)
        step(
            "department",
            "assign_responsibility",
            self._assignment(finding, line, deadline),
            f"assign the responsibility to {names}",
            finding,
            lambda: finding.assign_responsibility(wanted, actor=self.who),
        )

    @staticmethod
    def _assignment(finding: Finding, line: LedgerLine, deadline: Deadline) -> dict[str, Any]:
        return {
            "finding_id": finding.id,
            "department": line.department,
            "leader": line.leader,
            "person": line.person,
            "deadline_kind": deadline.kind,
            "due_on": deadline.due_on,
        }

    def _measures(self, line: LedgerLine, finding: Finding, step: Callable[..., None]) -> None:
        for n, measure in enumerate(finding.measures, start=1):
            if n > len(line.measures):
                raise RowRefused("measures", f"measure {n} ({measure.text[:20]}…) is missing: a ledger removes none")
            if not self._same_text(line.measures[n - 1].text, measure.text, finding):
                raise RowRefused(
                    "measures",
                    f"measure {n} reads differently from the recorded {measure.text[:20]!r}…: a measure is not "
                    "rewritten; add another line",
                )
        for added in line.measures[len(finding.measures) :]:
            measure_id, text = uuid4(), added.text
            step(
                "measures",
                "plan_measure",
                {"finding_id": finding.id, "text": text, "measure_id": measure_id},
                f"plan measure {len(finding.measures) + 1}: {text[:24]}",
                finding,
                lambda m=measure_id, t=text: finding.plan_measure(m, t, actor=self.who),
            )
        # 已完成, 已验收 and 已销号 say every measure is done; 长期坚持 with no measure marked says its
        # measures are the phased result, so they are completed if none is yet.
        unmarked_long_term = line.status is L.LONG_TERM and not any(m.completed for m in line.measures)
        implied = line.status in ALL_DONE or unmarked_long_term
        none_done = not any(m.is_completed for m in finding.measures)
        for n, (given, measure) in enumerate(zip(line.measures, finding.measures, strict=True), start=1):
            if measure.is_completed:
                if not given.completed and not implied:
                    raise RowRefused("measures", f"measure {n} is recorded as completed: keep its mark （已完成）")
                continue
            if not (given.completed or line.status in ALL_DONE or (unmarked_long_term and none_done)):
                continue
            on = given.completed_on or line.completed_on
            if on is None and not given.completed:
                raise RowRefused("completed_on", f"is needed for {line.status.value}: the day its measures were done")
            if on is None:
                raise RowRefused(
                    "measures",
                    f"measure {n} is completed but has no date: write （已完成 2025-10-12） or fill 完成日期",
                )
            step(
                "measures",
                "complete_measure",
                {"finding_id": finding.id, "measure_id": measure.measure_id, "occurred_on": on},
                f"complete measure {n} on {on}",
                finding,
                lambda m=measure.measure_id, d=on: finding.complete_measure(m, d, "", actor=self.who),
            )

    def _same_text(self, given: str, recorded: str, finding: Finding) -> bool:
        """A sheet line is the recorded measure when it reads the same, as typed or with its figures filled."""
        shown = filled(recorded, finding.activities)
        return given in (recorded, bare_measure(recorded), shown, bare_measure(shown))

    def _money(self, line: LedgerLine, finding: Finding, step: Callable[..., None]) -> None:
        recorded = in_wan(ledger_row(finding, 0).money(self.catalogue).rectified)
        if line.rectified == recorded:
            return
        if line.rectified < recorded:
            raise RowRefused(
                "rectified",
                f"is below the {recorded} 万元 recorded: an import takes no money back (retract it instead)",
            )
        added = line.rectified - recorded
        kind = next((k.name for k in self.catalogue if k.money is MoneyRole.RECTIFIED), RECTIFIED_KIND)
        on = line.completed_on or self.today
        activity_id = uuid4()
        description = f"台账：已整改金额 {line.rectified} 万元"
        step(
            "rectified",
            "record_activity",
            {
                "finding_id": finding.id,
                "kind": kind,
                "occurred_on": on,
                "amount": str(added),
                "unit": "万元",
                "description": description,
                "activity_id": activity_id,
            },
            f"record {kind} {added} 万元 on {on}",
            finding,
            lambda: finding.record_activity(
                activity_id=activity_id,
                kind=kind,
                occurred_on=on,
                unit="万元",
                description=description,
                count=None,
                amount=added,
                measure_id=None,
                actor=self.who,
            ),
        )

    def _status(self, line: LedgerLine, finding: Finding, step: Callable[..., None]) -> None:
        current = ledger_row(finding, 0).ledger_status
        target = line.status
        if target is current:
            return
        if STAGE[target] < STAGE[current]:
            if target is L.NOT_STARTED and current is L.IN_PROGRESS:
                raise RowRefused("status", "a finding with a responsibility and planned measures is 整改中, not 未启动")
            raise RowRefused(
                "status", f"would move back from {current.value} to {target.value}; an import moves forward"
            )
        if target is L.IN_PROGRESS:
            raise RowRefused("status", "整改中 needs a responsibility and at least one measure")
        summary = line.progress
        if not summary:
            raise RowRefused("progress", f"is needed for {target.value}: it is the summary reported with it")
        if target is L.PARTLY:
            partly_on = line.completed_on or self.today
            step(
                "status",
                "mark_partly_rectified",
                {"finding_id": finding.id, "occurred_on": partly_on, "summary": summary},
                f"mark it 部分整改 on {partly_on}",
                finding,
                lambda: finding.mark_partly_rectified(partly_on, summary, actor=self.who),
            )
            return
        day = line.completed_on
        if day is None:
            raise RowRefused("completed_on", f"is needed for {target.value}: the date it was reported")
        if target is L.LONG_TERM:
            step(
                "status",
                "mark_long_term",
                {"finding_id": finding.id, "occurred_on": day, "summary": summary},
                f"mark it 长期坚持 on {day}",
                finding,
                lambda: finding.mark_long_term(day, summary, actor=self.who),
            )
            return
        if STAGE[current] < STAGE[L.RECTIFIED] or target is L.RECTIFIED:
            step(
                "status",
                "report_rectification",
                {"finding_id": finding.id, "occurred_on": day, "summary": summary},
                f"report it rectified (已完成) on {day}",
                finding,
                lambda: finding.report_rectification(day, summary, actor=self.who),
            )
        if target in (L.VERIFIED, L.CLOSED) and STAGE[current] < STAGE[L.VERIFIED]:
            by = self.actor.name
            step(
                "status",
                "record_verification",
                {"finding_id": finding.id, "passed": True, "verified_by": by, "occurred_on": day},
                f"record the acceptance check (已验收) on {day}",
                finding,
                lambda: finding.record_verification(
                    passed=True, verified_by=by, occurred_on=day, comment="", actor=self.who
                ),
            )
        if target is L.CLOSED:
            step(
                "status",
                "close_finding",
                {"finding_id": finding.id, "occurred_on": day},
                f"close it (已销号) on {day}",
                finding,
                lambda: finding.close(day, "", actor=self.who),
            )


# -- carrying a plan out ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Imported:
    """What an import appended."""

    steps: int
    first_position: int | None
    last_position: int | None


class ImportStopped(RectifyError):
    """A command of a checked plan was refused after all (the record changed meanwhile)."""


def plan_file(
    app: RectifyApplication,
    read: ReadModels,
    path: Path | BinaryIO,
    round_id: UUID,
    actor: Actor,
    *,
    sheet_name: str | None = None,
) -> Plan:
    """Reads a workbook and plans its import into the round. The views must have caught up with the
    log: they say which places the round's findings take, for new findings to follow them."""
    sheet = read_workbook(path, today=app.today(), sheet_name=sheet_name)
    position, rows = read.ledger(Scope(round_id=round_id), SYSTEM_READER)
    # Views that hold the whole log know every finding of the round: a new one is not looked up in the
    # store (700 reads of nothing on PostgreSQL were half the planning). A finding raised meanwhile is
    # still caught: the application refuses to raise it again, and the import stops naming its row.
    recorded = frozenset(r.finding_id for r in rows) if position >= app.head() else None
    return plan(app, round_id, actor, sheet, taken=(r.place for r in rows), recorded=recorded)


def import_file(
    app: RectifyApplication,
    read: ReadModels,
    path: Path,
    round_id: UUID,
    actor: Actor,
    *,
    sheet_name: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Plan, Imported]:
    """Reads, plans and carries out the import of a workbook; a sheet with any error (SheetRejected)
    appends nothing."""
    planned = plan_file(app, read, path, round_id, actor, sheet_name=sheet_name)
    return planned, carry_out(app, planned, progress)


def carry_out(
    app: RectifyApplication, plan: Plan, progress: Callable[[int, int], None] | None = None, *, batch_size: int = 500
) -> Imported:
    """Carries out a plan in batches of commands, each batch one transaction (rectify.unit_of_work):
    every command is checked as if given alone, and a batch is appended whole or not at all."""
    if plan.errors:
        raise SheetRejected(plan.errors)
    first = last = None
    done = 0
    for start in range(0, len(plan.steps), batch_size):
        chunk = plan.steps[start : start + batch_size]

        def run(chunk: list[Step] = chunk, before: int = done) -> None:
            for step in chunk:
                try:
                    getattr(app, step.command)(plan.actor, **step.arguments)
                except RectifyError as error:
                    raise ImportStopped(
                        f"row {step.row} ({step.code}): {error}; the {before} commands before it were carried out "
                        "and nothing of its batch. The record changed while the sheet was imported: import the "
                        "same sheet again to carry out the rest"
                    ) from error

        # The findings it raises are new (the plan found none of them): the store is asked once for the batch.
        raised = [
            finding_id_for(s.arguments["round_id"], s.arguments["code"]) for s in chunk if s.command == "raise_finding"
        ]
        _, receipts = app.batch(run, creating=raised)
        positions = [r.position for r in receipts if r.position]
        if positions:
            first = min(positions) if first is None else first
            last = max(positions)
        done += len(chunk)
        if progress is not None:
            progress(done, len(plan.steps))
    return Imported(len(plan.steps), first, last)
