"""The use cases: one method per command, turning a checked request into events in the store."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5
from zoneinfo import ZoneInfo

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import JSONTranscoder

from rectify import eventlog
from rectify import validation as v
from rectify.access import Actor, Role, authorise
from rectify.domain import Finding, Round, Unit, chinese
from rectify.domain.errors import IllegalTransition, InvalidInput, NotFound
from rectify.domain.figures import figures_in
from rectify.domain.rule import StandingRule
from rectify.domain.token import AccessToken, token_id
from rectify.domain.token import digest as token_digest
from rectify.domain.values import (
    AmountInvolved,
    Attachment,
    Contact,
    Deadline,
    DeadlineKind,
    Disclosure,
    Edition,
    EvidenceTarget,
    MoneyRole,
    NarrativeItem,
    NarrativeSection,
    Publication,
    RelapseOutcome,
    RepeatLink,
    Responsibility,
    RoundKind,
    RulePeriod,
    RuleTerms,
)
from rectify.notice.model import DEFAULT_WINDOW_DAYS, digest, window_end
from rectify.transcodings import register_all
from rectify.unit_of_work import Receipt, Refusals, UnitOfWork, command, store_was_busy

if TYPE_CHECKING:
    from rectify.evidence.store import FileStore

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")

__all__ = ["Receipt", "RectifyApplication", "command", "store_was_busy"]

FINDING_NAMESPACE = uuid5(NAMESPACE_URL, "urn:rectify:finding")


def finding_id_for(round_id: UUID, code: str) -> UUID:
    """A finding's id derives from its round and code, so a code is used once per round."""
    return uuid5(FINDING_NAMESPACE, f"{round_id}/{code}")


def code_for(category: tuple[int, ...], ordinal: int) -> str:
    """The conventional code of a place, e.g. (2, 4) + 1 → 二-4-(1)."""
    place = (*category, ordinal)
    parts = [chinese.numeral(place[0])]
    if len(place) > 1:
        parts.append(str(place[1]))
    parts.extend(f"({n})" for n in place[2:])
    return "-".join(parts)


