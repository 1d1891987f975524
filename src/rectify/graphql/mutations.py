"""Mutations: one per application command, each answering with a result union.

Inputs take ids and dates as text and amounts as the Decimal scalar (a string; a float is refused), so that
a malformed value is answered like any other bad input: an InvalidInput naming the field, and nothing appended.

Files come as `Upload` variables of a multipart request (rectify.web.transport): `attachEvidence` stores one
as evidence, `importLedger` reads one as a 台账 and imports it (or, as a dry run, says what it would append).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.file_uploads import Upload

from rectify import domain
from rectify import validation as v
from rectify.application import Receipt
from rectify.graphql.context import blocking, context
from rectify.graphql.context import reading as operation_reading
from rectify.graphql.inputs import plan_inputs
from rectify.graphql.scalars import uploaded
from rectify.graphql.types import (
    Accepted,
    CommandResult,
    Conflict,
    DeadlineKind,
    Disclosure,
    Edition,
    EvidenceTarget,
    IssueTokenResult,
    NarrativeSection,
    NoticePublished,
    Problem,
    PublishNoticeResult,
    RelapseOutcome,
    Role,
    RulePeriod,
    TokenIssued,
    problem_of,
)
from rectify.sheets.progress import Stage, imports

if TYPE_CHECKING:
    from rectify.queries import Reading
    from rectify.sheets.planner import Plan
    from rectify.sheets.reader import SheetRejected

log = logging.getLogger(__name__)
VIEWS_WAIT = 2.0  # seconds a command waits for the views to include its write before answering


@strawberry.input
class AmountInput:
    label: str
    amount: Decimal
    unit: str


@strawberry.input
class NarrativeItemInput:
    title: str
    text: str


@strawberry.input
class RegisterUnitInput:
    name: str
    short_name: str
    address: str
    phone: str
    postcode: str
    email: str = ""
    postal_address: str = ""
    area_code: str = ""
    idempotency_key: str | None = None


@strawberry.input
class ChangeUnitContactInput:
    unit_id: strawberry.ID
    address: str
    phone: str
    postcode: str
    email: str = ""
    postal_address: str = ""
    area_code: str = ""
    idempotency_key: str | None = None


@strawberry.input
class OpenRoundInput:
    authority: str
    district: str
    team: str
    unit_ids: list[strawberry.ID]
    stationed_from: str
    stationed_to: str
    idempotency_key: str | None = None


@strawberry.input
class DeliverFeedbackInput:
    round_id: strawberry.ID
    occurred_on: str
    rectification_until: str
    idempotency_key: str | None = None


@strawberry.input
class DefineCategoryInput:
    round_id: strawberry.ID
    path: list[int]
    title: str
    idempotency_key: str | None = None


@strawberry.input
class DraftNarrativeInput:
    round_id: strawberry.ID
    unit_id: strawberry.ID
    section: NarrativeSection
    intro: str = ""
    items: list[NarrativeItemInput] = strawberry.field(default_factory=list)
    idempotency_key: str | None = None


@strawberry.input
class RaiseFindingInput:
    round_id: strawberry.ID
    unit_id: strawberry.ID
    category: list[int]
    ordinal: int
    heading: str
    problem: str
    code: str | None = None
    amounts: list[AmountInput] = strawberry.field(default_factory=list)
    disclosure: Disclosure = Disclosure.PUBLIC
    withholding_reason: str = ""
    idempotency_key: str | None = None


@strawberry.input
class AssignResponsibilityInput:
    finding_id: strawberry.ID
    department: str
    leader: str
    person: str
    deadline_kind: DeadlineKind = DeadlineKind.DATE
    due_on: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class ExtendDeadlineInput:
    finding_id: strawberry.ID
    due_on: str
    reason: str
    idempotency_key: str | None = None


@strawberry.input
class PlanMeasureInput:
    finding_id: strawberry.ID
    text: str
    idempotency_key: str | None = None


@strawberry.input
class CompleteMeasureInput:
    finding_id: strawberry.ID
    measure_id: strawberry.ID
    occurred_on: str
    note: str = ""
    idempotency_key: str | None = None


@strawberry.input
class RecordActivityInput:
    finding_id: strawberry.ID
    kind: str
    occurred_on: str
    count: int | None = None
    amount: Decimal | None = None
    unit: str | None = None
    description: str = ""
    measure_id: strawberry.ID | None = None
    idempotency_key: str | None = None


@strawberry.input
class RetractActivityInput:
    finding_id: strawberry.ID
    activity_id: strawberry.ID
    reason: str
    idempotency_key: str | None = None


@strawberry.input
class ReportInput:
    finding_id: strawberry.ID
    occurred_on: str
    summary: str
    idempotency_key: str | None = None


@strawberry.input
class NoteProgressInput:
    finding_id: strawberry.ID
    progress: str
    remark: str = ""
    idempotency_key: str | None = None


@strawberry.input
class CorrectAmountsInvolvedInput:
    finding_id: strawberry.ID
    amounts: list[AmountInput]
    reason: str
    idempotency_key: str | None = None


@strawberry.input
class RecordVerificationInput:
    finding_id: strawberry.ID
    passed: bool
    verified_by: str
    occurred_on: str
    comment: str = ""
    idempotency_key: str | None = None


@strawberry.input
class CloseFindingInput:
    finding_id: strawberry.ID
    occurred_on: str
    comment: str = ""
    idempotency_key: str | None = None


@strawberry.input
class RecordRelapseCheckInput:
    finding_id: strawberry.ID
    outcome: RelapseOutcome
    checked_by: str
    occurred_on: str
    comment: str = ""
    idempotency_key: str | None = None


@strawberry.input
class ReopenFindingInput:
    finding_id: strawberry.ID
    occurred_on: str
    reason: str
    idempotency_key: str | None = None


@strawberry.input
class PublishNoticeInput:
    round_id: strawberry.ID
    unit_id: strawberry.ID
    edition: Edition = Edition.PUBLIC
    published_on: str | None = strawberry.field(default=None, description="Default: today.")
    window_days: int = strawberry.field(default=30, description="The publicity window (公开期限), in days.")
    position: int | None = strawberry.field(default=None, description="The log position to build at; default: now.")
    idempotency_key: str | None = None


@strawberry.input
class IssueTokenInput:
    role: Role
    label: str
    unit_id: strawberry.ID | None = None
    idempotency_key: str | None = None


@strawberry.input
class RevokeTokenInput:
    token_id: strawberry.ID
    reason: str
    idempotency_key: str | None = None


@strawberry.input
class WithdrawEvidenceInput:
    finding_id: strawberry.ID
    attachment_id: strawberry.ID
    reason: str
    idempotency_key: str | None = None


@strawberry.input
class SetCloseOutEvidenceRuleInput:
    round_id: strawberry.ID
    required: bool
    idempotency_key: str | None = None


@strawberry.input
class SetRelapseCheckIntervalInput:
    round_id: strawberry.ID
    months: int
    idempotency_key: str | None = None


@strawberry.input
class LinkRepeatInput:
    finding_id: strawberry.ID
    earlier_finding_id: strawberry.ID
    reason: str = ""
    idempotency_key: str | None = None


@strawberry.input
class UnlinkRepeatInput:
    finding_id: strawberry.ID
    reason: str
    idempotency_key: str | None = None


@strawberry.input
class AdoptRuleInput:
    title: str
    activity_kind: str
    minimum: int
    period: RulePeriod
    starts_on: str
    round_id: strawberry.ID | None = None
    unit_id: strawberry.ID | None = None
    idempotency_key: str | None = None


@strawberry.input
class AmendRuleInput:
    rule_id: strawberry.ID
    effective_from: str
    reason: str
    activity_kind: str | None = None
    minimum: int | None = None
    period: RulePeriod | None = None
    idempotency_key: str | None = None


@strawberry.input
class RetireRuleInput:
    rule_id: strawberry.ID
    occurred_on: str
    reason: str
    idempotency_key: str | None = None


def camel(field: str) -> str:
    """The GraphQL spelling of an application field name: occurred_on → occurredOn."""
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), field)


def _carry_out(
    command: Callable[..., Receipt], actor: Any, reading: Reading | None, /, **arguments: Any
) -> tuple[Receipt, int | None]:
    """The command's receipt and, for a caller who does not see everything, the position it is shown
    (None when the store could not tell it after the commit: the write stands all the same)."""
    receipt = command(actor, **arguments)
    if reading is None:
        return receipt, None
    try:
        return receipt, reading.shown(receipt.position)
    except Exception:
        log.warning("stored at %d, but the position shown could not be looked up", receipt.position, exc_info=True)
        return receipt, None


def _arguments(value: Any) -> Any:
    """An input object as the application's keyword arguments (nested inputs as tuples)."""
    if isinstance(value, list):
        return [_arguments(v) for v in value]
    names = _input_fields(type(value))
    if names is None:
        return value
    if isinstance(value, AmountInput):
        return (value.label, value.amount, value.unit)
    if isinstance(value, NarrativeItemInput):
        return (value.title, value.text)
    return {name: _arguments(getattr(value, name)) for name in names}


