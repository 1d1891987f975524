"""Who may do what (DESIGN.md, "Who may do what"): roles, actors, the write policy and the read policy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Final, Protocol
from uuid import UUID

from rectify.domain.errors import Forbidden
from rectify.domain.finding import Finding
from rectify.domain.round import Round
from rectify.domain.rule import StandingRule
from rectify.domain.unit import Unit
from rectify.domain.values import Attachment, Disclosure, Edition, Publication

# Re-exported: an Actor's role is part of this module's interface, and callers import it from here.
from rectify.domain.values import Role as Role


@dataclass(frozen=True)
class Actor:
    """The caller of a command; its string form is what events record as their actor."""

    name: str
    role: Role
    unit_id: UUID | None = None
    #: Set only by the 台账 import (Plan.actor), never by a token: the office keeping its 汇总台账.
    importing_ledger: bool = False

    def __str__(self) -> str:
        return f"{self.role.value.lower()}:{self.name}"

    def importing(self) -> Actor:
        """The same caller, importing a 台账: its events still print as this actor (str is unchanged)."""
        return Actor(self.name, self.role, self.unit_id, importing_ledger=True)

    def may_read_unit(self, unit_id: UUID) -> bool:
        """Whether everything of this unit, internal items included, is visible to the caller."""
        if self.role is Role.UNIT:
            return self.unit_id == unit_id
        return self.role is not Role.PUBLIC

    @property
    def sees_everything(self) -> bool:
        """The inspection office, admins and the system itself read every unit in full, and the whole log."""
        return self.role in (Role.INSPECTOR, Role.ADMIN, Role.SYSTEM)


PUBLIC = Actor("anonymous", Role.PUBLIC)

# -- the write policy ---------------------------------------------------------------------------

#: Commands a unit token may give, for its own unit only.
UNIT_COMMANDS = frozenset(
    {
        "assign_responsibility",
        "plan_measure",
        "complete_measure",
        "record_activity",
        "retract_activity",
        "report_rectification",
        "mark_long_term",
        "mark_partly_rectified",
        "note_progress",
        "draft_narrative",
        "publish_notice",
        "change_unit_contact",
        "attach_evidence",
        "withdraw_evidence",
        "adopt_rule",  # for its own unit only (a round's rules are the office's)
        "amend_rule",
        "retire_rule",
    }
)

#: Commands of the district inspection office.
INSPECTOR_COMMANDS = frozenset(
    {
        "open_round",
        "deliver_feedback",
        "define_category",
        "define_activity_kind",
        "raise_finding",
        "correct_amounts_involved",
        "note_progress",
        "extend_deadline",
        "record_verification",
        "close_finding",
        "record_relapse_check",
        "reopen_finding",
        "publish_notice",
        "attach_evidence",
        "withdraw_evidence",
        "set_close_out_evidence_rule",
        "set_relapse_check_interval",
        "link_repeat",
        "unlink_repeat",
        "adopt_rule",
        "amend_rule",
        "retire_rule",
    }
)

#: What the district inspection office may record when it imports a 台账, beyond its own commands. The office
#: keeps the consolidated ledger (汇总台账) of every unit, so its import records the units' reported steps as the
#: sheet has them, with the office as their actor. Never through the single mutations: a token's actor is never
#: importing_ledger, so an INSPECTOR token alone still plans, records and reports nothing.
LEDGER_IMPORT_COMMANDS = frozenset(
    {
        "assign_responsibility",
        "plan_measure",
        "complete_measure",
        "record_activity",
        "report_rectification",
        "mark_long_term",
        "mark_partly_rectified",
        "note_progress",
    }
)

ADMIN_COMMANDS = frozenset({"register_unit", "change_unit_contact", "issue_token", "revoke_token"})

ALL_COMMANDS = UNIT_COMMANDS | INSPECTOR_COMMANDS | ADMIN_COMMANDS


def authorise_role(actor: Actor, command: str) -> None:
    """Raises Forbidden if the actor's role can never give this command, before any input is read."""
    assert command in ALL_COMMANDS, command
    role = actor.role
    allowed = (
        role is Role.SYSTEM
        or (role is Role.INSPECTOR and command in INSPECTOR_COMMANDS)
        or (role is Role.INSPECTOR and actor.importing_ledger and command in LEDGER_IMPORT_COMMANDS)
        or (role is Role.ADMIN and command in ADMIN_COMMANDS)
        or (role is Role.UNIT and command in UNIT_COMMANDS)
    )
    if not allowed:
        raise Forbidden(f"{command}: not allowed for the {role.value.lower()} role")


def authorise(actor: Actor, command: str, unit_id: UUID | None = None) -> None:
    """Raises Forbidden unless the actor may give this command (for this unit, where one applies)."""
    authorise_role(actor, command)
    if actor.role is Role.UNIT and (unit_id is None or actor.unit_id != unit_id):
        raise Forbidden(f"{command}: a unit token acts only on its own unit")


# -- the read policy ----------------------------------------------------------------------------
#
# The front door (rectify.queries) applies these to everything it returns; nothing else decides
# who sees what.


class OfAUnit(Protocol):
    """A finding as the read side holds it (a ledger row): whose it is, and whether it is public.
    Read-only, so that a frozen dataclass (the ledger row) satisfies it."""

    @property
    def unit_id(self) -> UUID: ...

    @property
    def disclosure(self) -> Disclosure: ...


