"""JSON transcodings for every non-JSON type events and aggregate state carry."""

from __future__ import annotations

import dataclasses
import enum
from datetime import date
from typing import Any

from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, Transcoding, UUIDAsHex

from rectify.domain import values


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class EnumAsValue(Transcoding):
    """One per Enum class: the JSON transcoder looks transcodings up by exact type."""

    def __init__(self, enum_class: type[enum.Enum]) -> None:
        self.type: type[enum.Enum] = enum_class
        self.name = f"enum:{enum_class.__name__}"

    def encode(self, obj: enum.Enum) -> Any:
        return obj.value

    def decode(self, data: Any) -> enum.Enum:
        return self.type._value2member_map_[data]


class DataclassAsDict(Transcoding):
    """A frozen value dataclass as a dict of its fields; JSON lists come back as tuples."""

    def __init__(self, cls: type) -> None:
        self.type = cls
        self.name = f"value:{cls.__name__}"
        self.fields = tuple(f.name for f in dataclasses.fields(cls))

    def encode(self, obj: Any) -> dict[str, Any]:
        return {name: getattr(obj, name) for name in self.fields}

    def decode(self, data: dict[str, Any]) -> Any:
        return self.type(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


ENUMS: tuple[type[enum.Enum], ...] = (
    values.Role,
    values.Disclosure,
    values.DeadlineKind,
    values.FindingStatus,
    values.RelapseOutcome,
    values.NarrativeSection,
    values.Edition,
    values.RoundKind,
    values.MoneyRole,
    values.EvidenceTarget,
    values.RulePeriod,
)

VALUES: tuple[type, ...] = (
    values.Contact,
    values.Deadline,
    values.Responsibility,
    values.Extension,
    values.AmountInvolved,
    values.Measure,
    values.Activity,
    values.Report,
    values.Verification,
    values.CloseOut,
    values.RelapseCheck,
    values.Reopening,
    values.Category,
    values.NarrativeItem,
    values.Narrative,
    values.Publication,
    values.ActivityKind,
    values.Attachment,
    values.RepeatLink,
    values.RuleTerms,
)


def register_all(transcoder: JSONTranscoder, *extra: Transcoding) -> None:
    """Everything rectify's events and aggregate state need, the library's own defaults included."""
    for library_default in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(library_default)
    transcoder.register(DateAsISO())
    for enum_class in ENUMS:
        transcoder.register(EnumAsValue(enum_class))
    for value_class in VALUES:
        transcoder.register(DataclassAsDict(value_class))
    for transcoding in extra:
        transcoder.register(transcoding)