_FIELDS: dict[type, tuple[str, ...] | None] = {}


def _input_fields(kind: type) -> tuple[str, ...] | None:
    """The field names of an input object's class (a dataclass); None for any other type."""
    try:
        return _FIELDS[kind]
    except KeyError:
        names = _FIELDS[kind] = (
            tuple(f.name for f in dataclasses.fields(kind)) if dataclasses.is_dataclass(kind) else None
        )
        return names


async def run_command(info: strawberry.Info, method: str, input_object: Any, **extra: Any) -> Receipt | Any:
    """Carries out one command as the caller; a Receipt, or the typed problem if it was refused. `extra`:
    arguments the input object does not hold (an uploaded file)."""
    ctx = context(info)
    command = getattr(ctx.commands, method)
    # As every position the caller is shown: that of its write's last event it may see (not of the
    # idempotency record saved with it, which only the office sees). The log up to the position is
    # fixed, so it is looked up at once, in the same worker thread, before the views catch up.
    reading = None if ctx.actor.sees_everything else operation_reading(info)
    try:
        receipt, shown = await blocking(_carry_out, command, ctx.actor, reading, **_arguments(input_object), **extra)
    except domain.RectifyError as error:
        problem = problem_of(error)
        if hasattr(problem, "field"):
            problem.field = camel(problem.field)
            problem.message = f"{problem.field}: {problem.reason}"
        return problem
    # The events are stored: from here on the answer is Accepted, whatever happens. Read-your-writes:
    # wait (boundedly) until the views include this write, whichever process projects it.
    caught_up = False
    try:
        async with asyncio.timeout(VIEWS_WAIT + 0.5):
            caught_up = await ctx.feed.reached(receipt.position, VIEWS_WAIT)
    except Exception:  # the store or the views failed after the commit: the write stands all the same
        log.warning("%s at %d: stored, but the views could not be waited for", method, receipt.position, exc_info=True)
    position = receipt.position
    if reading is not None:
        position = shown if shown is not None else receipt.own_position or receipt.position
    return dataclasses.replace(receipt, position=position, views_caught_up=caught_up)