def may_see_finding(actor: Actor, finding: OfAUnit) -> bool:
    """A public finding is visible to all; an internal one only to who may read its unit in full.
    To everyone else an internal finding is as if it did not exist."""
    return finding.disclosure is Disclosure.PUBLIC or actor.may_read_unit(finding.unit_id)


def may_see_attachment(actor: Actor, finding: OfAUnit, attachment: Attachment) -> bool:
    """Evidence follows the rules of internal findings: an internal attachment, or any attachment of an internal
    finding, is seen only by who may read the finding's unit in full. A withdrawn one only by them too (its record
    stays, marked, for the office and the unit)."""
    if actor.may_read_unit(finding.unit_id):
        return True
    return (
        finding.disclosure is Disclosure.PUBLIC
        and attachment.disclosure is Disclosure.PUBLIC
        and not attachment.withdrawn
    )


def may_see_repeat(actor: Actor, finding: OfAUnit, earlier_disclosure: Disclosure) -> bool:
    """Whether the caller may know a finding repeats an earlier one: it must see both."""
    return actor.may_read_unit(finding.unit_id) or earlier_disclosure is Disclosure.PUBLIC


def may_read_notice(publication: Publication, actor: Actor, today: date) -> bool:
    """Who may read a published notice: whoever may read its unit in full, any edition, any time;
    everyone else the public edition within its publicity window (公开期限)."""
    return actor.may_read_unit(publication.unit_id) or (
        publication.edition is Edition.PUBLIC and publication.published_on <= today <= publication.window_until
    )


def may_filter_by_department(actor: Actor, department: str | None) -> None:
    """Raises Forbidden for the public: responsibilities are not shown to it. (A unit token may filter
    a list by department: rows it may not read in full match no department.)"""
    if department is not None and actor.role is Role.PUBLIC:
        raise Forbidden("department: responsibilities are not shown to the public")


def may_count_by_department(actor: Actor, department: str | None, unit_id: UUID | None) -> None:
    """Figures by department: not for the public, and a unit token counts only its own unit's."""
    may_filter_by_department(actor, department)
    if department is not None and actor.role is Role.UNIT and unit_id != actor.unit_id:
        # Another unit's responsibilities are not the caller's to see, nor to count.
        raise Forbidden("department: a unit token sees the departments of its own unit only (scope it with unitId)")


def counts_withheld(actor: Actor, *, unit_id: UUID | None, category: Any, department: str | None) -> bool:
    """Whether figures for this scope may say how many findings the actor cannot see.

    Withheld items are counted for the district, a round or a unit: that says how many there are,
    not where. A category or department would place them (a category of one withheld finding names
    its place, and its id follows from its code), so there the count is left out (null) for whoever
    may not see everything in the scope. The rule depends on the caller and the scope only, never
    on whether anything is withheld: a null says nothing."""
    if actor.sees_everything or (unit_id is not None and actor.may_read_unit(unit_id)):
        return True
    return category is None and department is None


def log_scope(actor: Actor) -> UUID | None:
    """Which part of the event log the actor may read: None for all of it (the inspection office,
    admins), a unit id for that unit's own part; Forbidden for everyone else."""
    if actor.sees_everything:
        return None
    if actor.role is Role.UNIT and actor.unit_id is not None:
        return actor.unit_id
    raise Forbidden("the event log is open to the inspection office, admins, and a unit for its own part")


# -- who may see that an event happened (positions) --------------------------------------------
#
# A log position is a global counter: if the public saw `head` move whenever a unit worked on an
# internal finding, it would learn when that work was done. So each event has an audience, and a
# position shown to an actor is that of the last event the actor may see.

#: The audience of an event everyone may see.
EVERYONE: Final = "*"


def audience_of(event: Any, finding: Any = None) -> str | UUID | None:
    """Who may see that `event` happened: EVERYONE, one unit's id (that unit, with the inspection
    office), or None (the office and admins only: access tokens, idempotency records).

    For a finding's event, `finding` is what tells its unit and disclosure: the folded Finding, or
    the event that raised it."""
    if isinstance(event, Finding.Event):
        unit: UUID = finding.unit_id
        if finding.disclosure is not Disclosure.PUBLIC:
            return unit
        # Work on internal evidence of a public finding must not show, even as a moment, to the public.
        if isinstance(event, Finding.EvidenceAttached) and event.attachment.disclosure is not Disclosure.PUBLIC:
            return unit
        if isinstance(event, Finding.EvidenceWithdrawn) and event.disclosure is not Disclosure.PUBLIC:
            return unit
        return EVERYONE
    if isinstance(event, Round.NoticePublished):
        publication = event.publication
        return EVERYONE if publication.edition is Edition.PUBLIC else publication.unit_id
    if isinstance(event, (Round.Event, Unit.Event, StandingRule.Event)):
        return EVERYONE
    return None


def audiences(actor: Actor) -> tuple[str | UUID, ...] | None:
    """The audiences whose events the actor may see; None: every event."""
    if actor.sees_everything:
        return None
    if actor.role is Role.UNIT and actor.unit_id is not None:
        return (EVERYONE, actor.unit_id)
    return (EVERYONE,)
