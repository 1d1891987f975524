"""Idempotency keys: a command given twice with the same key is carried out once.

The record of a key is an aggregate whose id derives from the actor and the key, saved in the
same transaction as the command's events: a second save of the same key collides in the store,
so a retried request can never append twice, even when two copies race.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

NAMESPACE = uuid5(NAMESPACE_URL, "urn:rectify:idempotency")


class CommandRecord(Aggregate):
    """The first request made under an idempotency key, and what it produced."""

    class Recorded(Aggregate.Created):
        actor: str
        command: str
        fingerprint: str
        entity_id: UUID

    command: str
    fingerprint: str
    entity_id: UUID

    def __init__(self, actor: str, command: str, fingerprint: str, entity_id: UUID) -> None:
        self.actor = actor
        self.command = command
        self.fingerprint = fingerprint
        self.entity_id = entity_id

    @classmethod
    def record(cls, *, record_id: UUID, actor: str, command: str, fingerprint: str, entity_id: UUID) -> CommandRecord:
        return cls._create(
            cls.Recorded,
            id=record_id,
            actor=actor,
            command=command,
            fingerprint=fingerprint,
            entity_id=entity_id,
        )


def record_id(actor: str, key: str) -> UUID:
    return uuid5(NAMESPACE, f"{actor}\x00{key}")


def fingerprint(command: str, request: dict[str, Any]) -> str:
    """A digest of the validated request, to tell a retry from a different request under one key."""
    canonical = json.dumps({"command": command, "request": request}, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