def _command_mutation(method: str, input_type: type, description: str) -> Any:
    async def resolve(info: strawberry.Info, input: Any) -> Any:  # noqa: A002
        outcome = await run_command(info, method, input)
        return Accepted.of(outcome) if isinstance(outcome, Receipt) else outcome

    resolve.__annotations__ = {"info": strawberry.Info, "input": input_type, "return": CommandResult}
    resolve.__name__ = method
    return strawberry.mutation(resolver=resolve, description=description)


COMMANDS: dict[str, tuple[type, str]] = {
    "register_unit": (RegisterUnitInput, "Admin: register an inspected unit and its contact data."),
    "change_unit_contact": (ChangeUnitContactInput, "Admin or the unit: correct a unit's contact data."),
    "open_round": (OpenRoundInput, "Inspection office: a team was stationed at one or more units."),
    "deliver_feedback": (DeliverFeedbackInput, "Inspection office: the round's feedback (反馈) was delivered."),
    "define_category": (DefineCategoryInput, "Inspection office: a node of the round's category tree."),
    "draft_narrative": (DraftNarrativeInput, "The unit: a narrative section of its notice (latest draft counts)."),
    "raise_finding": (RaiseFindingInput, "Inspection office: a problem fed back."),
    "assign_responsibility": (AssignResponsibilityInput, "The unit: department, leader, person and deadline."),
    "extend_deadline": (ExtendDeadlineInput, "Inspection office: move a deadline later, with the reason."),
    "plan_measure": (PlanMeasureInput, "The unit: a measure (一是、二是…), figures as placeholders."),
    "complete_measure": (CompleteMeasureInput, "The unit: a measure was completed."),
    "record_activity": (RecordActivityInput, "The unit: a dated activity, counted or measured."),
    "retract_activity": (RetractActivityInput, "The unit: a wrongly recorded activity is retracted."),
    "report_rectification": (ReportInput, "The unit: the rectification is reported done."),
    "mark_long_term": (ReportInput, "The unit: 基本完成，取得阶段性成果并持续整改."),
    "mark_partly_rectified": (ReportInput, "The unit: 部分整改, part is done and the summary says what goes on."),
    "note_progress": (
        NoteProgressInput,
        "The unit or the office: the ledger's free text of a finding, 整改进展 and 备注 (both replaced).",
    ),
    "correct_amounts_involved": (
        CorrectAmountsInvolvedInput,
        "Inspection office: add or correct a finding's amounts involved (the list replaces the recorded one).",
    ),
    "record_verification": (RecordVerificationInput, "Inspection office: 检查验收, passed or failed."),
    "close_finding": (CloseFindingInput, "Inspection office: 对账销号."),
    "record_relapse_check": (RecordRelapseCheckInput, "Inspection office: 回头看; a relapse reopens the finding."),
    "reopen_finding": (ReopenFindingInput, "Inspection office: put a verified or closed finding back in progress."),
    "revoke_token": (RevokeTokenInput, "Admin: revoke an access token."),
    "withdraw_evidence": (WithdrawEvidenceInput, "The unit or the office: take an attachment back (it stays, marked)."),
    "set_close_out_evidence_rule": (
        SetCloseOutEvidenceRuleInput,
        "Inspection office: 销号需佐证, whether the round's close-outs need evidence first.",
    ),
    "set_relapse_check_interval": (
        SetRelapseCheckIntervalInput,
        "Inspection office: months after a close-out that its relapse check (回头看) falls due (default 6).",
    ),
    "link_repeat": (LinkRepeatInput, "Inspection office: 屡查屡犯, the same problem as an earlier round's finding."),
    "unlink_repeat": (UnlinkRepeatInput, "Inspection office: a repeat link made in error, taken back."),
    "adopt_rule": (
        AdoptRuleInput,
        "Inspection office (or a unit, for itself): a standing rule (长效机制), checked period by period.",
    ),
    "amend_rule": (AmendRuleInput, "New terms of a standing rule from a date on; earlier periods keep theirs."),
    "retire_rule": (RetireRuleInput, "A standing rule no longer applies from a date on."),
}
plan_inputs(AmountInput, NarrativeItemInput, *(kind for kind, _ in COMMANDS.values()))


