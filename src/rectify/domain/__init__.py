"""The rectification domain: aggregates, events, values and errors. Pure Python, no I/O."""

from rectify.domain.errors import (
    Conflict,
    Forbidden,
    IllegalTransition,
    InvalidInput,
    NotFound,
    RectifyError,
    StoreFault,
)
from rectify.domain.finding import Finding
from rectify.domain.round import Round
from rectify.domain.unit import Unit

__all__ = [
    "Conflict",
    "Finding",
    "Forbidden",
    "IllegalTransition",
    "InvalidInput",
    "NotFound",
    "RectifyError",
    "Round",
    "StoreFault",
    "Unit",
]