class RectifyApplication(Application[UUID]):
    """Commands of rectify. Every write goes through here; reads of current state go to views."""

    name = "Rectify"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        timezone: str = "Asia/Shanghai",
        today: Callable[[], date] | None = None,
        store_deadline: float | None = 5.0,
        cache_bytes: int = 64 * 1024**2,
    ) -> None:
        super().__init__(env)
        self.work = UnitOfWork(self, deadline=store_deadline, cache_bytes=cache_bytes)
        zone = ZoneInfo(timezone)
        self.today: Callable[[], date] = today or (lambda: datetime.now(zone).date())
        self.saved_listeners: list[Callable[[int], None]] = []
        self.refusals = Refusals()  # the store's last lasting refusal of a write, for /health
        self.recent = eventlog.Recent()  # the notifications this process saved last
        #: (round, unit, edition, position, published_on, window_until) → (text, title, template version);
        #: wired by rectify.bootstrap to the notice read model.
        self.notice_renderer: Callable[[UUID, UUID, Edition, int, date, date], tuple[str, str, str]] | None = None
        #: Where evidence files are stored (rectify.evidence.store); wired by rectify.bootstrap.
        self.files: FileStore | None = None

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        register_all(transcoder)

    def close(self) -> None:
        """Closes the library's recorder and the evidence file store."""
        if self.files is not None:
            self.files.close()
        self.work.close()
        super().close()

    def _notify(self, recordings: Sequence[Any]) -> None:
        # Keeps what was saved for the reads just after it, and wakes in-process followers (the embedded
        # projection runner) without waiting for a poll.
        if recordings:
            self.recent.saved(r.notification for r in recordings)
            self.refusals.saved()
            position = max(r.notification.id for r in recordings)
            for listener in list(self.saved_listeners):
                listener(position)

    # -- reads -----------------------------------------------------------------------------

    def head(self) -> int:
        """The position of the last event in the log (0 when empty)."""
        return self.recorder.max_notification_id() or 0

    def unit(self, unit_id: UUID | str) -> Unit:
        return self._get(Unit, v.identifier("unit_id", unit_id), "unit")

    def round(self, round_id: UUID | str) -> Round:  # noqa: A003
        return self._get(Round, v.identifier("round_id", round_id), "round")

    def finding(self, finding_id: UUID | str) -> Finding:
        return self._get(Finding, v.identifier("finding_id", finding_id), "finding")

    # -- units -----------------------------------------------------------------------------

    @command("register_unit")
    def register_unit(
        self,
        actor: Actor,
        *,
        name: str,
        short_name: str = "",
        address: str = "",
        phone: str = "",
        postcode: str = "",
        email: str = "",
        postal_address: str = "",
        area_code: str = "",
        idempotency_key: str | None = None,
    ) -> Receipt:
        """Only the name is required: the short name defaults to it, and contact data can follow."""
        full_name = v.text("name", name, max_length=v.TITLE)
        request: dict[str, Any] = {
            "name": full_name,
            "short_name": v.text("short_name", short_name, max_length=v.NAME, required=False) or full_name[: v.NAME],
            "contact": _contact(address, phone, postcode, email, postal_address, area_code),
        }
        unit_id = uuid4()

        def decide() -> tuple[list[Aggregate], UUID]:
            return [Unit.register(unit_id=unit_id, actor=str(actor), **request)], unit_id

        return self._execute("register_unit", actor, idempotency_key, request, decide)

    @command("change_unit_contact")
    def change_unit_contact(
        self,
        actor: Actor,
        *,
        unit_id: UUID | str,
        address: str = "",
        phone: str = "",
        postcode: str = "",
        email: str = "",
        postal_address: str = "",
        area_code: str = "",
        idempotency_key: str | None = None,
    ) -> Receipt:
        uid = v.identifier("unit_id", unit_id)
        authorise(actor, "change_unit_contact", uid)
        contact = _contact(address, phone, postcode, email, postal_address, area_code)

        def decide() -> tuple[list[Aggregate], UUID]:
            unit = self._get(Unit, uid, "unit")
            unit.change_contact(contact, actor=str(actor))
            return [unit], uid

        return self._execute(
            "change_unit_contact", actor, idempotency_key, {"unit_id": uid, "contact": contact}, decide
        )

    # -- rounds ----------------------------------------------------------------------------

    @command("open_round")
    def open_round(
        self,
        actor: Actor,
        *,
        authority: str,
        district: str,
        unit_ids: Iterable[UUID | str],
        team: str | None = None,
        teams: Sequence[str] = (),
        title: str = "",
        kind: RoundKind | str = RoundKind.INSPECTION,
        stationed_from: date | str | None = None,
        stationed_to: date | str | None = None,
        idempotency_key: str | None = None,
    ) -> Receipt:
        """Opens a round of one team (`team`) or of several (`teams`); the stationed period is
        required for a 巡察 or 巡视 and optional for kinds that station no team (an audit)."""
        if isinstance(teams, str):
            raise InvalidInput("teams", "must be a list of team names")
        if (team is None) == (not teams):
            raise InvalidInput("teams", "name either the team (team) or the teams (teams)")
        if len(teams) > 20:
            raise InvalidInput("teams", f"at most 20 teams, got {len(teams)}")
        named = (team,) if team is not None else tuple(teams)
        request: dict[str, Any] = {
            "authority": v.text("authority", authority, max_length=v.NAME),
            "district": v.text("district", district, max_length=v.NAME),
            "title": v.text("title", title, max_length=v.TITLE, required=False),
            "kind": v.choice("kind", RoundKind, kind),
            "teams": tuple(v.text(f"teams[{i}]", t, max_length=v.TITLE) for i, t in enumerate(named)),
            "unit_ids": tuple(v.identifier("unit_ids", u) for u in unit_ids),
            "stationed_from": v.day("stationed_from", stationed_from) if stationed_from not in (None, "") else None,
            "stationed_to": v.day("stationed_to", stationed_to) if stationed_to not in (None, "") else None,
        }
        if request["stationed_from"] is not None:
            v.not_in_future("stationed_from", request["stationed_from"], self.today())
        round_id = uuid4()

        def decide() -> tuple[list[Aggregate], UUID]:
            for unit_id in request["unit_ids"]:
                self._get(Unit, unit_id, "unit")
            return [Round.open(round_id=round_id, actor=str(actor), **request)], round_id

        return self._execute("open_round", actor, idempotency_key, request, decide)

    @command("deliver_feedback")
    def deliver_feedback(
        self,
        actor: Actor,
        *,
        round_id: UUID | str,
        occurred_on: date | str,
        rectification_until: date | str | None = None,
        idempotency_key: str | None = None,
    ) -> Receipt:
        """The feedback was delivered; the end of the rectification period is optional."""
        request: dict[str, Any] = {
            "round_id": v.identifier("round_id", round_id),
            "occurred_on": v.not_in_future("occurred_on", v.day("occurred_on", occurred_on), self.today()),
            "rectification_until": (
                v.day("rectification_until", rectification_until) if rectification_until not in (None, "") else None
            ),
        }

        def decide() -> tuple[list[Aggregate], UUID]:
            round_ = self._get(Round, request["round_id"], "round")
            round_.deliver_feedback(request["occurred_on"], request["rectification_until"], actor=str(actor))
            return [round_], round_.id

        return self._execute("deliver_feedback", actor, idempotency_key, request, decide)

    @command("define_category")
    def define_category(
        self,
        actor: Actor,
        *,
        round_id: UUID | str,
        path: Sequence[int] | str,
        title: str,
        idempotency_key: str | None = None,
    ) -> Receipt:
        request: dict[str, Any] = {
            "round_id": v.identifier("round_id", round_id),
            "path": v.path("path", path),
            "title": v.text("title", title, max_length=v.TITLE),
        }

        def decide() -> tuple[list[Aggregate], UUID]:
            round_ = self._get(Round, request["round_id"], "round")
            round_.define_category(request["path"], request["title"], actor=str(actor))
            return [round_], round_.id

        return self._execute("define_category", actor, idempotency_key, request, decide)

    @command("define_activity_kind")
    def define_activity_kind(
        self,
        actor: Actor,
        *,
        round_id: UUID | str,
        name: str,
        money: MoneyRole | str,
        idempotency_key: str | None = None,
    ) -> Receipt:
        """An entry of the round's catalogue: what the amounts of an activity kind count as
        (rectified funds, recoveries, retrieved losses, or none of these)."""
        request: dict[str, Any] = {
            "round_id": v.identifier("round_id", round_id),
            "name": v.text("name", name, max_length=v.NAME),
            "money": v.choice("money", MoneyRole, money),
        }

        def decide() -> tuple[list[Aggregate], UUID]:
            round_ = self._get(Round, request["round_id"], "round")
            round_.define_activity_kind(request["name"], request["money"], actor=str(actor))
            return [round_], round_.id

        return self._execute("define_activity_kind", actor, idempotency_key, request, decide)

    @command("draft_narrative")
    def draft_narrative(
        self,
        actor: Actor,
        *,
        round_id: UUID | str,
        unit_id: UUID | str,
        section: NarrativeSection | str,
        intro: str,
        items: Sequence[tuple[str, str]] = (),
        idempotency_key: str | None = None,
    ) -> Receipt:
        uid = v.identifier("unit_id", unit_id)
        authorise(actor, "draft_narrative", uid)
        if len(items) > 20:
            raise InvalidInput("items", f"at most 20 numbered paragraphs, got {len(items)}")
        request: dict[str, Any] = {
            "round_id": v.identifier("round_id", round_id),
            "unit_id": uid,
            "section": v.choice("section", NarrativeSection, section),
            "intro": v.text("intro", intro, max_length=v.LONG_TEXT, required=False),
            "items": tuple(
                NarrativeItem(
                    v.text(f"items[{i}].title", title, max_length=v.TITLE, required=False),
                    v.text(f"items[{i}].text", body, max_length=v.LONG_TEXT),
                )
                for i, (title, body) in enumerate(items)
            ),
        }
        if not request["intro"] and not request["items"]:
            raise InvalidInput("intro", "a narrative needs an introduction or at least one paragraph")

        def decide() -> tuple[list[Aggregate], UUID]:
            round_ = self._get(Round, request["round_id"], "round")
            round_.draft_narrative(actor=str(actor), **{k: x for k, x in request.items() if k != "round_id"})
            return [round_], round_.id

        return self._execute("draft_narrative", actor, idempotency_key, request, decide)

    # -- findings: the inspection office ----------------------------------------------------

    @command("raise_finding")
    def raise_finding(
        self,
        actor: Actor,
        *,
        round_id: UUID | str,
        unit_id: UUID | str,
        category: Sequence[int] | str,
        ordinal: int,
        heading: str,
        problem: str,
        code: str | None = None,
        amounts: Sequence[tuple[str, Decimal | str, str]] = (),
        disclosure: Disclosure | str = Disclosure.PUBLIC,
        withholding_reason: str = "",
        idempotency_key: str | None = None,
    ) -> Receipt:
        category_path = v.path("category", category)
        place_ordinal = v.ordinal("ordinal", ordinal)
        request: dict[str, Any] = {
            "round_id": v.identifier("round_id", round_id),
            "unit_id": v.identifier("unit_id", unit_id),
            "category": category_path,
            "ordinal": place_ordinal,
            "code": v.text("code", code, max_length=v.CODE) if code else code_for(category_path, place_ordinal),
            "heading": v.text("heading", heading, max_length=v.TITLE),
            "problem": v.text("problem", problem, max_length=v.TEXT),
            "amounts": _amounts(amounts),
            "disclosure": v.choice("disclosure", Disclosure, disclosure),
            "withholding_reason": v.text("withholding_reason", withholding_reason, max_length=v.TEXT, required=False),
        }
        finding_id = finding_id_for(request["round_id"], request["code"])

        def decide() -> tuple[list[Aggregate], UUID]:
            round_ = self._get(Round, request["round_id"], "round")
            round_.require_feedback()
            round_.require_unit(request["unit_id"])
            if round_.has_category((*category_path, place_ordinal)):
                raise InvalidInput(
                    "ordinal",
                    f"{'.'.join(map(str, (*category_path, place_ordinal)))} is a category of "
                    "this round: raise the finding under it",
                )
            if not round_.has_category(category_path):
                raise InvalidInput(
                    "category", f"category {'.'.join(map(str, category_path))} is not defined in this round"
                )
            if self.work.exists(finding_id):
                raise InvalidInput("code", f"{request['code']} is already used in this round")
            finding = Finding.raise_finding(finding_id=finding_id, actor=str(actor), **request)
            return [finding], finding_id

        return self._execute("raise_finding", actor, idempotency_key, request, decide)

    @command("correct_amounts_involved")
    def correct_amounts_involved(
        self,
        actor: Actor,
        *,
        finding_id: UUID | str,
        amounts: Sequence[tuple[str, Decimal | str, str]],
        reason: str,
        idempotency_key: str | None = None,
    ) -> Receipt:
        """Adds or corrects the amounts involved: the list given replaces the recorded one."""
        request: dict[str, Any] = {
            "finding_id": v.identifier("finding_id", finding_id),
            "amounts": _amounts(amounts),
            "reason": v.text("reason", reason, max_length=v.TEXT),
        }
        return self._on_finding(
            "correct_amounts_involved",
            actor,
            idempotency_key,
            request,
            lambda f, who: f.correct_amounts_involved(request["amounts"], request["reason"], actor=who),
        )

    @command("note_progress")
    def note_progress(
        self,
        actor: Actor,
        *,
        finding_id: UUID | str,
        progress: str,
        remark: str = "",
        idempotency_key: str | None = None,
    ) -> Receipt:
        """Notes the ledger's free text of a finding: 整改进展 (progress) and 备注 (remark)."""
        request: dict[str, Any] = {
            "finding_id": v.identifier("finding_id", finding_id),
            "progress": v.text("progress", progress, max_length=v.TEXT, required=False),
            "remark": v.text("remark", remark, max_length=v.TEXT, required=False),
        }
        return self._on_finding(
            "note_progress",
            actor,
            idempotency_key,
            request,
            lambda f, who: f.note_progress(request["progress"], request["remark"], actor=who),
        )

    @command("extend_deadline")
    def extend_deadline(
        self,
        actor: Actor,
        *,
        finding_id: UUID | str,
        due_on: date | str,
        reason: str,
        idempotency_key: str | None = None,
    ) -> Receipt:
        request: dict[str, Any] = {
            "finding_id": v.identifier("finding_id", finding_id),
            "due_on": v.day("due_on", due_on),
            "reason": v.text("reason", reason, max_length=v.TEXT),
        }

        def command(finding: Finding, who: str) -> None:
            self._due_after_feedback(finding, request["due_on"])
            finding.extend_deadline(Deadline(DeadlineKind.DATE, request["due_on"]), request["reason"], actor=who)

        return self._on_finding("extend_deadline", actor, idempotency_key, request, command)

    @command("record_verification")
    def record_verification(
        self,
        actor: Actor,
        *,
        finding_id: UUID | str,
        passed: bool,
        verified_by: str,
        occurred_on: date | str,
        comment: str = "",
        idempotency_key: str | None = None,
    ) -> Receipt:
        if not isinstance(passed, bool):
            raise InvalidInput("passed", "must be true or false")
        request: dict[str, Any] = {
            "finding_id": v.identifier("finding_id", finding_id),
            "passed": passed,
            "verified_by": v.text("verified_by", verified_by, max_length=v.NAME),
            "occurred_on": self._past_day("occurred_on", occurred_on),
            "comment": v.text("comment", comment, max_length=v.TEXT, required=not passed),
        }
        return self._on_finding(
            "record_verification",
            actor,
            idempotency_key,
            request,
            lambda f, who: f.record_verification(actor=who, **_without(request, "finding_id")),
        )

    @command("close_finding")
    def close_finding(
        self,
        actor: Actor,
        *,
        finding_id: UUID | str,
        occurred_on: date | str,
        comment: str = "",
        idempotency_key: str | None = None,
    ) -> Receipt:
        request: dict[str, Any] = {
            "finding_id": v.identifier("finding_id", finding_id),
            "occurred_on": self._past_day("occurred_on", occurred_on),
            "comment": v.text("comment", comment, max_length=v.TEXT, required=False),
        }

        def close(finding: Finding, who: str) -> None:
            required = self._get(Round, finding.round_id, "round").evidence_required_for_close
            finding.close(request["occurred_on"], request["comment"], actor=who, evidence_required=required)

        return self._on_finding("close_finding", actor, idempotency_key, request, close)

    @command("record_relapse_check")
    def record_relapse_check(
        self,
        actor: Actor,
        *,
        finding_id: UUID | str,
        outcome: RelapseOutcome | str,
        checked_by: str,
        occurred_on: date | str,
        comment: str = "",
        idempotency_key: str | None = None,
    ) -> Receipt:
        checked = v.choice("outcome", RelapseOutcome, outcome)
        request: dict[str, Any] = {
            "finding_id": v.identifier("finding_id", finding_id),
            "outcome": checked,
            "checked_by": v.text("checked_by", checked_by, max_length=v.NAME),
            "occurred_on": self._past_day("occurred_on", occurred_on),
            "comment": v.text("comment", comment, max_length=v.TEXT, required=checked is RelapseOutcome.RELAPSED),
        }
        return self._on_finding(
            "record_relapse_check",
            actor,
            idempotency_key,
            request,
            lambda f, who: f.record_relapse_check(actor=who, **_without(request, "finding_id")),
        )

    @command("reopen_finding")
    def reopen_finding(
        self,
        actor: Actor,
        *,
        finding_id: UUID | str,
        occurred_on: date | str,
        reason: str,
        idempotency_key: str | None = None,
    ) -> Receipt:
        request: dict[str, Any] = {
            "finding_id": v.identifier("finding_id", finding_id),
            "occurred_on": self._past_day("occurred_on", occurred_on),
            "reason": v.text("reason", reason, max_length=v.TEXT),
        }
        return self._on_finding(
            "reopen_finding",
            actor,
            idempotency_key,
            request,
            lambda f, who: f.reopen(request["occurred_on"], request["reason"], actor=who),
        )

    # -- findings: the unit -----------------------------------------------------------------

    @command("assign_responsibility")
    def assign_responsibility(
        self,
        actor: Actor,
        *,
        finding_id: UUID | str,
        department: str = "",
        leader: str = "",
        person: str = "",
        deadline_kind: DeadlineKind | str = DeadlineKind.DATE,
        due_on: date | str | None = None,
        idempotency_key: str | None = None,
    ) -> Receipt:
        kind = v.choice("deadline_kind", DeadlineKind, deadline_kind)
        due = v.day("due_on", due_on) if due_on not in (None, "") else None
        if kind is DeadlineKind.DATE and due is None:
            raise InvalidInput("due_on", "a DATE deadline needs its due date")
        responsibility = Responsibility(
            department=v.text("department", department, max_length=v.NAME, required=False),
            leader=v.text("leader", leader, max_length=v.NAME, required=False),
            person=v.text("person", person, max_length=v.NAME, required=False),
            deadline=Deadline(kind, due),
        )
        if not (responsibility.department or responsibility.leader or responsibility.person):
            raise InvalidInput("department", "name the responsible department, leader or person")
        request: dict[str, Any] = {
            "finding_id": v.identifier("finding_id", finding_id),
            "responsibility": responsibility,
        }

        def command(finding: Finding, who: str) -> None:
            if due is not None:
                self._due_after_feedback(finding, due)
            finding.assign_responsibility(request["responsibility"], actor=who)

        return self._on_finding("assign_responsibility", actor, idempotency_key, request, command)

    @command("plan_measure")
    def plan_measure(
        self,
        actor: Actor,
        *,
        finding_id: UUID | str,
        text: str,
        measure_id: UUID | str | None = None,
        idempotency_key: str | None = None,
    ) -> Receipt:
        """Plans a measure; its id may be decided by the caller (an import plans ahead), else here."""
        request: dict[str, Any] = {
            "finding_id": v.identifier("finding_id", finding_id),
            "text": v.text("text", text, max_length=v.TEXT),
            "measure_id": v.identifier("measure_id", measure_id) if measure_id not in (None, "") else None,
        }
        figures_in(request["text"], "text")
        planned: UUID = request["measure_id"] or uuid4()
        return self._on_finding(
            "plan_measure",
            actor,
            idempotency_key,
            request,
            lambda f, who: f.plan_measure(planned, request["text"], actor=who),
            entity_id=planned,
        )

    @command("complete_measure")
    def complete_measure(
        self,
        actor: Actor,
        *,
        finding_id: UUID | str,
        measure_id: UUID | str,
        occurred_on: date | str,
        note: str = "",
        idempotency_key: str | None = None,
    ) -> Receipt:
        request: dict[str, Any] = {
            "finding_id": v.identifier("finding_id", finding_id),
            "measure_id": v.identifier("measure_id", measure_id),
            "occurred_on": self._past_day("occurred_on", occurred_on),
            "note": v.text("note", note, max_length=v.TEXT, required=False),
        }
        return self._on_finding(
            "complete_measure",
            actor,
            idempotency_key,
            request,
            lambda f, who: f.complete_measure(
                request["measure_id"], request["occurred_on"], request["note"], actor=who
            ),
        )

    @command("record_activity")
    def record_activity(
        self,
        actor: Actor,
        *,
        finding_id: UUID | str,
        kind: str,
        occurred_on: date | str,
        count: int | None = None,
        amount: Decimal | str | None = None,
        unit: str | None = None,
        description: str = "",
        measure_id: UUID | str | None = None,
        activity_id: UUID | str | None = None,
        idempotency_key: str | None = None,
    ) -> Receipt:
        given_id = v.identifier("activity_id", activity_id) if activity_id not in (None, "") else None
        request = {
            "finding_id": v.identifier("finding_id", finding_id),
            "kind": v.text("kind", kind, max_length=v.NAME),
            "occurred_on": self._past_day("occurred_on", occurred_on),
            "count": v.count("count", count) if count is not None else None,
            "amount": v.amount("amount", amount) if amount is not None else None,
            "unit": v.text("unit", unit if unit is not None else ("次" if count is not None else ""), max_length=10),
            "description": v.text("description", description, max_length=v.TEXT, required=False),
            "measure_id": v.identifier("measure_id", measure_id) if measure_id not in (None, "") else None,
        }
        if given_id is not None:
            request["activity_id"] = given_id
        activity_id = given_id or uuid4()
        return self._on_finding(
            "record_activity",
            actor,
            idempotency_key,
            request,
            lambda f, who: f.record_activity(
                activity_id=activity_id, actor=who, **_without(request, "finding_id", "activity_id")
            ),
            entity_id=activity_id,
        )

    @command("retract_activity")
    def retract_activity(
        self,
        actor: Actor,
        *,
        finding_id: UUID | str,
        activity_id: UUID | str,
        reason: str,
        idempotency_key: str | None = None,
    ) -> Receipt:
        request: dict[str, Any] = {
            "finding_id": v.identifier("finding_id", finding_id),
            "activity_id": v.identifier("activity_id", activity_id),
            "reason": v.text("reason", reason, max_length=v.TEXT),
        }
        return self._on_finding(
            "retract_activity",
            actor,
            idempotency_key,
            request,
            lambda f, who: f.retract_activity(request["activity_id"], request["reason"], actor=who),
        )

    @command("report_rectification")
    def report_rectification(
        self,
        actor: Actor,
        *,
        finding_id: UUID | str,
        occurred_on: date | str,
        summary: str,
        idempotency_key: str | None = None,
    ) -> Receipt:
        return self._dated_summary(
            "report_rectification",
            actor,
            idempotency_key,
            finding_id,
            occurred_on,
            summary,
            Finding.report_rectification,
        )

    @command("mark_long_term")
    def mark_long_term(
        self,
        actor: Actor,
        *,
        finding_id: UUID | str,
        occurred_on: date | str,
        summary: str,
        idempotency_key: str | None = None,
    ) -> Receipt:
        return self._dated_summary(
            "mark_long_term", actor, idempotency_key, finding_id, occurred_on, summary, Finding.mark_long_term
        )

    @command("mark_partly_rectified")
    def mark_partly_rectified(
        self,
        actor: Actor,
        *,
        finding_id: UUID | str,
        occurred_on: date | str,
        summary: str,
        idempotency_key: str | None = None,
    ) -> Receipt:
        """部分整改: part is done, the rest goes on (the summary says which)."""
        return self._dated_summary(
            "mark_partly_rectified",
            actor,
            idempotency_key,
            finding_id,
            occurred_on,
            summary,
            Finding.mark_partly_rectified,
        )

    def _dated_summary(
        self,
        command: str,
        actor: Actor,
        key: str | None,
        finding_id: UUID | str,
        occurred_on: date | str,
        summary: str,
        change: Callable[..., None],
    ) -> Receipt:
        """A report or a long-term mark: a finding, a business date, a summary."""
        request: dict[str, Any] = {
            "finding_id": v.identifier("finding_id", finding_id),
            "occurred_on": self._past_day("occurred_on", occurred_on),
            "summary": v.text("summary", summary, max_length=v.TEXT),
        }
        return self._on_finding(
            command,
            actor,
            key,
            request,
            lambda f, who: change(f, request["occurred_on"], request["summary"], actor=who),
        )

    # -- evidence (佐证材料) -----------------------------------------------------------------

    @command("attach_evidence")
    def attach_evidence(
        self,
        actor: Actor,
        *,
        finding_id: UUID | str,
        stream: BinaryIO,
        file_name: str,
        target: EvidenceTarget | str,
        target_ref: UUID | str | int | None = None,
        disclosure: Disclosure | str = Disclosure.PUBLIC,
        note: str = "",
        idempotency_key: str | None = None,
    ) -> Receipt:
        """Stores a file once per SHA-256 beside the log, then records the attachment, which names the file
        by that hash. The stream is read once, in chunks; the checks that need no file (the finding, the
        caller's right, the step it is attached to) come first, so a refused request stores nothing, and so
        does a file over the size limit or of a type sniffed from its content that is not evidence."""
        if self.files is None:
            raise RuntimeError("attaching evidence needs the file store (see rectify.bootstrap)")
        fid = v.identifier("finding_id", finding_id)
        name = v.file_name("file_name", file_name)
        kind = v.choice("target", EvidenceTarget, target)
        shown = v.choice("disclosure", Disclosure, disclosure)
        remark = v.text("note", note, max_length=v.TEXT, required=False)
        if kind.by_id:
            if target_ref in (None, ""):
                raise InvalidInput("target_ref", f"name the {kind.value.lower()} by its id")
            ref = str(v.identifier("target_ref", target_ref))
        elif target_ref in (None, ""):
            ref = ""  # the latest one
        else:
            ref = str(v.number("target_ref", target_ref))
        finding = self._get(Finding, fid, "finding")
        if actor.role is Role.UNIT and finding.unit_id != actor.unit_id:
            raise NotFound("finding", fid)  # as _on_finding: another unit's finding is as if it did not exist
        authorise(actor, "attach_evidence", finding.unit_id)
        ref = ref or str(finding.recorded(kind))
        finding.require_target(kind, ref)
        stored = self.files.store(stream, name)
        request: dict[str, Any] = {
            "finding_id": fid,
            "sha256": stored.sha256,
            "file_name": name,
            "target": kind,
            "target_ref": ref,
            "disclosure": shown,
            "note": remark,
        }
        attachment_id = uuid4()

        def attach(f: Finding, who: str) -> None:
            attachment = Attachment(
                attachment_id=attachment_id,
                sha256=stored.sha256,
                size=stored.size,
                media_type=stored.media_type,
                file_name=stored.file_name,
                target=kind,
                target_ref=ref,
                disclosure=shown,
                note=remark,
                attached_on=self.today(),
                actor=who,
            )
            f.attach_evidence(attachment, actor=who)

        return self._on_finding("attach_evidence", actor, idempotency_key, request, attach, entity_id=attachment_id)

    @command("withdraw_evidence")
    def withdraw_evidence(
        self,
        actor: Actor,
        *,
        finding_id: UUID | str,
        attachment_id: UUID | str,
        reason: str,
        idempotency_key: str | None = None,
    ) -> Receipt:
        """Takes an attachment back (it stays in the record, marked withdrawn); the file stays stored."""
        request: dict[str, Any] = {
            "finding_id": v.identifier("finding_id", finding_id),
            "attachment_id": v.identifier("attachment_id", attachment_id),
            "reason": v.text("reason", reason, max_length=v.TEXT),
        }
        return self._on_finding(
            "withdraw_evidence",
            actor,
            idempotency_key,
            request,
            lambda f, who: f.withdraw_evidence(request["attachment_id"], request["reason"], actor=who),
            entity_id=request["attachment_id"],
        )

    @command("set_close_out_evidence_rule")
    def set_close_out_evidence_rule(
        self, actor: Actor, *, round_id: UUID | str, required: bool, idempotency_key: str | None = None
    ) -> Receipt:
        """销号需佐证: whether the round's findings need evidence attached before they are closed."""
        if not isinstance(required, bool):
            raise InvalidInput("required", "must be true or false")
        request: dict[str, Any] = {"round_id": v.identifier("round_id", round_id), "required": required}

        def decide() -> tuple[list[Aggregate], UUID]:
            round_ = self._get(Round, request["round_id"], "round")
            round_.require_evidence_for_close(required, actor=str(actor))
            return [round_], round_.id

        return self._execute("set_close_out_evidence_rule", actor, idempotency_key, request, decide)

    # -- 回头看 and repeat problems -------------------------------------------------------------

    @command("set_relapse_check_interval")
    def set_relapse_check_interval(
        self, actor: Actor, *, round_id: UUID | str, months: int, idempotency_key: str | None = None
    ) -> Receipt:
        """How many months after a close-out its relapse check (回头看) falls due in this round (default 6)."""
        request: dict[str, Any] = {
            "round_id": v.identifier("round_id", round_id),
            "months": v.count("months", months),
        }

        def decide() -> tuple[list[Aggregate], UUID]:
            round_ = self._get(Round, request["round_id"], "round")
            round_.set_relapse_check_interval(request["months"], actor=str(actor))
            return [round_], round_.id

        return self._execute("set_relapse_check_interval", actor, idempotency_key, request, decide)

    @command("link_repeat")
    def link_repeat(
        self,
        actor: Actor,
        *,
        finding_id: UUID | str,
        earlier_finding_id: UUID | str,
        reason: str = "",
        idempotency_key: str | None = None,
    ) -> Receipt:
        """屡查屡犯: the finding is the same problem as a finding of the same unit in an earlier round."""
        request: dict[str, Any] = {
            "finding_id": v.identifier("finding_id", finding_id),
            "earlier_finding_id": v.identifier("earlier_finding_id", earlier_finding_id),
            "reason": v.text("reason", reason, max_length=v.TEXT, required=False),
        }

        def link(finding: Finding, who: str) -> None:
            earlier = self._get(Finding, request["earlier_finding_id"], "finding")
            if earlier.unit_id != finding.unit_id:
                raise InvalidInput("earlier_finding_id", "a repeat problem is one of the same unit")
            this_round = self._get(Round, finding.round_id, "round")
            earlier_round = self._get(Round, earlier.round_id, "round")
            if earlier.round_id != finding.round_id and not _fed_back_before(earlier_round, this_round):
                raise InvalidInput("earlier_finding_id", "its round's feedback did not come before this round's")
            link_value = RepeatLink(
                earlier_finding_id=earlier.id,
                earlier_round_id=earlier.round_id,
                earlier_code=earlier.code,
                earlier_disclosure=earlier.disclosure,
                reason=request["reason"],
                actor=who,
            )
            finding.link_repeat(link_value, actor=who)

        return self._on_finding("link_repeat", actor, idempotency_key, request, link)

    @command("unlink_repeat")
    def unlink_repeat(
        self, actor: Actor, *, finding_id: UUID | str, reason: str, idempotency_key: str | None = None
    ) -> Receipt:
        request: dict[str, Any] = {
            "finding_id": v.identifier("finding_id", finding_id),
            "reason": v.text("reason", reason, max_length=v.TEXT),
        }
        return self._on_finding(
            "unlink_repeat",
            actor,
            idempotency_key,
            request,
            lambda f, who: f.unlink_repeat(request["reason"], actor=who),
        )

    # -- standing rules (长效机制) --------------------------------------------------------------

    @command("adopt_rule")
    def adopt_rule(
        self,
        actor: Actor,
        *,
        title: str,
        activity_kind: str,
        minimum: int,
        period: RulePeriod | str,
        starts_on: date | str,
        round_id: UUID | str | None = None,
        unit_id: UUID | str | None = None,
        idempotency_key: str | None = None,
    ) -> Receipt:
        """A standing rule: at least `minimum` activities of `activity_kind` every period from `starts_on`,
        for a round (each of its units), a unit, or a unit within a round. A unit adopts rules of its own."""
        rid = v.identifier("round_id", round_id) if round_id not in (None, "") else None
        uid = v.identifier("unit_id", unit_id) if unit_id not in (None, "") else None
        if actor.role is Role.UNIT:
            authorise(actor, "adopt_rule", uid)  # a unit binds itself, never a whole round
        request: dict[str, Any] = {
            "round_id": rid,
            "unit_id": uid,
            "title": v.text("title", title, max_length=v.TEXT),
            "terms": RuleTerms(
                effective_from=v.day("starts_on", starts_on),
                activity_kind=v.text("activity_kind", activity_kind, max_length=v.NAME),
                minimum=v.count("minimum", minimum),
                period=v.choice("period", RulePeriod, period),
            ),
        }
        rule_id = uuid4()

        def decide() -> tuple[list[Aggregate], UUID]:
            if rid is not None:
                round_ = self._get(Round, rid, "round")
                if uid is not None:
                    round_.require_unit(uid)
            elif uid is not None:
                self._get(Unit, uid, "unit")
            rule = StandingRule.adopt(rule_id=rule_id, actor=str(actor), **request)
            return [rule], rule_id

        return self._execute("adopt_rule", actor, idempotency_key, request, decide)

    @command("amend_rule")
    def amend_rule(
        self,
        actor: Actor,
        *,
        rule_id: UUID | str,
        effective_from: date | str,
        reason: str,
        activity_kind: str | None = None,
        minimum: int | None = None,
        period: RulePeriod | str | None = None,
        idempotency_key: str | None = None,
    ) -> Receipt:
        """New terms from a date on (what is not given stays as it is); periods before it keep their terms."""
        request: dict[str, Any] = {
            "rule_id": v.identifier("rule_id", rule_id),
            "effective_from": v.day("effective_from", effective_from),
            "reason": v.text("reason", reason, max_length=v.TEXT),
            "activity_kind": v.text("activity_kind", activity_kind, max_length=v.NAME) if activity_kind else None,
            "minimum": v.count("minimum", minimum) if minimum is not None else None,
            "period": v.choice("period", RulePeriod, period) if period not in (None, "") else None,
        }

        def decide() -> tuple[list[Aggregate], UUID]:
            rule = self._rule_for(actor, "amend_rule", request["rule_id"])
            current = rule.current
            terms = RuleTerms(
                effective_from=request["effective_from"],
                activity_kind=request["activity_kind"] or current.activity_kind,
                minimum=request["minimum"] or current.minimum,
                period=request["period"] or current.period,
            )
            rule.amend(terms, request["reason"], actor=str(actor))
            return [rule], rule.id

        return self._execute("amend_rule", actor, idempotency_key, request, decide)

    @command("retire_rule")
    def retire_rule(
        self,
        actor: Actor,
        *,
        rule_id: UUID | str,
        occurred_on: date | str,
        reason: str,
        idempotency_key: str | None = None,
    ) -> Receipt:
        """The rule no longer applies from `occurred_on` on; its past periods stay as they were."""
        request: dict[str, Any] = {
            "rule_id": v.identifier("rule_id", rule_id),
            "occurred_on": v.day("occurred_on", occurred_on),
            "reason": v.text("reason", reason, max_length=v.TEXT),
        }

        def decide() -> tuple[list[Aggregate], UUID]:
            rule = self._rule_for(actor, "retire_rule", request["rule_id"])
            rule.retire(request["occurred_on"], request["reason"], actor=str(actor))
            return [rule], rule.id

        return self._execute("retire_rule", actor, idempotency_key, request, decide)

    def _rule_for(self, actor: Actor, command: str, rule_id: UUID) -> StandingRule:
        rule = self._get(StandingRule, rule_id, "rule")
        if actor.role is Role.UNIT:
            authorise(actor, command, rule.unit_id)  # a unit's own rule; a round-wide rule is the office's
        return rule

    # -- notices ----------------------------------------------------------------------------

    @command("publish_notice")
    def publish_notice(
        self,
        actor: Actor,
        *,
        round_id: UUID | str,
        unit_id: UUID | str,
        edition: Edition | str = Edition.PUBLIC,
        published_on: date | str | None = None,
        window_days: int = DEFAULT_WINDOW_DAYS,
        position: int | None = None,
        idempotency_key: str | None = None,
    ) -> Receipt:
        """Publishes a unit's notice as it stands at `position` (default: the head of the log).

        The notice is rendered here, once, and the digest of its text is recorded with the
        position and the template version, so that it can be rendered again byte for byte.
        """
        uid = v.identifier("unit_id", unit_id)
        authorise(actor, "publish_notice", uid)
        rid = v.identifier("round_id", round_id)
        chosen = v.choice("edition", Edition, edition)
        given_day = v.day("published_on", published_on) if published_on not in (None, "") else None
        if isinstance(window_days, bool) or not isinstance(window_days, int) or not 1 <= window_days <= 366:
            raise InvalidInput("window_days", f"a publicity window lasts 1 to 366 days, got {window_days!r}")
        if position is not None and (isinstance(position, bool) or not isinstance(position, int)):
            raise InvalidInput("position", "must be a whole number")
        # The request as the caller gave it: a retry (a day later, or after other writes) is the same request.
        request: dict[str, Any] = {
            "round_id": rid,
            "unit_id": uid,
            "edition": chosen,
            "published_on": given_day,
            "window_days": window_days,
            "position": position,
        }
        first_day = self._past_day("published_on", given_day or self.today())
        head = self.head()
        at = head if position is None else position
        if not 1 <= at <= head:
            raise InvalidInput("position", f"must be a position of the log, 1 to {head}")
        if self.notice_renderer is None:
            raise RuntimeError("publishing needs the notice renderer (see rectify.bootstrap)")
        until = window_end(first_day, window_days)
        rendered: dict[str, Publication] = {}

        def decide() -> tuple[list[Aggregate], UUID]:
            round_ = self._get(Round, rid, "round")
            round_.require_publishable(uid)  # before the rendering, which needs what it checks
            if "publication" not in rendered:  # rendered once, on the first attempt that gets here
                text, title, version = self.notice_renderer(rid, uid, chosen, at, first_day, until)  # type: ignore[misc] # checked for None above; mypy does not carry that into the closure
                rendered["publication"] = Publication(
                    notice_id=uuid4(),
                    unit_id=uid,
                    edition=chosen,
                    position=at,
                    published_on=first_day,
                    window_until=until,
                    sha256=digest(text),
                    template_version=version,
                    title=title,
                    actor=str(actor),
                )
            publication = rendered["publication"]
            round_.publish_notice(publication, actor=str(actor))
            return [round_], publication.notice_id

        receipt = self._execute("publish_notice", actor, idempotency_key, request, decide)
        return receipt if receipt.replayed else replace(receipt, sha256=rendered["publication"].sha256)

    # -- access tokens ----------------------------------------------------------------------

    @command("issue_token")
    def issue_token(
        self,
        actor: Actor,
        *,
        role: Role | str,
        label: str,
        unit_id: UUID | str | None = None,
        idempotency_key: str | None = None,
    ) -> Receipt:
        """Issues a bearer token; the secret is on the receipt, once, and only its digest is stored."""
        granted = v.choice("role", Role, role)
        if granted in (Role.PUBLIC, Role.SYSTEM):
            raise InvalidInput("role", "tokens are issued for the UNIT, INSPECTOR and ADMIN roles")
        unit = v.identifier("unit_id", unit_id) if unit_id not in (None, "") else None
        if (granted is Role.UNIT) != (unit is not None):
            raise InvalidInput("unit_id", "a UNIT token names its unit, and only a UNIT token does")
        request: dict[str, Any] = {"role": granted, "label": v.text("label", label, max_length=v.NAME), "unit_id": unit}
        secret = "rct_" + secrets.token_urlsafe(32)

        def decide() -> tuple[list[Aggregate], UUID]:
            if unit is not None:
                self._get(Unit, unit, "unit")
            token = AccessToken.issue(secret_digest=token_digest(secret), actor=str(actor), **request)
            return [token], token.id

        receipt = self._execute("issue_token", actor, idempotency_key, request, decide)
        if not receipt.replayed:
            return replace(receipt, secret=secret)
        # A retry: only the first answer carried the secret, and it may never have arrived. So the
        # retry gets a fresh token, and the token issued before it is revoked as replaced; a later
        # retry follows the chain of replacements to the live one.
        return replace(self._replace_token(actor, receipt.entity_id, request), replayed=True)

    def _replace_token(self, actor: Actor, first_id: UUID, request: dict[str, Any]) -> Receipt:
        secret = "rct_" + secrets.token_urlsafe(32)

        def decide() -> tuple[list[Aggregate], UUID]:
            current = self._get(AccessToken, first_id, "token")
            while current.replaced_by is not None:
                current = self._get(AccessToken, current.replaced_by, "token")
            if current.revoked:  # revoked on purpose since: a retry does not bring it back
                raise IllegalTransition("REVOKED", "the token issued under this idempotency key was revoked")
            fresh = AccessToken.issue(secret_digest=token_digest(secret), actor=str(actor), **request)
            current.replace_with(fresh.id, actor=str(actor))
            return [current, fresh], fresh.id

        return replace(self._execute("issue_token", actor, None, request, decide), secret=secret)

    @command("revoke_token")
    def revoke_token(
        self, actor: Actor, *, token_id: UUID | str, reason: str, idempotency_key: str | None = None
    ) -> Receipt:
        request: dict[str, Any] = {
            "token_id": v.identifier("token_id", token_id),
            "reason": v.text("reason", reason, max_length=v.TEXT),
        }

        def decide() -> tuple[list[Aggregate], UUID]:
            token = self._get(AccessToken, request["token_id"], "token")
            token.revoke(request["reason"], actor=str(actor))
            return [token], token.id

        return self._execute("revoke_token", actor, idempotency_key, request, decide)

    def authenticate(self, secret: str) -> Actor | None:
        """The actor a bearer token stands for, or None for an unknown or revoked token."""
        if not secret.startswith("rct_") or len(secret) > 100:
            return None
        try:
            token: AccessToken = self.repository.get(token_id(token_digest(secret)))
        except AggregateNotFoundError:
            return None
        if not isinstance(token, AccessToken) or token.revoked:
            return None
        return Actor(f"{token.label}#{str(token.id)[:8]}", token.role, token.unit_id)

    # -- machinery ---------------------------------------------------------------------------

    def _due_after_feedback(self, finding: Finding, due: date) -> None:
        feedback_on = self._get(Round, finding.round_id, "round").feedback_on
        if feedback_on is not None:
            v.not_before("due_on", due, feedback_on, "the feedback date")

    def _past_day(self, field: str, value: date | str) -> date:
        return v.not_in_future(field, v.day(field, value), self.today())

    def _get(self, cls: type[A], aggregate_id: UUID, kind: str) -> A:
        try:
            aggregate: A = self.work.get(aggregate_id)  # type: ignore[assignment] # checked below
        except AggregateNotFoundError:
            raise NotFound(kind, aggregate_id) from None
        if not isinstance(aggregate, cls):
            raise NotFound(kind, aggregate_id)
        return aggregate

    def _on_finding(
        self,
        command: str,
        actor: Actor,
        key: str | None,
        request: dict[str, Any],
        change: Callable[[Finding, str], None],
        *,
        entity_id: UUID | None = None,
    ) -> Receipt:
        """Loads the finding, checks the actor may act on its unit, and applies the change."""

        def decide() -> tuple[list[Aggregate], UUID]:
            finding = self._get(Finding, request["finding_id"], "finding")
            if actor.role is Role.UNIT and finding.unit_id != actor.unit_id:
                # Another unit's finding is, to a unit, as if it did not exist: a Forbidden here
                # would tell that an (internal) finding stands behind a guessed id.
                raise NotFound("finding", finding.id)
            authorise(actor, command, finding.unit_id)
            change(finding, str(actor))
            return [finding], entity_id or finding.id

        return self._execute(command, actor, key, request, decide)

    def _execute(
        self,
        command: str,
        actor: Actor,
        key: str | None,
        request: dict[str, Any],
        decide: Callable[[], tuple[list[Aggregate], UUID]],
    ) -> Receipt:
        return self.work.execute(command, actor, key, request, decide)

    def batch(self, work: Callable[[], T], *, creating: Collection[UUID] = ()) -> tuple[T, list[Receipt]]:
        """Runs `work`, whose commands are saved together in one transaction (rectify.unit_of_work);
        `creating`: the ids of the aggregates it means to create, for one look-up of them all."""
        return self.work.batch(work, creating=creating)