async def _issue_token(info: strawberry.Info, input: IssueTokenInput) -> IssueTokenResult:  # noqa: A002
    outcome = await run_command(info, "issue_token", input)
    if isinstance(outcome, Receipt):
        return TokenIssued(position=outcome.position, id=strawberry.ID(str(outcome.entity_id)), secret=outcome.secret)
    return outcome


async def _publish_notice(info: strawberry.Info, input: PublishNoticeInput) -> PublishNoticeResult:  # noqa: A002
    ctx = context(info)
    if input.position is None:
        # Build from everything the views know once they have caught up with the log.
        await ctx.feed.reached(await blocking(ctx.commands.head), 5.0)
    outcome = await run_command(info, "publish_notice", input)
    if not isinstance(outcome, Receipt):
        return outcome
    sha256 = outcome.sha256
    if sha256 is None:  # a replayed request: the digest was recorded the first time
        sha256 = (await blocking(ctx.queries.publication, outcome.entity_id)).sha256
    return NoticePublished(
        position=outcome.position,
        id=strawberry.ID(str(outcome.entity_id)),
        sha256=sha256,
        url=f"/notices/{outcome.entity_id}",
    )


# -- files: evidence and the 台账 ----------------------------------------------------------------


@strawberry.input(description="A file attached as evidence (佐证材料); the file itself is the mutation's `file`.")
class AttachEvidenceInput:
    finding_id: strawberry.ID
    target: EvidenceTarget
    target_ref: str | None = strawberry.field(
        default=None, description="The measure's or activity's id; or the report's (…) number, default the latest."
    )
    disclosure: Disclosure = Disclosure.PUBLIC
    note: str = ""
    idempotency_key: str | None = None


