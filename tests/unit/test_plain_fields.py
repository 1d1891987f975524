"""The short path for plain fields answers exactly as graphql-core does, errors included."""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
import strawberry

from rectify.graphql.execution import PlainFieldsExecution


class Colour(enum.Enum):
    RED = "RED"
    GREEN = "GREEN"


strawberry.enum(Colour)


@dataclass
class Leafy:
    """A value as the front door shapes one: attributes named as the fields (some of them wrong here)."""

    name: Any = "名"
    count: Any = 3
    colour: Any = Colour.RED
    on: Any = date(2025, 11, 12)
    maybe: Any = None
    tags: Any = ("a", "b")
    inner: Any = None
    inners: Any = field(default_factory=list)
    strict: Any = field(default_factory=list)


@strawberry.type
class Inner:
    label: str
    number: int | None


@strawberry.type
class Node:
    name: str
    count: int
    colour: Colour
    on: date
    maybe: str | None
    tags: list[str]
    inner: Inner | None
    inners: list[Inner | None]
    strict: list[Inner]

    @strawberry.field
    def computed(self) -> str:
        return f"{self.name}!"

    @strawberry.field
    async def later(self) -> int:
        await asyncio.sleep(0)
        return 7


NODES: list[Any] = []


@strawberry.type
class Query:
    @strawberry.field
    def nodes(self) -> list[Node]:
        return NODES

    @strawberry.field
    def node(self) -> Node | None:
        return NODES[0] if NODES else None


BASELINE = strawberry.Schema(query=Query)
SHORT = strawberry.Schema(query=Query, execution_context_class=PlainFieldsExecution)

EVERYTHING = "{ name count colour on maybe tags inner { label number } inners { label number } strict { label } }"

CASES: dict[str, tuple[list[Any], str]] = {
    "plain leaves, objects and lists": (
        [
            Leafy(inner=Inner(label="x", number=None), inners=[Inner(label="y", number=1), None]),
            Leafy(name="二", count=0, colour="GREEN", strict=[Inner(label="z", number=2)]),
        ],
        "{ nodes " + EVERYTHING + " }",
    ),
    "aliases, fragments, directives and a resolver among plain fields": (
        [Leafy(inner=Inner(label="x", number=5))],
        "query($no: Boolean!) { nodes { ...F n2: name computed later inner @skip(if: $no) { label } "
        "i2: inner { number } } } fragment F on Node { name colour }",
    ),
    "null where null is not allowed": ([Leafy(name=None)], "{ nodes { count name } }"),
    "null inside a nested object where not allowed": (
        [Leafy(inner=Inner(label=None, number=1))],  # type: ignore[arg-type]
        "{ node { count inner { number label } } }",
    ),
    "a null item of a list that allows none": ([Leafy(strict=[None])], "{ nodes { count strict { label } } }"),
    "a value that is not of its enum": ([Leafy(colour="BLUE")], "{ nodes { name colour } }"),
    "a number that is not one": ([Leafy(count="three")], "{ nodes { count name } }"),
    "a list that is not one": ([Leafy(inners=5)], "{ nodes { name inners { label } } }"),
    "a text where a list of texts goes": ([Leafy(tags="ab")], "{ nodes { name tags } }"),
    "a null among texts that allow none": ([Leafy(tags=("a", None))], "{ nodes { name tags } }"),
    "an attribute that is missing": ([object()], "{ nodes { name } }"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_short_path_answers_as_graphql_core_does(case: str) -> None:
    nodes, document = CASES[case]
    NODES[:] = nodes
    variables = {"no": False}
    baseline = asyncio.run(BASELINE.execute(document, variable_values=variables))
    short = asyncio.run(SHORT.execute(document, variable_values=variables))
    assert short.data == baseline.data
    assert list(map(str, short.data or {})) == list(map(str, baseline.data or {}))
    assert [e.formatted for e in short.errors or []] == [e.formatted for e in baseline.errors or []]
    if short.data and short.data.get("nodes"):  # the order of the fields is the selection's
        assert [list(n) for n in short.data["nodes"] if n] == [list(n) for n in baseline.data["nodes"] if n]


def test_the_cases_include_answers_and_errors() -> None:
    outcomes = set()
    for nodes, document in CASES.values():
        NODES[:] = nodes
        result = asyncio.run(SHORT.execute(document, variable_values={"no": False}))
        outcomes.add(bool(result.errors))
    assert outcomes == {True, False}


def test_plain_fields_skip_graphql_cores_per_field_path(monkeypatch: pytest.MonkeyPatch) -> None:
    nodes, document = CASES["plain leaves, objects and lists"]
    NODES[:] = nodes
    executed: list[str] = []
    original = PlainFieldsExecution.execute_field

    def counted(self: Any, parent_type: Any, source: Any, details: Any, *args: Any) -> Any:
        executed.append(details[0].node.name.value)
        return original(self, parent_type, source, details, *args)

    monkeypatch.setattr(PlainFieldsExecution, "execute_field", counted)
    asyncio.run(SHORT.execute(document))
    assert executed == ["nodes"]  # the root field's resolver; everything under it in one loop
    executed.clear()
    asyncio.run(BASELINE.execute(document))
    assert executed == []  # the baseline's context class is another: it does not count here
