"""Value objects and enumerations of the rectification domain: immutable, comparable, no I/O."""

from __future__ import annotations

import enum
import marshal
import sys
import weakref
import zlib
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import overload
from uuid import UUID, SafeUUID


class Role(enum.Enum):
    """Who a token stands for (DESIGN.md, "Who may do what")."""

    PUBLIC = "PUBLIC"
    UNIT = "UNIT"
    INSPECTOR = "INSPECTOR"
    ADMIN = "ADMIN"
    #: The operator at the machine (the `rectify` command): trusted with every command.
    SYSTEM = "SYSTEM"


class Disclosure(enum.Enum):
    """Whether a finding may be shown to the public (不宜公开 items are INTERNAL)."""

    PUBLIC = "PUBLIC"
    INTERNAL = "INTERNAL"


class DeadlineKind(enum.Enum):
    """完成时限: a date, 立行立改 (immediately) or 长期坚持 (long-term)."""

    DATE = "DATE"
    IMMEDIATE = "IMMEDIATE"
    LONG_TERM = "LONG_TERM"


class FindingStatus(enum.Enum):
    """Where a finding stands in its lifecycle (see DESIGN.md)."""

    RAISED = "RAISED"
    ASSIGNED = "ASSIGNED"
    IN_PROGRESS = "IN_PROGRESS"
    REPORTED = "REPORTED"
    LONG_TERM = "LONG_TERM"
    VERIFIED = "VERIFIED"
    CLOSED = "CLOSED"


class RoundKind(enum.Enum):
    """What a round is: a 巡察 or 巡视 stations a team at the units; an audit or a check may not."""

    INSPECTION = "INSPECTION"  # 巡察 (by a city or county Party committee)
    HIGHER_INSPECTION = "HIGHER_INSPECTION"  # 巡视 (by the central or a provincial Party committee)
    AUDIT = "AUDIT"  # 审计整改
    SPECIAL_CHECK = "SPECIAL_CHECK"  # 专项检查
    SUPERVISION = "SUPERVISION"  # 专项督查
    OTHER = "OTHER"

    @property
    def label(self) -> str:
        return ROUND_KIND_LABELS[self]

    @property
    def stations_a_team(self) -> bool:
        """Whether a round of this kind always has a stationed period (进驻)."""
        return self in (RoundKind.INSPECTION, RoundKind.HIGHER_INSPECTION)


ROUND_KIND_LABELS = {
    RoundKind.INSPECTION: "巡察",
    RoundKind.HIGHER_INSPECTION: "巡视",
    RoundKind.AUDIT: "审计",
    RoundKind.SPECIAL_CHECK: "专项检查",
    RoundKind.SUPERVISION: "专项督查",
    RoundKind.OTHER: "其他",
}


class MoneyRole(enum.Enum):
    """What the amounts of an activity kind count as. Audits keep these apart and never add them up."""

    RECTIFIED = "RECTIFIED"  # 整改到位资金: set against the amounts involved
    RECOVERED = "RECOVERED"  # 追回: shown on its own
    RETRIEVED = "RETRIEVED"  # 挽回损失: shown on its own
    NONE = "NONE"  # not money, or money that is none of these


class RelapseOutcome(enum.Enum):
    """回头看: the rectification holds, or the problem came back."""

    HOLDING = "HOLDING"
    RELAPSED = "RELAPSED"


class EvidenceTarget(enum.Enum):
    """What a piece of evidence (佐证材料) is attached to: a measure or activity (by id), or a report,
    verification, close-out or relapse check of the finding (by its number, 1 for the first)."""

    MEASURE = "MEASURE"
    ACTIVITY = "ACTIVITY"
    REPORT = "REPORT"  # a report of rectification, or of phased results (long-term)
    VERIFICATION = "VERIFICATION"
    CLOSE_OUT = "CLOSE_OUT"
    RELAPSE_CHECK = "RELAPSE_CHECK"

    @property
    def by_id(self) -> bool:
        return self in (EvidenceTarget.MEASURE, EvidenceTarget.ACTIVITY)


