"""The scalars rectify defines itself: Decimal, which takes amounts as strings and refuses floats, and the
value an `Upload` variable carries (the transport puts it there from a multipart request).

A binary float cannot hold 万元 cents exactly (0.1 is 0.1000000000000000055…), so an amount given as a
float is never taken, not even one that happens to print well. The scalar does not fail on a float itself
(that would be a GraphQL request error, with nothing typed about it): it hands the value on as given, and
the application's amount check (rectify.validation.amount, the one place amounts are checked) answers with
an InvalidInput naming the field and saying why floats are refused. Strings, and integers, which are
exact, are checked there too.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

from graphql import FloatValueNode, IntValueNode, StringValueNode, ValueNode
from strawberry.types.scalar import ScalarDefinition, scalar

from rectify.domain.errors import InvalidInput


def parse_decimal(value: object) -> object:
    """A variable's value as given (a bool, an int to Python, as text: not an amount, as the check says)."""
    return str(value).lower() if isinstance(value, bool) else value


def parse_decimal_literal(node: ValueNode, _variables: dict[str, Any] | None = None) -> object:
    if isinstance(node, FloatValueNode):
        return float(node.value)
    if isinstance(node, IntValueNode):
        return int(node.value)
    if isinstance(node, StringValueNode):
        return node.value
    raise ValueError('an amount is written as a string, e.g. "12.50"')


DecimalScalar: ScalarDefinition = scalar(
    name="Decimal",
    description='A fixed-point amount. Given as a string ("12.50"; integers are taken too); a float is refused '
    "with an InvalidInput, since a binary float cannot hold 万元 cents exactly. Answered as a string.",
    serialize=str,
    parse_value=parse_decimal,
    parse_literal=parse_decimal_literal,
)

#: For Schema(scalar_overrides=…): every Decimal of the schema, in inputs and answers, is this one.
SCALAR_OVERRIDES: dict[object, Any] = {Decimal: DecimalScalar}


@dataclass
class UploadedFile:
    """A file of a multipart request, received whole into a temporary file before anything runs.

    `over_limit`: it was larger than the limit; the part past the limit was read and dropped, never stored."""

    file_name: str
    file: IO[bytes]
    size: int
    limit: int
    over_limit: bool = False
    content_type: str = ""

    def check(self, field_name: str = "file") -> IO[bytes]:
        """The file, rewound; InvalidInput naming the field if it was over the limit or empty."""
        if self.over_limit:
            shown = f"{self.limit / 1024 / 1024:.0f} MiB"
            raise InvalidInput(
                field_name,
                f"{self.file_name} is larger than the limit of {self.limit} bytes ({shown}); nothing was stored",
            )
        self.file.seek(0)
        return self.file


def uploaded(value: object, field_name: str = "file") -> UploadedFile:
    """The upload a variable carries; InvalidInput if the request sent something else (not multipart)."""
    if isinstance(value, UploadedFile):
        return value
    raise InvalidInput(
        field_name,
        "is not an uploaded file: send it as a multipart request (the GraphQL multipart request spec), "
        "with the file's part mapped to this variable",
    )
