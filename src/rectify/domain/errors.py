"""Errors the domain and the application raise when a command cannot be carried out."""

from __future__ import annotations


class RectifyError(Exception):
    """Base of the expected failures: each says what is wrong in words a user can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(RectifyError):
    """A command's input is wrong: names the field and the reason."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class IllegalTransition(RectifyError):
    """The command is not allowed in the finding's (or round's) current status."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(f"{message} (current status: {status})")
        self.status = status


class NotFound(RectifyError):
    """No such unit, round, finding, measure or activity (or the caller may not see it)."""

    def __init__(self, kind: str, identifier: object) -> None:
        super().__init__(f"{kind} {identifier} not found")
        self.kind = kind
        self.identifier = str(identifier)


class Conflict(RectifyError):
    """Concurrent writers kept colliding; the command was not applied."""


class Forbidden(RectifyError):
    """The caller's role or unit may not do this."""


class Unavailable(RectifyError):
    """The views have not yet reached the position asked for; asking again shortly will do."""


class StoreFault(RectifyError):
    """The event store could not carry out a command: it is unavailable, timed out, read-only or full.

    `may_have_appended` says whether the command may be in the log all the same (its answer was
    lost): a resend with the same idempotency key is safe either way.
    """

    def __init__(self, reason: str, message: str, *, may_have_appended: bool) -> None:
        super().__init__(message)
        self.reason = reason  # UNAVAILABLE, TIMED_OUT, READ_ONLY, DISK_FULL
        self.may_have_appended = may_have_appended
