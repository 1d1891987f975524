"""Who may do what (DESIGN.md, "Who may do what"): roles, actors and the write policy."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from rectify.domain.errors import Forbidden
from rectify.domain.values import Role as Role  # re-exported: the policy is where callers find the roles


@dataclass(frozen=True)
class Actor:
    """The caller of a command; its string form is what events record as their actor."""

    name: str
    role: Role
    unit_id: UUID | None = None

    def __str__(self) -> str:
        return f"{self.role.value.lower()}:{self.name}"

    def may_read_unit(self, unit_id: UUID) -> bool:
        """Whether everything of this unit, internal items included, is visible to the caller."""
        if self.role is Role.UNIT:
            return self.unit_id == unit_id
        return self.role is not Role.PUBLIC


PUBLIC = Actor("anonymous", Role.PUBLIC)

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
        "draft_narrative",
        "publish_notice",
        "change_unit_contact",
    }
)

#: Commands of the district inspection office.
INSPECTOR_COMMANDS = frozenset(
    {
        "open_round",
        "deliver_feedback",
        "define_category",
        "raise_finding",
        "extend_deadline",
        "record_verification",
        "close_finding",
        "record_relapse_check",
        "reopen_finding",
        "publish_notice",
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
