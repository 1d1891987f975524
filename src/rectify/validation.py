"""Input checks for commands: each returns the clean value or raises InvalidInput naming the field."""

from __future__ import annotations

import enum
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TypeVar
from uuid import UUID

from rectify.domain.errors import InvalidInput

E = TypeVar("E", bound=enum.Enum)

NAME = 100  # a person, department or short name
TITLE = 300  # a heading, a category title, a team name
CODE = 32
TEXT = 4000  # a problem, a measure, a summary, a comment
LONG_TEXT = 20000  # a narrative paragraph
CENT = Decimal("0.01")


def text(field: str, value: object, *, max_length: int, required: bool = True) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(field, "must be text")
    cleaned = value.strip()
    if required and not cleaned:
        raise InvalidInput(field, "must not be empty")
    if len(cleaned) > max_length:
        raise InvalidInput(field, f"is {len(cleaned)} characters long; at most {max_length} are allowed")
    if any(ord(c) < 32 and c not in "\n\t" for c in cleaned):
        raise InvalidInput(field, "contains control characters")
    return cleaned


def identifier(field: str, value: object) -> UUID:
    if isinstance(value, UUID):
        return value
    if isinstance(value, str):
        try:
            return UUID(value.strip())
        except ValueError:
            pass
    raise InvalidInput(field, f"is not a valid id: {str(value)[:60]!r}")


def day(field: str, value: object) -> date:
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InvalidInput(field, f"is not a date in the form YYYY-MM-DD: {str(value)[:40]!r}")


def not_in_future(field: str, value: date, today: date) -> date:
    if value > today:
        raise InvalidInput(field, f"{value.isoformat()} is in the future (today is {today.isoformat()})")
    return value


def not_before(field: str, value: date, earlier: date, what: str) -> date:
    if value < earlier:
        raise InvalidInput(field, f"{value.isoformat()} is before {what} ({earlier.isoformat()})")
    return value


def count(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, "must be a whole number")
    if value < 1:
        raise InvalidInput(field, f"must be at least 1, got {value}")
    return value


def ordinal(field: str, value: object) -> int:
    return count(field, value)


def amount(field: str, value: object) -> Decimal:
    """An exact, non-negative amount with at most two decimals (e.g. 66.57 万元)."""
    if isinstance(value, float):
        raise InvalidInput(
            field,
            "floats are refused: a binary float cannot hold most amounts to the cent (0.1 + 0.2 is not 0.3), "
            'so give the amount as a decimal string, e.g. "66.57"',
        )
    if isinstance(value, bool):
        raise InvalidInput(field, 'must be given as an exact decimal, e.g. "66.57"')
    try:
        number = Decimal(str(value).strip()) if isinstance(value, (str, int)) else value
    except InvalidOperation:
        number = None
    if not isinstance(number, Decimal) or not number.is_finite():
        raise InvalidInput(field, f"is not a decimal number: {str(value)[:40]!r}")
    if number < 0:
        raise InvalidInput(field, f"must not be negative, got {number}")
    if number >= Decimal("1e13"):
        raise InvalidInput(field, f"is implausibly large: {number}")
    if number != number.quantize(CENT):
        raise InvalidInput(field, f"has more than two decimals: {number}")
    return number.quantize(CENT)


def choice(field: str, enum_class: type[E], value: object) -> E:
    if isinstance(value, enum_class):
        return value
    try:
        return enum_class(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum_class)
        raise InvalidInput(field, f"must be one of {allowed}, got {str(value)[:40]!r}") from None


def path(field: str, value: object) -> tuple[int, ...]:
    if isinstance(value, str):
        parts = [p for p in value.replace("-", ".").split(".") if p]
        try:
            value = [int(p) for p in parts]
        except ValueError:
            raise InvalidInput(field, f"is not a path like 1.2: {value[:40]!r}") from None
    if not isinstance(value, (list, tuple)) or not value:
        raise InvalidInput(field, "must be a non-empty list of ordinals")
    return tuple(ordinal(field, n) for n in value)


def number(field: str, value: object) -> int:
    """A whole number of 1 or more, given as a number or as its digits ("2")."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    return count(field, value)


#: What a file name may not hold: path separators, and characters no file system takes.
UNSAFE_IN_FILE_NAMES = frozenset('/\\:*?"<>|')


def file_name(field: str, value: object) -> str:
    """A file's name as the uploader gave it, without any folder: it names the download and nothing else
    (the type is sniffed from the content)."""
    cleaned = text(field, value, max_length=255)
    if "\n" in cleaned or "\t" in cleaned or any(c in UNSAFE_IN_FILE_NAMES for c in cleaned):
        raise InvalidInput(field, 'must be a plain file name, without folders or the characters / \\ : * ? " < > |')
    if cleaned in (".", ".."):
        raise InvalidInput(field, "must be a file name")
    return cleaned