async def _attach_evidence(
    info: strawberry.Info,
    input: AttachEvidenceInput,  # noqa: A002
    file: Upload,
) -> CommandResult:
    try:
        upload = uploaded(file)
        stream = upload.check("file")
    except domain.RectifyError as error:
        return problem_of(error)
    outcome = await run_command(info, "attach_evidence", input, file_name=upload.file_name, stream=stream)
    return Accepted.of(outcome) if isinstance(outcome, Receipt) else outcome


@strawberry.type(description="One event an import appends (or, in a dry run, would append).")
class ImportedEvent:
    event: str = strawberry.field(description="The event, e.g. Finding.MeasurePlanned.")
    column: str = strawberry.field(description='The column the change comes from, e.g. "K 整改措施".')
    says: str = strawberry.field(description="What it does, in words.")


@strawberry.type(description="A row of the sheet that changes the record, and the events it brings.")
class ImportedRow:
    row: int
    code: str = strawberry.field(description="Its 编号.")
    events: list[ImportedEvent]


@strawberry.type(description="A 台账 imported (or, as a dry run, checked): what it appended, row by row.")
class LedgerImported:
    dry_run: bool
    events: int = strawberry.field(description="Events appended (a dry run: that would be appended).")
    rows: list[ImportedRow]
    unchanged: int = strawberry.field(description="Rows of the sheet that change nothing.")
    lines: int = strawberry.field(description="Rows of findings the sheet holds.")
    ignored_columns: list[str] = strawberry.field(description="Headers of columns the import does not read.")
    first_position: int | None = None
    last_position: int | None = None


@strawberry.type(description="One problem of a sheet: where it is, as far as is known, and why.")
class SheetProblem:
    message: str
    sheet: str | None
    row: int | None
    column: str | None = strawberry.field(description='Its letter and header, e.g. "J 完成时限".')
    reason: str


@strawberry.type(description="The sheet was not imported, and nothing was appended: every problem found.")
class SheetRefused:
    message: str
    errors: list[SheetProblem]


ImportLedgerResult = Annotated[LedgerImported | SheetRefused | Problem, strawberry.union("ImportLedgerResult")]


def _refused(rejected: SheetRejected) -> SheetRefused:
    problems = [SheetProblem(message=str(e), sheet=e.sheet, row=e.row, column=e.column, reason=e.reason) for e in
                rejected.errors]  # fmt: skip
    return SheetRefused(message=str(rejected), errors=problems)


def _imported(planned: Plan, *, dry_run: bool, first: int | None = None, last: int | None = None) -> LedgerImported:
    columns = planned.sheet.column_name
    rows = [
        ImportedRow(
            row=row,
            code=code,
            events=[ImportedEvent(event=s.event, column=columns(s.column), says=s.says) for s in steps],
        )
        for row, code, steps in planned.by_row()
    ]
    return LedgerImported(
        dry_run=dry_run,
        events=len(planned.steps),
        rows=rows,
        unchanged=planned.unchanged,
        lines=len(planned.sheet.lines),
        ignored_columns=list(planned.sheet.ignored),
        first_position=first,
        last_position=last,
    )


