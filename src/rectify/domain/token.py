"""Access tokens: who holds which role (and unit). Only a digest of the secret is ever recorded."""

from __future__ import annotations

import hashlib
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from rectify.domain.errors import IllegalTransition
from rectify.domain.values import Role

TOKEN_NAMESPACE = uuid5(NAMESPACE_URL, "urn:rectify:token")


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_id(secret_digest: str) -> UUID:
    """A token's id derives from its digest, so the bearer's token is found without a scan."""
    return uuid5(TOKEN_NAMESPACE, secret_digest)


class AccessToken(Aggregate):
    class Event(Aggregate.Event):
        actor: str

    class Issued(Event, Aggregate.Created):
        digest: str
        role: Role
        unit_id: UUID | None
        label: str

        def apply(self, token: AccessToken) -> None:
            token.digest = self.digest
            token.role = self.role
            token.unit_id = self.unit_id
            token.label = self.label
            token.revoked = False
            token.replaced_by = None

    class Revoked(Event):
        reason: str

        def apply(self, token: AccessToken) -> None:
            token.revoked = True

    class Replaced(Event):
        """Revoked because an idempotent retry of its issue issued a fresh token in its place (the
        answer that carried its secret may have been lost, so nobody may be holding it)."""

        replacement_id: UUID

        def apply(self, token: AccessToken) -> None:
            token.revoked = True
            token.replaced_by = self.replacement_id

    def __init__(self) -> None:
        pass

    digest: str
    role: Role
    unit_id: UUID | None
    label: str
    revoked: bool
    replaced_by: UUID | None

    @classmethod
    def issue(cls, *, secret_digest: str, role: Role, unit_id: UUID | None, label: str, actor: str) -> AccessToken:
        return cls._create(
            cls.Issued,
            id=token_id(secret_digest),
            digest=secret_digest,
            role=role,
            unit_id=unit_id,
            label=label,
            actor=actor,
        )

    def revoke(self, reason: str, *, actor: str) -> None:
        if self.revoked:
            raise IllegalTransition("REVOKED", "the token is already revoked")
        self.trigger_event(self.Revoked, reason=reason, actor=actor)

    def replace_with(self, replacement_id: UUID, *, actor: str) -> None:
        if self.revoked:
            raise IllegalTransition("REVOKED", "the token is already revoked")
        self.trigger_event(self.Replaced, replacement_id=replacement_id, actor=actor)
