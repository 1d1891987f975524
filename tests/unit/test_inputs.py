"""Command inputs built by their plans are the inputs Strawberry builds, for every command."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
)
from graphql.pyutils import Undefined
from graphql.utilities import coerce_input_value
from strawberry.types.arguments import convert_argument
from strawberry.types.base import get_object_definition

from rectify.graphql.inputs import InputPlan
from rectify.graphql.mutations import COMMANDS
from rectify.graphql.schema import schema

SAMPLES = {
    "ID": ["0b6a4f3e-5d1c-4c2b-9a8e-7f6d5c4b3a21", "1"],
    "String": ["大扫除", ""],
    "Int": [3, 0],
    "Boolean": [True, False],
    "Decimal": ["12.50", "0"],
}
serial = itertools.count()


def graphql_value(kind: GraphQLInputType, variant: int, *, omit_optional: bool) -> Any:
    """A value a client could send for this type (variables' JSON), varied by `variant`."""
    if isinstance(kind, GraphQLNonNull):
        return graphql_value(kind.of_type, variant, omit_optional=omit_optional)
    if isinstance(kind, GraphQLList):
        return [graphql_value(kind.of_type, variant + i, omit_optional=omit_optional) for i in range(2)]
    if isinstance(kind, GraphQLEnumType):
        names = list(kind.values)
        return names[variant % len(names)]
    if isinstance(kind, GraphQLScalarType):
        choices = SAMPLES.get(kind.name)
        assert choices is not None, f"no sample for the scalar {kind.name}"
        return choices[variant % len(choices)]
    assert isinstance(kind, GraphQLInputObjectType)
    value = {}
    for name, field in kind.fields.items():
        required = isinstance(field.type, GraphQLNonNull) and field.default_value is Undefined
        if omit_optional and not required:
            continue
        value[name] = graphql_value(field.type, variant + next(serial) % 2, omit_optional=omit_optional)
    return value


def cases() -> Iterator[Any]:
    mutation = schema._schema.mutation_type
    assert mutation is not None
    for method, (kind, _) in COMMANDS.items():
        field = mutation.fields[schema.config.name_converter.apply_naming_config(method)]
        argument = field.args["input"].type
        for variant, omit in ((0, False), (1, False), (0, True)):
            yield pytest.param(kind, argument, variant, omit, id=f"{method}-{variant}{'-bare' if omit else ''}")


def convert(kind: type, value: Any) -> Any:
    return convert_argument(value, kind, schema.schema_converter.scalar_registry, schema.config)


@pytest.mark.parametrize(("kind", "argument", "variant", "omit"), list(cases()))
def test_a_plan_builds_what_strawberry_builds(kind: type, argument: Any, variant: int, omit: bool) -> None:
    coerced = coerce_input_value(graphql_value(argument, variant, omit_optional=omit), argument)
    definition = get_object_definition(kind, strict=True)
    planned = convert(kind, coerced)
    plan, definition.from_input = definition.from_input, None
    try:
        strawberrys = convert(kind, coerced)
    finally:
        definition.from_input = plan
    assert planned == strawberrys
    assert type(planned) is kind


def test_every_command_input_and_its_nested_inputs_have_a_plan() -> None:
    def nested(kind: type) -> Iterator[type]:
        yield kind
        for field in get_object_definition(kind, strict=True).fields:
            inner = getattr(field.type, "of_type", field.type)
            inner = getattr(inner, "of_type", inner)
            if get_object_definition(inner) is not None:
                yield from nested(inner)

    kinds = {k for kind, _ in COMMANDS.values() for k in nested(kind)}
    assert all(isinstance(get_object_definition(k, strict=True).from_input, InputPlan) for k in kinds)


def test_a_list_is_copied_as_strawberry_copies_it() -> None:
    """graphql-core hands the same default list to every request that omits a value: a list handed
    on must be a copy, or a change to it would reach the next requests."""
    from rectify.graphql.mutations import RaiseFindingInput

    argument = schema._schema.mutation_type.fields["raiseFinding"].args["input"].type  # type: ignore[union-attr]
    coerced = coerce_input_value(graphql_value(argument, 0, omit_optional=True), argument)
    built = convert(RaiseFindingInput, coerced)
    assert built.category == coerced["category"] and built.category is not coerced["category"]
    assert built.amounts == [] and built.amounts is not coerced["amounts"]  # the schema's default
