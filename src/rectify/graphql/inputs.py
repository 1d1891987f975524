"""Command inputs built from their GraphQL values with a plan worked out once per input type.

Strawberry converts an input value field by field and works out each field's type again on every
request: about 150 µs for recordActivity's input on this project's machine, the largest cost of a
command on the event loop after GraphQL's own execution. A command input holds scalars, lists of
them and lists of other inputs, so how to convert each field is settled once per type: the
value as graphql-core coerced it, a copied list, or each item as a nested input. Strawberry calls
the plan through the type definition's `from_input` hook. A field of any other kind (an enum, a
nested input on its own) is converted by Strawberry itself, through the hook's context, as before.

What it builds is what Strawberry builds: fields without a default start as None, those the
client left out keep their default. tests/unit/test_inputs.py converts every command input both
ways and compares.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING
from typing import Any

from strawberry.scalars import is_scalar
from strawberry.types.arguments import InputContext
from strawberry.types.base import (
    StrawberryList,
    StrawberryMaybe,
    StrawberryOptional,
    StrawberryType,
    get_object_definition,
)
from strawberry.types.enum import StrawberryEnumDefinition

#: A field's conversion: (GraphQL name, Python name, how to convert its value given the context).
Step = tuple[str, str, Callable[[Any, InputContext], Any]]


def _as_is(value: Any, _context: InputContext) -> Any:
    return value


def _copied(value: Any, _context: InputContext) -> Any:
    # graphql-core gives the same default list to every request that omits it: never hand it out.
    return None if value is None else list(value)


class InputPlan:
    """Builds one input type from its GraphQL value (a Mapping keyed by GraphQL names)."""

    def __init__(self, kind: type) -> None:
        self.kind = kind
        self._steps: list[Step] | None = None  # worked out on first use, once the schema has named every type
        self._nulls: dict[str, None] = {}

    def __call__(self, kind: type, value: Mapping[str, Any], context: InputContext) -> Any:
        steps = self._steps if self._steps is not None else self._plan(context)
        kwargs: dict[str, Any] = dict(self._nulls)
        for graphql_name, python_name, convert in steps:
            if graphql_name in value:
                kwargs[python_name] = convert(value[graphql_name], context)
        return kind(**kwargs)

    def _plan(self, context: InputContext) -> list[Step]:
        definition = get_object_definition(self.kind, strict=True)
        steps: list[Step] = []
        for field in definition.fields:
            graphql_name = context.config.name_converter.from_field(field)
            kind = field.resolve_type(type_definition=definition)
            steps.append((graphql_name, field.python_name, self._conversion(kind, context, graphql_name)))
        self._nulls = {
            f.python_name: None
            for f in definition.fields
            if f.default_value is MISSING and f.default_factory is MISSING
        }
        self._steps = steps
        return steps

    @staticmethod
    def _conversion(
        kind: StrawberryType | type, context: InputContext, graphql_name: str
    ) -> Callable[[Any, InputContext], Any]:
        def by_strawberry(value: Any, context: InputContext) -> Any:
            return context.convert(value, kind, graphql_name)

        if isinstance(kind, StrawberryMaybe):  # wrapped in Some, and null checked: Strawberry's own work
            return by_strawberry
        inner = kind.of_type if isinstance(kind, StrawberryOptional) else kind
        if _is_plain_leaf(inner, context):
            return _as_is  # coerced by graphql-core already, as Strawberry leaves a scalar
        if isinstance(inner, StrawberryList):
            item = inner.of_type
            if _is_plain_leaf(item, context):
                return _copied
            plan = _plan_of(item)
            if plan is not None:

                def items(value: Any, context: InputContext) -> Any:
                    if value is None:
                        return None
                    return [None if v is None else plan(plan.kind, v, context) for v in value]

                return items
        return by_strawberry


def _is_plain_leaf(kind: Any, context: InputContext) -> bool:
    """A scalar Strawberry hands on unchanged (not an enum, which it converts to the member)."""
    return not isinstance(kind, StrawberryEnumDefinition) and is_scalar(kind, context.scalar_registry)


def _plan_of(kind: Any) -> InputPlan | None:
    definition = get_object_definition(kind)
    if definition is None or not definition.is_input or not isinstance(definition.from_input, InputPlan):
        return None
    return definition.from_input


def plan_inputs(*kinds: type) -> None:
    """Gives these input types (and the inputs nested in lists of theirs, if planned too) a plan."""
    for kind in kinds:
        definition = get_object_definition(kind, strict=True)
        assert definition.is_input, f"{kind.__name__} is not an input type"
        if definition.from_input is None:
            definition.from_input = InputPlan(kind)