def _fed_back_before(earlier: Round, later: Round) -> bool:
    """Whether a round's feedback came before another's (a finding exists only after its round's feedback)."""
    if earlier.feedback_on is None or later.feedback_on is None:
        return False
    return earlier.feedback_on <= later.feedback_on


def _contact(address: str, phone: str, postcode: str, email: str, postal_address: str, area_code: str) -> Contact:
    contact = Contact(
        address=v.text("address", address, max_length=v.TITLE, required=False),
        phone=v.text("phone", phone, max_length=30, required=False),
        postcode=v.text("postcode", postcode, max_length=10, required=False),
        email=v.text("email", email, max_length=v.NAME, required=False),
        postal_address=v.text("postal_address", postal_address, max_length=v.TITLE, required=False),
        area_code=v.text("area_code", area_code, max_length=10, required=False),
    )
    if contact.postcode and not contact.postcode.isdigit():
        raise InvalidInput("postcode", "must be digits")
    if contact.email and ("@" not in contact.email or " " in contact.email):
        raise InvalidInput("email", "is not an email address")
    return contact


def _amounts(amounts: Sequence[tuple[str, Decimal | str, str]]) -> tuple[AmountInvolved, ...]:
    if isinstance(amounts, (str, bytes)) or len(amounts) > 20:
        raise InvalidInput("amounts", "must be a list of at most 20 (label, amount, unit) entries")
    return tuple(
        AmountInvolved(
            v.text(f"amounts[{i}].label", label, max_length=v.NAME),
            v.amount(f"amounts[{i}].amount", amount),
            v.text(f"amounts[{i}].unit", unit, max_length=10),
        )
        for i, (label, amount, unit) in enumerate(amounts)
    )


def _without(request: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: x for k, x in request.items() if k not in keys}
