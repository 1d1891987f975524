"""A synthetic district-sized log, for benchmarks and load tests: valid lifecycles, interleaved rounds.

Findings move through their whole course (assignment, measures, activities, report, verification,
close-out, some relapse checks and extensions), many at a time, so that each round's events are
spread across the whole log as in a real district. It commands the domain aggregates directly and
saves many events per transaction: fast enough to write a million events.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from rectify.application import RectifyApplication, code_for, finding_id_for
from rectify.domain import Finding, Round, Unit
from rectify.domain.values import (
    AmountInvolved,
    Contact,
    Deadline,
    DeadlineKind,
    Disclosure,
    FindingStatus,
    RelapseOutcome,
    Responsibility,
)

ACTOR = "system:district-generator"
KINDS = ("大扫除", "培训", "消防演练", "专题会议")
START = date(2024, 3, 1)


@dataclass
class Generated:
    events: int
    units: int
    rounds: list[UUID]
    findings: int


@dataclass
class _Course:
    finding: Finding
    day: date
    steps: int = 0


def generate(
    app: RectifyApplication,
    events: int,
    *,
    findings_per_round: int = 50,
    concurrent: int = 400,
    seed: int = 7,
    save_every: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> Generated:
    """Appends about `events` events (a little more, to finish the last transaction)."""
    rng = random.Random(seed)
    written = 0
    pending: dict[UUID, Aggregate] = {}
    pending_count = 0

    def touch(aggregate: Aggregate, new_events: int = 1) -> None:
        nonlocal pending_count
        pending[aggregate.id] = aggregate
        pending_count += new_events

    def flush() -> None:
        nonlocal written, pending_count
        batch = [a for a in pending.values() if a.pending_events]
        count = sum(len(a.pending_events) for a in batch)
        if batch:
            app.save(*batch)
        written += count
        pending.clear()
        pending_count = 0
        if progress:
            progress(written)

    rounds: list[Round] = []
    round_slots: list[tuple[Round, UUID, int]] = []
    courses: list[_Course] = []
    finding_count = 0

    def new_round() -> None:
        unit = Unit.register(
            unit_id=uuid4(),
            name=f"示例社区党委{len(rounds) + 1}",
            short_name=f"社区{len(rounds) + 1}",
            contact=Contact("示例地址", "25460000", "518000"),
            actor=ACTOR,
        )
        opened = START + timedelta(days=rng.randint(0, 300))
        round_ = Round.open(
            round_id=uuid4(),
            authority="区委",
            district="罗湖区",
            teams=(f"第{len(rounds) % 9 + 1}巡察组",),
            unit_ids=(unit.id,),
            stationed_from=opened,
            stationed_to=opened + timedelta(days=60),
            actor=ACTOR,
        )
        round_.deliver_feedback(opened + timedelta(days=90), opened + timedelta(days=180), actor=ACTOR)
        for aspect in (1, 2, 3):
            round_.define_category((aspect,), f"第{aspect}方面", actor=ACTOR)
        rounds.append(round_)
        touch(unit)
        touch(round_, len(round_.pending_events))
        round_slots.extend((round_, unit.id, n) for n in range(findings_per_round, 0, -1))

    def new_course() -> None:
        nonlocal finding_count
        if not round_slots:
            new_round()
        round_, unit_id, ordinal = round_slots.pop()
        category = (ordinal % 3 + 1,)
        code = code_for(category, ordinal)
        internal = rng.random() < 0.05
        finding = Finding.raise_finding(
            finding_id=finding_id_for(round_.id, code),
            round_id=round_.id,
            unit_id=unit_id,
            code=code,
            category=category,
            ordinal=ordinal,
            heading=f"整改事项{ordinal}",
            problem="问题表现（示例）",
            amounts=(AmountInvolved("问题资金", Decimal(rng.randint(1, 9999)) / 100, "万元"),)
            if rng.random() < 0.2
            else (),
            disclosure=Disclosure.INTERNAL if internal else Disclosure.PUBLIC,
            withholding_reason="涉及在办案件" if internal else "",
            actor=ACTOR,
        )
        finding_count += 1
        assert round_.feedback_on is not None
        courses.append(_Course(finding, round_.feedback_on))
        touch(finding)

    for _ in range(concurrent):
        new_course()
    while written + pending_count < events:
        index = rng.randrange(len(courses))
        course = courses[index]
        if not _step(course, rng):
            courses[index] = courses[-1]
            courses.pop()
            new_course()
        else:
            touch(course.finding)
        if pending_count >= save_every:
            flush()
    flush()
    return Generated(written, len(rounds), [r.id for r in rounds], finding_count)


def _step(course: _Course, rng: random.Random) -> bool:
    """One more event of this finding's course; False when the course is over."""
    finding = course.finding
    course.day += timedelta(days=rng.randint(0, 3))
    course.steps += 1
    status = finding.status
    S = FindingStatus
    if status is S.RAISED:
        due = course.day + timedelta(days=rng.randint(20, 120))
        finding.assign_responsibility(
            Responsibility("党建办", "书记", "专干", Deadline(DeadlineKind.DATE, due)), actor=ACTOR
        )
    elif status in (S.ASSIGNED, S.IN_PROGRESS) and len(finding.measures) < 2:
        finding.plan_measure(uuid4(), "一项整改措施 {count:大扫除}", actor=ACTOR)
    elif status in (S.ASSIGNED, S.IN_PROGRESS, S.LONG_TERM) and course.steps < 18 and rng.random() < 0.75:
        if rng.random() < 0.1:
            finding.record_activity(
                activity_id=uuid4(),
                kind="清退资金",
                occurred_on=course.day,
                unit="万元",
                description="",
                count=None,
                amount=Decimal(rng.randint(1, 500)) / 100,
                measure_id=None,
                actor=ACTOR,
            )
        else:
            finding.record_activity(
                activity_id=uuid4(),
                kind=rng.choice(KINDS),
                occurred_on=course.day,
                unit="次",
                description="",
                count=1,
                amount=None,
                measure_id=None,
                actor=ACTOR,
            )
    elif status is S.IN_PROGRESS and (open_ := [m for m in finding.measures if not m.is_completed]):
        finding.complete_measure(open_[0].measure_id, course.day, "", actor=ACTOR)
    elif status is S.IN_PROGRESS:
        if rng.random() < 0.05:
            assert finding.responsibility is not None and finding.responsibility.deadline.due_on is not None
            finding.extend_deadline(
                Deadline(DeadlineKind.DATE, finding.responsibility.deadline.due_on + timedelta(days=30)),
                "延期（示例）",
                actor=ACTOR,
            )
        elif rng.random() < 0.1:
            finding.mark_long_term(course.day, "持续整改", actor=ACTOR)
        else:
            finding.report_rectification(course.day, "已整改", actor=ACTOR)
    elif status in (S.REPORTED, S.LONG_TERM):
        finding.record_verification(
            passed=rng.random() < 0.9, verified_by="巡察办", occurred_on=course.day, comment="", actor=ACTOR
        )
    elif status is S.VERIFIED:
        finding.close(course.day, "", actor=ACTOR)
    elif status is S.CLOSED and not finding.relapse_checks and rng.random() < 0.3:
        outcome = RelapseOutcome.RELAPSED if rng.random() < 0.1 else RelapseOutcome.HOLDING
        finding.record_relapse_check(
            outcome=outcome, checked_by="巡察办", occurred_on=course.day, comment="", actor=ACTOR
        )
    else:
        return False
    return True
