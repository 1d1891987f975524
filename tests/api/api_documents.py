"""GraphQL documents built from the schema, so that a test follows the code (a new field is asked for too)."""

from __future__ import annotations

import graphql

from rectify.graphql.schema import schema

#: The schema as a client sees it.
SCHEMA = graphql.build_schema(str(schema))


def root_fields(operation: str) -> list[str]:
    """The names of the fields of Query, Mutation or Subscription."""
    root = {"query": SCHEMA.query_type, "mutation": SCHEMA.mutation_type, "subscription": SCHEMA.subscription_type}
    found = root[operation]
    assert found is not None
    return sorted(found.fields)


def everything(type_name: str) -> str:
    """A selection of every field of a type, nested types included (fields that need arguments left out)."""
    named = SCHEMA.get_type(type_name)
    assert named is not None, type_name
    return _select(named)


def _select(named: graphql.GraphQLNamedType) -> str:
    if isinstance(named, graphql.GraphQLUnionType):
        return "{ __typename " + " ".join(f"... on {m.name} {_select(m)}" for m in named.types) + " }"
    assert isinstance(named, graphql.GraphQLObjectType), named
    parts = []
    for name, field in named.fields.items():
        if any(graphql.is_required_argument(a) for a in field.args.values()):
            continue
        inner = graphql.get_named_type(field.type)
        parts.append(name if graphql.is_leaf_type(inner) else f"{name} {_select(inner)}")
    return "{ " + " ".join(parts) + " }"


def mutation_document(name: str) -> str:
    """`mutation($input: XInput!) { name(input: $input) { __typename ... on Member { fields } } }`."""
    assert SCHEMA.mutation_type is not None
    definition = SCHEMA.mutation_type.fields[name]
    return (
        f"mutation($input: {definition.args['input'].type}) "
        f"{{ {name}(input: $input) {_select(graphql.get_named_type(definition.type))} }}"
    )