class RulePeriod(enum.Enum):
    """How often a standing rule (长效机制) must be met: calendar months, quarters, half-years, years."""

    MONTH = "MONTH"
    QUARTER = "QUARTER"
    HALF_YEAR = "HALF_YEAR"
    YEAR = "YEAR"

    @property
    def months(self) -> int:
        return {"MONTH": 1, "QUARTER": 3, "HALF_YEAR": 6, "YEAR": 12}[self.value]

    @property
    def label(self) -> str:
        return {"MONTH": "每月", "QUARTER": "每季度", "HALF_YEAR": "每半年", "YEAR": "每年"}[self.value]


class Edition(enum.Enum):
    """社会通报 for the public (internal items left out), or 党内通报 (internal items included)."""

    PUBLIC = "PUBLIC"
    INTERNAL = "INTERNAL"


class NarrativeSection(enum.Enum):
    """The free-text parts of a notice written by the unit."""

    RESPONSIBILITY = "RESPONSIBILITY"  # 一、党委履行巡察整改主体责任情况
    NEXT_STEPS = "NEXT_STEPS"  # 三、下一步工作打算


@dataclass(frozen=True)
class Contact:
    """How the public reaches a unit; printed in a notice's header and contact lines."""

    address: str = ""
    phone: str = ""
    postcode: str = ""
    email: str = ""
    postal_address: str = ""
    area_code: str = ""


@dataclass(frozen=True)
class Deadline:
    """完成时限. A DATE deadline has a due date; the other kinds may have one."""

    kind: DeadlineKind
    due_on: date | None = None


@dataclass(frozen=True)
class Responsibility:
    """责任分工: who answers for a finding, and by when."""

    department: str
    leader: str
    person: str
    deadline: Deadline


@dataclass(frozen=True)
class Extension:
    """A deadline moved, with the reason; the deadline before it stays visible."""

    previous: Deadline
    new: Deadline
    reason: str
    actor: str


@dataclass(frozen=True)
class AmountInvolved:
    """An amount a finding concerns (e.g. 问题资金 12.50 万元), exact to the cent of its unit."""

    label: str
    amount: Decimal
    unit: str


@dataclass(frozen=True)
class ActivityKind:
    """An entry of a round's catalogue of activity kinds: what the kind's amounts count as."""

    name: str
    money: MoneyRole


#: What common kinds count as in a round whose catalogue does not name them.
DEFAULT_MONEY_ROLES = {
    "整改到位资金": MoneyRole.RECTIFIED,
    "清退资金": MoneyRole.RECTIFIED,
    "退还资金": MoneyRole.RECTIFIED,
    "收缴资金": MoneyRole.RECTIFIED,
    "追回资金": MoneyRole.RECOVERED,
    "追回": MoneyRole.RECOVERED,
    "挽回损失": MoneyRole.RETRIEVED,
}


def money_role(catalogue: tuple[ActivityKind, ...], kind: str) -> MoneyRole:
    """What an activity kind's amounts count as: the round's catalogue first, then the defaults."""
    for entry in catalogue:
        if entry.name == kind:
            return entry.money
    return DEFAULT_MONEY_ROLES.get(kind, MoneyRole.NONE)