async def _import_ledger(
    info: strawberry.Info,
    round_id: strawberry.ID,
    file: Upload,
    dry_run: bool = False,
    progress_id: str | None = None,
) -> ImportLedgerResult:
    # The workbook modules (openpyxl) are imported by the first import, not by every server start.
    from rectify.sheets.planner import ImportStopped, carry_out, plan_file
    from rectify.sheets.reader import SheetRejected

    ctx = context(info)
    owner = str(ctx.actor)
    try:
        if ctx.actor.role is Role.PUBLIC:  # nothing to import as the public: refused before the file is read
            raise domain.Forbidden(
                "importing a 台账 needs a token: the unit's for its own part, the office's for its own"
            )
        rid = v.identifier("roundId", round_id)
        source = uploaded(file).check("file")
        if progress_id is not None:
            key = v.text("progressId", progress_id, max_length=80)
            if not imports.start(key, owner):
                raise domain.Conflict(f"progressId: an import with the id {key!r} is running")
        key = progress_id or f"anonymous-{uuid.uuid4()}"
        # The plan reads the views for the places of the round's findings: let them catch up with the log first.
        await ctx.feed.reached(await blocking(ctx.commands.head), 5.0)
        try:
            planned = await blocking(plan_file, ctx.commands, ctx.queries.read, source, rid, ctx.actor)
            if planned.errors:
                raise SheetRejected(planned.errors)
            if dry_run:
                imports.update(key, Stage.DONE, 0, len(planned.steps))
                return _imported(planned, dry_run=True)
            imports.update(key, Stage.IMPORTING, 0, len(planned.steps))
            done = await blocking(
                carry_out, ctx.commands, planned, lambda n, total: imports.update(key, Stage.IMPORTING, n, total)
            )
        except SheetRejected:
            imports.update(key, Stage.REJECTED)
            raise
        except domain.RectifyError:
            imports.update(key, Stage.STOPPED)
            raise
        imports.update(key, Stage.DONE, done.steps, done.steps)
        if done.last_position is not None:
            await ctx.feed.reached(done.last_position, 5.0)
        return _imported(planned, dry_run=False, first=done.first_position, last=done.last_position)
    except SheetRejected as rejected:
        return _refused(rejected)
    except ImportStopped as stopped:  # the record changed while the sheet was imported
        return Conflict(message=str(stopped))
    except domain.RectifyError as error:
        return problem_of(error)


@strawberry.type(description="How far an import running on this server has got (poll it while importLedger runs).")
class LedgerImportProgress:
    stage: str = strawberry.field(description="READING, IMPORTING, DONE, REJECTED or STOPPED.")
    done: int = strawberry.field(description="Events appended so far.")
    total: int = strawberry.field(description="Events the import appends in all (0 while it is read).")


def ledger_import_progress(info: strawberry.Info, progress_id: str) -> LedgerImportProgress | None:
    """The progress of the caller's own import with that progress id, on this server (None for anyone else's)."""
    found = imports.of(progress_id, str(context(info).actor))
    if found is None:
        return None
    return LedgerImportProgress(stage=found.stage.value, done=found.done, total=found.total)


Mutation = strawberry.type(
    type(
        "Mutation",
        (),
        {
            **{camel(name): _command_mutation(name, kind, text) for name, (kind, text) in COMMANDS.items()},
            "publishNotice": strawberry.mutation(
                resolver=_publish_notice,
                description="The unit or the inspection office: publish a notice as of a position, with its SHA-256.",
            ),
            "issueToken": strawberry.mutation(
                resolver=_issue_token, description="Admin: issue a bearer token (the secret is shown once)."
            ),
            "attachEvidence": strawberry.mutation(
                resolver=_attach_evidence,
                description="The unit or the office: a file as evidence (佐证材料), sent as a multipart request. Its "
                "type is read from the content; a false extension, a type that is not evidence or a file over the "
                "limit is an InvalidInput naming `file`, and nothing is stored or appended.",
            ),
            "importLedger": strawberry.mutation(
                resolver=_import_ledger,
                description="Import a 台账 (.xlsx, sent as a multipart request) into a round: a diff, all or nothing. "
                "With dryRun, say row by row which events it would append and append nothing. Poll "
                "ledgerImport(progressId) on the same server for its progress while it runs.",
            ),
        },
    )
)
