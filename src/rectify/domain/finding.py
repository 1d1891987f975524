"""The Finding aggregate: one problem fed back by an inspection, and its whole rectification."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from uuid import UUID

from eventsourcing.domain import Aggregate

from rectify.domain.errors import IllegalTransition, InvalidInput, NotFound
from rectify.domain.values import (
    Activities,
    Activity,
    AmountInvolved,
    Attachment,
    CloseOut,
    Deadline,
    DeadlineKind,
    Disclosure,
    EvidenceTarget,
    Extension,
    FindingStatus,
    Measure,
    RelapseCheck,
    RelapseOutcome,
    Reopening,
    RepeatLink,
    Report,
    Responsibility,
    Verification,
    shared,
)

S = FindingStatus

#: Statuses in which the unit works on a finding (after assignment, before acceptance).
WORKING = frozenset({S.ASSIGNED, S.IN_PROGRESS, S.REPORTED, S.LONG_TERM})
#: Statuses in which measures may still be planned or completed.
PLANNING = frozenset({S.ASSIGNED, S.IN_PROGRESS, S.LONG_TERM})


class Finding(Aggregate):
    """反馈问题. Commands check the lifecycle and raise; apply methods only record."""

    class Event(Aggregate.Event):
        actor: str

    class Raised(Event, Aggregate.Created):
        round_id: UUID
        unit_id: UUID
        code: str
        category: tuple[int, ...]
        ordinal: int
        heading: str
        problem: str
        amounts: tuple[AmountInvolved, ...]
        disclosure: Disclosure
        withholding_reason: str

        def apply(self, finding: Finding) -> None:
            finding.round_id = self.round_id
            finding.unit_id = self.unit_id
            finding.code = self.code
            finding.category = tuple(self.category)
            finding.ordinal = self.ordinal
            finding.heading = self.heading
            finding.problem = self.problem
            finding.amounts = tuple(self.amounts)
            finding.disclosure = self.disclosure
            finding.withholding_reason = self.withholding_reason
            finding.status = S.RAISED
            finding.responsibility = None
            finding.original_deadline = None
            finding.extensions = ()
            finding.measures = ()
            finding.activities = Activities()
            finding.report = None
            finding.long_term = None
            finding.verifications = ()
            finding.close_outs = ()
            finding.relapse_checks = ()
            finding.reopenings = ()
            finding.partly = None
            finding.progress_text = ""
            finding.remark = ""
            finding.evidence = ()
            finding.repeat_of = None
            finding.report_count = 0
            finding.checked_since_close = False

    class AmountsInvolvedCorrected(Event):
        """The amounts involved, added or corrected: the list replaces the one before."""

        amounts: tuple[AmountInvolved, ...]
        reason: str

        def apply(self, finding: Finding) -> None:
            finding.amounts = tuple(self.amounts)

    class ProgressNoted(Event):
        """The ledger's 整改进展 and 备注 as last written."""

        progress: str
        remark: str

        def apply(self, finding: Finding) -> None:
            finding.progress_text = self.progress
            finding.remark = self.remark

    class ResponsibilityAssigned(Event):
        responsibility: Responsibility

        def apply(self, finding: Finding) -> None:
            if finding.original_deadline is None:
                finding.original_deadline = self.responsibility.deadline
            finding.responsibility = self.responsibility
            if finding.status is S.RAISED:
                finding.status = S.ASSIGNED

    class DeadlineExtended(Event):
        new_deadline: Deadline
        reason: str

        def apply(self, finding: Finding) -> None:
            previous = finding.responsibility.deadline  # type: ignore[union-attr] # an extension follows an assignment
            finding.extensions = (
                *finding.extensions,
                Extension(previous, self.new_deadline, self.reason, self.actor),
            )
            finding.responsibility = replace(finding.responsibility, deadline=self.new_deadline)  # type: ignore[type-var] # as above

    class MeasurePlanned(Event):
        measure_id: UUID
        text: str

        def apply(self, finding: Finding) -> None:
            ordinal = len(finding.measures) + 1
            finding.measures = (*finding.measures, Measure(self.measure_id, ordinal, self.text))

    class MeasureCompleted(Event):
        measure_id: UUID
        occurred_on: date
        note: str

        def apply(self, finding: Finding) -> None:
            finding.measures = tuple(
                replace(m, completed_on=self.occurred_on, completion_note=self.note)
                if m.measure_id == self.measure_id
                else m
                for m in finding.measures
            )
            finding._start_work()

    class ActivityRecorded(Event):
        """Version 2 added measure_id: version 1 activities were not linked to a measure."""

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            state["measure_id"] = None

        activity_id: UUID
        kind: str
        occurred_on: date
        unit: str
        description: str
        count: int | None
        amount: Decimal | None
        measure_id: UUID | None

        def apply(self, finding: Finding) -> None:
            activity = shared(
                Activity(
                    activity_id=self.activity_id,
                    kind=self.kind,
                    occurred_on=self.occurred_on,
                    unit=self.unit,
                    description=self.description,
                    count=self.count,
                    amount=self.amount,
                    measure_id=self.measure_id,
                )
            )
            finding.activities = finding.activities.appended(activity)
            finding._start_work()

    class ActivityRetracted(Event):
        activity_id: UUID
        reason: str

        def apply(self, finding: Finding) -> None:
            finding.activities = Activities(
                shared(replace(a, retracted=True, retraction_reason=self.reason))
                if a.activity_id == self.activity_id
                else a
                for a in finding.activities
            )

    class RectificationReported(Event):
        occurred_on: date
        summary: str

        def apply(self, finding: Finding) -> None:
            finding.report = Report(self.occurred_on, self.summary)
            finding.report_count += 1
            finding.status = S.REPORTED
            finding.partly = None
            finding.progress_text = self.summary

    class MarkedLongTerm(Event):
        occurred_on: date
        summary: str

        def apply(self, finding: Finding) -> None:
            finding.long_term = Report(self.occurred_on, self.summary)
            finding.report_count += 1
            finding.status = S.LONG_TERM
            finding.partly = None
            finding.progress_text = self.summary

    class PartlyRectified(Event):
        """部分整改: part of the rectification is done and the rest goes on; a flag of the working
        finding, with its own count in the progress figures, until it is reported or marked long-term."""

        occurred_on: date
        summary: str

        def apply(self, finding: Finding) -> None:
            finding.partly = Report(self.occurred_on, self.summary)
            finding.progress_text = self.summary
            finding._start_work()

    class VerificationRecorded(Event):
        passed: bool
        verified_by: str
        occurred_on: date
        comment: str

        def apply(self, finding: Finding) -> None:
            verification = Verification(self.passed, self.verified_by, self.occurred_on, self.comment)
            finding.verifications = (*finding.verifications, verification)
            finding.status = S.VERIFIED if self.passed else S.IN_PROGRESS

    class Closed(Event):
        occurred_on: date
        comment: str

        def apply(self, finding: Finding) -> None:
            finding.close_outs = (*finding.close_outs, CloseOut(self.occurred_on, self.comment))
            finding.status = S.CLOSED
            finding.checked_since_close = False

    class RelapseCheckRecorded(Event):
        outcome: RelapseOutcome
        checked_by: str
        occurred_on: date
        comment: str

        def apply(self, finding: Finding) -> None:
            check = RelapseCheck(self.outcome, self.checked_by, self.occurred_on, self.comment)
            finding.relapse_checks = (*finding.relapse_checks, check)
            finding.checked_since_close = True
            if self.outcome is RelapseOutcome.RELAPSED:
                finding.status = S.IN_PROGRESS

    class Reopened(Event):
        occurred_on: date
        reason: str

        def apply(self, finding: Finding) -> None:
            finding.reopenings = (*finding.reopenings, Reopening(self.occurred_on, self.reason))
            finding.status = S.IN_PROGRESS

    class EvidenceAttached(Event):
        """佐证材料 attached: the event names the file by the SHA-256 of its bytes, so the log's chain covers them."""

        attachment: Attachment

        def apply(self, finding: Finding) -> None:
            finding.evidence = (*finding.evidence, self.attachment)

    class EvidenceWithdrawn(Event):
        """An attachment taken back (wrong file, wrong step): it stays in the record, marked, with the reason."""

        attachment_id: UUID
        reason: str
        disclosure: Disclosure  # the attachment's: who may see that it was withdrawn (rectify.access.audience_of)

        def apply(self, finding: Finding) -> None:
            withdrawn = self.attachment_id
            finding.evidence = tuple(
                replace(a, withdrawn=True, withdrawal_reason=self.reason) if a.attachment_id == withdrawn else a
                for a in finding.evidence
            )

    class RepeatLinked(Event):
        """屡查屡犯: the same problem as a finding of an earlier round."""

        link: RepeatLink

        def apply(self, finding: Finding) -> None:
            finding.repeat_of = self.link

    class RepeatUnlinked(Event):
        reason: str

        def apply(self, finding: Finding) -> None:
            finding.repeat_of = None

    def __init__(self) -> None:
        # State comes from the created event's apply(); see the attribute list below.
        pass

    # Attributes, set by the created event's apply().
    round_id: UUID
    unit_id: UUID
    code: str
    category: tuple[int, ...]
    ordinal: int
    heading: str
    problem: str
    amounts: tuple[AmountInvolved, ...]
    disclosure: Disclosure
    withholding_reason: str
    status: FindingStatus
    responsibility: Responsibility | None
    original_deadline: Deadline | None
    extensions: tuple[Extension, ...]
    measures: tuple[Measure, ...]
    activities: Activities
    report: Report | None
    long_term: Report | None
    verifications: tuple[Verification, ...]
    close_outs: tuple[CloseOut, ...]
    relapse_checks: tuple[RelapseCheck, ...]
    reopenings: tuple[Reopening, ...]
    partly: Report | None  # 部分整改, declared while the finding is worked on
    progress_text: str  # 整改进展: the last note, or the summary of the last report of progress
    remark: str  # 备注
    # Defaults for state folded or snapshotted before these were recorded.
    evidence: tuple[Attachment, ...] = ()  # 佐证材料, withdrawn ones too (marked)
    repeat_of: RepeatLink | None = None
    report_count: int = 0  # reports of rectification and of phased results (long-term), for evidence targets
    checked_since_close: bool = False  # a relapse check (回头看) was recorded since the last close-out

    @classmethod
    def raise_finding(
        cls,
        *,
        finding_id: UUID,
        round_id: UUID,
        unit_id: UUID,
        code: str,
        category: tuple[int, ...],
        ordinal: int,
        heading: str,
        problem: str,
        amounts: tuple[AmountInvolved, ...],
        disclosure: Disclosure,
        withholding_reason: str,
        actor: str,
    ) -> Finding:
        if disclosure is Disclosure.INTERNAL and not withholding_reason.strip():
            raise InvalidInput("withholding_reason", "an internal finding needs the reason it is withheld")
        if disclosure is Disclosure.PUBLIC and withholding_reason.strip():
            raise InvalidInput("withholding_reason", "only an internal finding has a withholding reason")
        return cls._create(
            cls.Raised,
            id=finding_id,
            round_id=round_id,
            unit_id=unit_id,
            code=code,
            category=category,
            ordinal=ordinal,
            heading=heading,
            problem=problem,
            amounts=amounts,
            disclosure=disclosure,
            withholding_reason=withholding_reason,
            actor=actor,
        )

    # -- commands ---------------------------------------------------------------------------

    def assign_responsibility(self, responsibility: Responsibility, *, actor: str) -> None:
        self._require({S.RAISED} | WORKING, "responsibility can only be assigned to an open finding")
        self.trigger_event(self.ResponsibilityAssigned, responsibility=responsibility, actor=actor)

    def extend_deadline(self, new_deadline: Deadline, reason: str, *, actor: str) -> None:
        self._require(WORKING, "only the deadline of a finding being worked on can be extended")
        assert self.responsibility is not None  # every WORKING status follows an assignment
        if new_deadline.kind is not DeadlineKind.DATE or new_deadline.due_on is None:
            raise InvalidInput("due_on", "an extension moves the deadline to a date")
        if self.responsibility.deadline.kind is DeadlineKind.LONG_TERM:
            raise InvalidInput(
                "due_on", "a 长期坚持 deadline has no date to extend; assign the responsibility again to change it"
            )
        current = self.responsibility.deadline.due_on
        if current is not None and new_deadline.due_on <= current:
            raise InvalidInput("due_on", f"must be after the current deadline {current.isoformat()}")
        self.trigger_event(self.DeadlineExtended, new_deadline=new_deadline, reason=reason, actor=actor)

    def correct_amounts_involved(self, amounts: tuple[AmountInvolved, ...], reason: str, *, actor: str) -> None:
        # A correction of the record, so it is allowed in every status.
        if tuple(amounts) == self.amounts:
            raise InvalidInput("amounts", "are already recorded as given")
        self.trigger_event(self.AmountsInvolvedCorrected, amounts=tuple(amounts), reason=reason, actor=actor)

    def note_progress(self, progress: str, remark: str, *, actor: str) -> None:
        # A note of the ledger's free text columns, allowed in every status.
        if (progress, remark) == (self.progress_text, self.remark):
            raise InvalidInput("progress", "is already noted as given")
        self.trigger_event(self.ProgressNoted, progress=progress, remark=remark, actor=actor)

    def mark_partly_rectified(self, occurred_on: date, summary: str, *, actor: str) -> None:
        self._require({S.ASSIGNED, S.IN_PROGRESS}, "only a finding being worked on can be partly rectified")
        self.trigger_event(self.PartlyRectified, occurred_on=occurred_on, summary=summary, actor=actor)

    def plan_measure(self, measure_id: UUID, text: str, *, actor: str) -> None:
        self._require(PLANNING, "measures can only be planned for an assigned finding that is not reported")
        if any(m.measure_id == measure_id for m in self.measures):
            raise InvalidInput("measure_id", f"{measure_id} is already a measure of this finding")
        self.trigger_event(self.MeasurePlanned, measure_id=measure_id, text=text, actor=actor)

    def complete_measure(self, measure_id: UUID, occurred_on: date, note: str, *, actor: str) -> None:
        self._require(PLANNING, "measures can only be completed on an assigned finding that is not reported")
        measure = self.measure(measure_id)
        if measure.is_completed:
            raise IllegalTransition(self.status.value, f"measure {measure.ordinal} is already completed")
        self.trigger_event(
            self.MeasureCompleted, measure_id=measure_id, occurred_on=occurred_on, note=note, actor=actor
        )

    def record_activity(
        self,
        *,
        activity_id: UUID,
        kind: str,
        occurred_on: date,
        unit: str,
        description: str,
        count: int | None,
        amount: Decimal | None,
        measure_id: UUID | None,
        actor: str,
    ) -> None:
        self._require(WORKING, "activities can only be recorded on a finding being worked on; reopen it first")
        if (count is None) == (amount is None):
            raise InvalidInput("count", "give either a count or an amount")
        if measure_id is not None:
            self.measure(measure_id)
        self.trigger_event(
            self.ActivityRecorded,
            activity_id=activity_id,
            kind=kind,
            occurred_on=occurred_on,
            unit=unit,
            description=description,
            count=count,
            amount=amount,
            measure_id=measure_id,
            actor=actor,
        )

    def retract_activity(self, activity_id: UUID, reason: str, *, actor: str) -> None:
        # A retraction corrects the record, so it is allowed in every status.
        activity = self.activity(activity_id)
        if activity.retracted:
            raise IllegalTransition(self.status.value, f"activity {activity_id} is already retracted")
        self.trigger_event(self.ActivityRetracted, activity_id=activity_id, reason=reason, actor=actor)

    def report_rectification(self, occurred_on: date, summary: str, *, actor: str) -> None:
        self._require(PLANNING, "only a finding being worked on can be reported rectified")
        if not self.measures:
            raise IllegalTransition(self.status.value, "plan at least one measure before reporting")
        open_measures = [str(m.ordinal) for m in self.measures if not m.is_completed]
        if open_measures:
            raise IllegalTransition(self.status.value, f"measures {', '.join(open_measures)} are not completed yet")
        self.trigger_event(self.RectificationReported, occurred_on=occurred_on, summary=summary, actor=actor)

    def mark_long_term(self, occurred_on: date, summary: str, *, actor: str) -> None:
        self._require({S.ASSIGNED, S.IN_PROGRESS, S.REPORTED}, "only a finding being worked on can be marked long-term")
        if not any(m.is_completed for m in self.measures):
            raise IllegalTransition(self.status.value, "complete at least one measure (阶段性成果) first")
        self.trigger_event(self.MarkedLongTerm, occurred_on=occurred_on, summary=summary, actor=actor)

    def record_verification(
        self, *, passed: bool, verified_by: str, occurred_on: date, comment: str, actor: str
    ) -> None:
        self._require({S.REPORTED, S.LONG_TERM}, "only a reported rectification can be verified")
        reported = self.report if self.status is S.REPORTED else self.long_term
        assert reported is not None
        self._not_before(occurred_on, reported.occurred_on, "the report")
        self.trigger_event(
            self.VerificationRecorded,
            passed=passed,
            verified_by=verified_by,
            occurred_on=occurred_on,
            comment=comment,
            actor=actor,
        )

    def close(self, occurred_on: date, comment: str, *, actor: str, evidence_required: bool = False) -> None:  # noqa: A003
        self._require({S.VERIFIED}, "only a verified finding can be closed (对账销号)")
        self._not_before(occurred_on, self.verifications[-1].occurred_on, "the verification")
        if evidence_required and not self.live_evidence:
            raise IllegalTransition(
                self.status.value,
                "the round's rule 销号需佐证 (evidence before close-out) refuses it: attach evidence (佐证材料) to "
                "this finding first",
            )
        self.trigger_event(self.Closed, occurred_on=occurred_on, comment=comment, actor=actor)

    def record_relapse_check(
        self, *, outcome: RelapseOutcome, checked_by: str, occurred_on: date, comment: str, actor: str
    ) -> None:
        self._require({S.CLOSED}, "a relapse check (回头看) is made on a closed finding")
        self._not_before(occurred_on, self.close_outs[-1].occurred_on, "the close-out")
        self.trigger_event(
            self.RelapseCheckRecorded,
            outcome=outcome,
            checked_by=checked_by,
            occurred_on=occurred_on,
            comment=comment,
            actor=actor,
        )

    def attach_evidence(self, attachment: Attachment, *, actor: str) -> None:
        """Evidence may be attached in every status (a close-out's record arrives after the close)."""
        self.require_target(attachment.target, attachment.target_ref)
        for kept in self.live_evidence:
            same_step = (kept.target, kept.target_ref) == (attachment.target, attachment.target_ref)
            if same_step and kept.sha256 == attachment.sha256:
                raise InvalidInput("file", f"this file is already attached here ({kept.file_name})")
        self.trigger_event(self.EvidenceAttached, attachment=attachment, actor=actor)

    def withdraw_evidence(self, attachment_id: UUID, reason: str, *, actor: str) -> None:
        found = next((a for a in self.evidence if a.attachment_id == attachment_id), None)
        if found is None:
            raise NotFound("evidence", attachment_id)
        if found.withdrawn:
            raise IllegalTransition(self.status.value, f"evidence {attachment_id} is already withdrawn")
        self.trigger_event(
            self.EvidenceWithdrawn,
            attachment_id=attachment_id,
            reason=reason,
            disclosure=found.disclosure,
            actor=actor,
        )

    def require_target(self, target: EvidenceTarget, ref: str) -> None:
        """Raises unless the step evidence is attached to exists: a measure or activity by id, the
        n-th report, verification, close-out or relapse check by number."""
        if target is EvidenceTarget.MEASURE:
            self.measure(UUID(ref))
            return
        if target is EvidenceTarget.ACTIVITY:
            self.activity(UUID(ref))
            return
        recorded = self.recorded(target)
        if not ref.isdigit() or not 1 <= int(ref) <= recorded:
            what = target.value.lower().replace("_", " ")
            raise InvalidInput("target", f"this finding has {recorded} {what}(s); there is no {what} {ref}")

    def recorded(self, target: EvidenceTarget) -> int:
        """How many reports, verifications, close-outs or relapse checks the finding has had."""
        return {
            EvidenceTarget.REPORT: self.report_count,
            EvidenceTarget.VERIFICATION: len(self.verifications),
            EvidenceTarget.CLOSE_OUT: len(self.close_outs),
            EvidenceTarget.RELAPSE_CHECK: len(self.relapse_checks),
        }[target]

    def link_repeat(self, link: RepeatLink, *, actor: str) -> None:
        if link.earlier_finding_id == self.id:
            raise InvalidInput("earlier_finding_id", "a finding cannot repeat itself")
        if link.earlier_round_id == self.round_id:
            raise InvalidInput("earlier_finding_id", "a repeat is of a finding of an earlier round, not of this one")
        if self.repeat_of is not None and self.repeat_of.earlier_finding_id == link.earlier_finding_id:
            raise InvalidInput("earlier_finding_id", "is already linked as the earlier finding")
        self.trigger_event(self.RepeatLinked, link=link, actor=actor)

    def unlink_repeat(self, reason: str, *, actor: str) -> None:
        if self.repeat_of is None:
            raise IllegalTransition(self.status.value, "this finding is not linked to an earlier one")
        self.trigger_event(self.RepeatUnlinked, reason=reason, actor=actor)

    def reopen(self, occurred_on: date, reason: str, *, actor: str) -> None:
        self._require({S.VERIFIED, S.CLOSED}, "only a verified or closed finding can be reopened")
        self.trigger_event(self.Reopened, occurred_on=occurred_on, reason=reason, actor=actor)

    # -- queries ----------------------------------------------------------------------------

    def measure(self, measure_id: UUID) -> Measure:
        for measure in self.measures:
            if measure.measure_id == measure_id:
                return measure
        raise NotFound("measure", measure_id)

    def activity(self, activity_id: UUID) -> Activity:
        for activity in self.activities:
            if activity.activity_id == activity_id:
                return activity
        raise NotFound("activity", activity_id)

    @property
    def is_public(self) -> bool:
        return self.disclosure is Disclosure.PUBLIC

    @property
    def live_evidence(self) -> tuple[Attachment, ...]:
        return tuple(a for a in self.evidence if not a.withdrawn)

    @property
    def place(self) -> tuple[int, ...]:
        """The finding's position in its round's category tree, for ordering."""
        return (*self.category, self.ordinal)

    # -- helpers ----------------------------------------------------------------------------

    def _require(self, allowed: set[FindingStatus] | frozenset[FindingStatus], message: str) -> None:
        if self.status not in allowed:
            raise IllegalTransition(self.status.value, message)

    @staticmethod
    def _not_before(occurred_on: date, earlier: date, what: str) -> None:
        if occurred_on < earlier:
            raise InvalidInput("occurred_on", f"must not be before {what} ({earlier.isoformat()})")

    def _start_work(self) -> None:
        if self.status is S.ASSIGNED:
            self.status = S.IN_PROGRESS