@dataclass(frozen=True)
class Measure:
    """整改措施: one action against a finding, numbered in the order planned (一是、二是…)."""

    measure_id: UUID
    ordinal: int
    text: str
    completed_on: date | None = None
    completion_note: str = ""

    @property
    def is_completed(self) -> bool:
        return self.completed_on is not None


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Activity:
    """工作开展: a dated thing done, counted (count) or measured (amount), with its unit.

    Its kind, unit and day are the process's one object for each value (a finding's thousands of activities
    repeat a few of each), and `shared` gives the one object for the whole activity."""

    activity_id: UUID
    kind: str
    occurred_on: date
    unit: str
    description: str
    count: int | None = None
    amount: Decimal | None = None
    measure_id: UUID | None = None
    retracted: bool = False
    retraction_reason: str = ""

    @property
    def quantity(self) -> Decimal:
        """The activity's figure: its count, or its amount."""
        return Decimal(self.count) if self.count is not None else self.amount or Decimal(0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", sys.intern(self.kind))
        object.__setattr__(self, "unit", sys.intern(self.unit))
        object.__setattr__(self, "occurred_on", _DAYS.setdefault(self.occurred_on, self.occurred_on))


#: Each business day as one object: there are a few thousand of them, and millions of activities.
_DAYS: dict[date, date] = {}
#: The activities alive in this process, by id (weakly: an activity no one holds is dropped).
_ALIVE: weakref.WeakValueDictionary[UUID, Activity] = weakref.WeakValueDictionary()


def shared(activity: Activity) -> Activity:
    """The object this process already holds for an activity equal to this one (the same id, fields and
    amount's digits), else this one, kept for the next. The write side's aggregate, the views' folded one
    and the rows read each decode a finding's activities on their own; shared, each activity is one object
    however many of them hold it, where it was three of about 400 bytes each. Activities are immutable,
    so holding one object for equal ones changes nothing else."""
    found = _alive(activity)
    if found is not None:
        return found
    _ALIVE[activity.activity_id] = activity
    return activity


def _alive(activity: Activity) -> Activity | None:
    """The object this process holds for an activity equal to this one (the same id, fields and amount's
    digits: 1.50 is not 1.5), if one is alive."""
    found = _ALIVE.get(activity.activity_id)
    if found is None or found != activity or _digits(found.amount) != _digits(activity.amount):
        return None
    return found


def uuid_of(value: int) -> UUID:
    """The UUID of this 128-bit number, without the cost of UUID.__init__'s argument checks (decoders of
    stored activities make thousands of them)."""
    made = object.__new__(UUID)
    object.__setattr__(made, "int", value)
    object.__setattr__(made, "is_safe", _UNKNOWN)
    return made


_UNKNOWN = SafeUUID.unknown  # an enum member looked up once: each lookup costs a descriptor call
_BYTES_HEADER = sys.getsizeof(b"")  # what a bytes object weighs besides its bytes


class _Chunk:
    """CHUNK activities of a sequence, held as objects or, once packed, as compressed bytes (27 bytes an
    activity under the soak, against about 360 for the objects). Packing changes how the chunk is held, never
    what it holds: every sequence sharing the chunk sees the same activities, which is why a chunk packs
    itself in place (Activities.startswith compares chunks by identity).

    A sequence's packed chunks are its first ones (Activities._pack packs them oldest first, and sequences
    share chunks only at the same places), so each packed chunk also keeps the bytes packed up to and
    including it: a sequence's total is that of its last packed chunk, found by bisection."""

    __slots__ = ("_items", "_packed", "_total")

    def __init__(self, items: tuple[Activity, ...]) -> None:
        self._items: tuple[Activity, ...] | None = items
        self._packed = b""
        self._total = 0

    def items(self) -> tuple[Activity, ...]:
        items = self._items  # read once: another thread may pack the chunk meanwhile
        return items if items is not None else _unpacked(self._packed)

    def pack(self, before: int) -> None:
        """Packs the chunk; `before`: the bytes packed of the chunks before it."""
        items = self._items
        if items is not None:
            self._packed = _packed(items)  # set before the objects are let go, for readers in other threads
            self._total = before + _BYTES_HEADER + len(self._packed)
            self._items = None


def _loose(chunk: _Chunk) -> bool:
    return chunk._items is not None


def _packed(items: tuple[Activity, ...]) -> bytes:
    """The activities' fields as plain values, marshalled and compressed: held in memory only, never stored
    (marshal's format is the running Python's own)."""
    return zlib.compress(
        marshal.dumps(
            tuple(
                (
                    a.activity_id.int,
                    a.kind,
                    a.occurred_on.toordinal(),
                    a.unit,
                    a.description,
                    a.count,
                    _digits(a.amount),
                    None if a.measure_id is None else a.measure_id.int,
                    a.retracted,
                    a.retraction_reason,
                )
                for a in items
            )
        ),
        1,
    )


def _digits(amount: Decimal | None) -> str | None:
    """An amount as packed: its digits as written (1.50 stays 1.50), or None."""
    return None if amount is None else str(amount)


def _unpacked(data: bytes) -> tuple[Activity, ...]:
    """The activities of a packed chunk: the process's object for one where one is alive and equal, else a new
    object, not registered as alive (a chunk decoded to be read once would only fill the registry)."""
    found: list[Activity] = []
    for identifier, kind, ordinal, unit, description, count, amount, measure, retracted, reason in marshal.loads(
        zlib.decompress(data)
    ):
        activity = Activity(
            uuid_of(identifier),
            kind,
            date.fromordinal(ordinal),
            unit,
            description,
            count,
            None if amount is None else Decimal(amount),
            None if measure is None else uuid_of(measure),
            retracted,
            reason,
        )
        found.append(_alive(activity) or activity)
    return tuple(found)


class Activities(Sequence[Activity]):
    """A finding's activities, oldest first: an immutable sequence that grows by one without copying what came
    before. Full chunks of CHUNK activities are shared by every later sequence; only the last, partial chunk
    is copied when an activity is recorded. As a tuple, a finding's history of n activities cost n copies of
    up to n items to fold (the views' as-of replays folded thousands of events a second under the soak);
    here each costs at most CHUNK items and n / CHUNK chunks.

    Of a long history only the last LOOSE full chunks stay objects; older ones are packed as bytes and
    decoded when read. Recording and reading the latest activities, which is what commands and the views'
    rows need, never decode them; figures over the whole history do. A finding of a few hundred activities
    packs nothing; one of 30,000 under the soak held about 11 MB of objects in each process."""

    CHUNK = 64
    LOOSE = 8
    __slots__ = ("_chunks", "_tail", "_length")

    _chunks: tuple[_Chunk, ...]
    _tail: tuple[Activity, ...]
    _length: int

    def __init__(self, items: Iterable[Activity] = ()) -> None:
        self._chunks, self._tail, self._length = (), (), 0
        self._append(items)

    def appended(self, activity: Activity) -> Activities:
        grown = Activities.__new__(Activities)
        tail = (*self._tail, activity)
        if len(tail) == self.CHUNK:
            grown._chunks, grown._tail = (*self._chunks, _Chunk(tail)), ()
            grown._pack()
        else:
            grown._chunks, grown._tail = self._chunks, tail
        grown._length = self._length + 1
        return grown

    def extended(self, activities: Iterable[Activity]) -> Activities:
        """This sequence with `activities` appended: the full chunks shared, the tail and the new items regrouped."""
        grown = Activities.__new__(Activities)
        grown._chunks, grown._tail, grown._length = self._chunks, self._tail, self._length
        grown._append(activities)
        return grown

    def _append(self, activities: Iterable[Activity]) -> None:
        """Appends in place, regrouping the tail and the new items into full chunks: only for a sequence being
        made (__init__, extended), never one already handed out."""
        every = (*self._tail, *activities)
        whole = len(every) - len(every) % self.CHUNK
        self._chunks = (*self._chunks, *(_Chunk(every[i : i + self.CHUNK]) for i in range(0, whole, self.CHUNK)))
        self._length += len(every) - len(self._tail)
        self._tail = every[whole:]
        self._pack()

    def _pack(self) -> None:
        """Packs the full chunks before the last LOOSE, oldest first, from the first one not yet packed."""
        chunks = self._chunks
        first = last = len(chunks) - self.LOOSE
        while first > 0 and _loose(chunks[first - 1]):
            first -= 1
        for number in range(first, last):
            chunks[number].pack(chunks[number - 1]._total if number else 0)

    def prefix(self, length: int) -> Activities:
        """The first `length` activities, sharing the full chunks they span (at most CHUNK - 1 items copied)."""
        if not 0 <= length <= self._length:
            raise IndexError(f"prefix of {length} activities out of {self._length}")
        whole = length // self.CHUNK
        cut = Activities.__new__(Activities)
        cut._chunks = self._chunks[:whole]
        cut._tail = self[whole * self.CHUNK : length]
        cut._length = length
        return cut

    def startswith(self, prefix: Activities) -> bool:
        """Whether this sequence is `prefix` with activities appended (its chunks shared, its tail's items the same
        objects): a check of n / CHUNK chunks and one partial chunk, not of every activity."""
        whole = len(prefix._chunks)
        chunks = self._chunks[:whole]
        tail = self[whole * self.CHUNK : prefix._length]
        return (
            prefix._length <= self._length
            and len(chunks) == whole
            and all(mine is theirs for mine, theirs in zip(chunks, prefix._chunks, strict=True))
            and len(tail) == len(prefix._tail)
            and all(mine is theirs for mine, theirs in zip(tail, prefix._tail, strict=True))
        )

    @property
    def packed(self) -> tuple[int, int]:
        """How many of the activities are held packed, and in how many bytes (the bytes objects' own): found
        by bisection, as the caches weigh a finding on every change of it."""
        count = bisect_left(self._chunks, True, key=_loose)
        return self.CHUNK * count, self._chunks[count - 1]._total if count else 0

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[Activity]:
        for chunk in self._chunks:
            yield from chunk.items()
        yield from self._tail

    @overload
    def __getitem__(self, index: int) -> Activity: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Activity, ...]: ...

    def __getitem__(self, index: int | slice) -> Activity | tuple[Activity, ...]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._length)
            if step != 1:
                return tuple(self)[index]
            taken: list[Activity] = []
            while start < stop:
                chunk, offset = divmod(start, self.CHUNK)
                part = self._chunks[chunk].items() if chunk < len(self._chunks) else self._tail
                piece = part[offset : offset + stop - start]
                taken.extend(piece)
                start += len(piece)
            return tuple(taken)
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError("activity index out of range")
        chunk, offset = divmod(index, self.CHUNK)
        return self._chunks[chunk].items()[offset] if chunk < len(self._chunks) else self._tail[offset]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Activities):
            return self._length == other._length and tuple(self) == tuple(other)
        if isinstance(other, tuple):
            return tuple(self) == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"Activities({list(self)!r})"

    def __reduce__(self) -> tuple[type[Activities], tuple[tuple[Activity, ...]]]:
        return Activities, (tuple(self),)


@dataclass(frozen=True)
class Report:
    """A rectification reported done, or marked long-term with phased results."""

    occurred_on: date
    summary: str


@dataclass(frozen=True)
class Verification:
    """检查验收: an acceptance check, passed or failed."""

    passed: bool
    verified_by: str
    occurred_on: date
    comment: str


@dataclass(frozen=True)
class CloseOut:
    """对账销号: the ledger line reconciled and closed."""

    occurred_on: date
    comment: str


@dataclass(frozen=True)
class RelapseCheck:
    """回头看: a later check that a closed finding has not come back."""

    outcome: RelapseOutcome
    checked_by: str
    occurred_on: date
    comment: str


@dataclass(frozen=True)
class Reopening:
    """A closed or verified finding put back in progress, with the reason."""

    occurred_on: date
    reason: str


@dataclass(frozen=True)
class Category:
    """A node of a round's category tree: (一) 方面 at path (1,), 2. 问题 at path (1, 2)."""

    path: tuple[int, ...]
    title: str


@dataclass(frozen=True)
class NarrativeItem:
    """One numbered paragraph of a narrative section: a lead sentence and its text."""

    title: str
    text: str


@dataclass(frozen=True)
class Narrative:
    """A narrative section of one unit's notice, as last drafted."""

    unit_id: UUID
    section: NarrativeSection
    intro: str
    items: tuple[NarrativeItem, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Publication:
    """A notice as published: what it was built from, and the digest of its text."""

    notice_id: UUID
    unit_id: UUID
    edition: Edition
    position: int  # the log position the notice was built at
    published_on: date  # the first day of the publicity window (公开期限)
    window_until: date  # the last day of the window
    sha256: str  # of the rendered Markdown text
    template_version: str
    title: str
    actor: str


@dataclass(frozen=True)
class Attachment:
    """佐证材料: a file attached to a step of a finding's rectification, named by the SHA-256 of its
    bytes (the file itself is stored once per hash, beside the log). An internal finding's attachments
    are internal whatever `disclosure` says."""

    attachment_id: UUID
    sha256: str
    size: int
    media_type: str  # sniffed from the content, never taken from the file name
    file_name: str
    target: EvidenceTarget
    target_ref: str  # a measure's or activity's id, or the number of the report, verification, …
    disclosure: Disclosure
    note: str
    attached_on: date
    actor: str
    withdrawn: bool = False
    withdrawal_reason: str = ""


@dataclass(frozen=True)
class RepeatLink:
    """屡查屡犯: this finding is the same problem as an earlier round's finding of the same unit."""

    earlier_finding_id: UUID
    earlier_round_id: UUID
    earlier_code: str
    earlier_disclosure: Disclosure  # a finding's disclosure never changes, so the link may carry it
    reason: str
    actor: str


@dataclass(frozen=True)
class RuleTerms:
    """What a standing rule asks, from a date on: at least `minimum` activities of `activity_kind` in
    every `period`. An amendment adds terms from its date; earlier periods keep the terms they had."""

    effective_from: date
    activity_kind: str
    minimum: int
    period: RulePeriod
