"""What a GraphQL document may cost, checked before anything runs it, in time linear in its size.

A document's cost is worked out with every fragment visited once: a fragment's depth, field
count and alias count are remembered the first time and reused at every spread. Fragments that
spread fragments that spread fragments (the "fragment bomb") would otherwise be expanded again at
each level, which is exponential in the document's length and blocks whatever runs it.

Parsing and validation are cached by document text, and the same cached functions serve the HTTP
endpoint (which vets a request in a worker thread before the schema sees it) and the schema's own
extension (WebSocket operations, GET requests): a vetted document is not checked twice.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace

from graphql import GraphQLError, GraphQLSchema, parse, specified_rules, validate
from graphql.language import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from rectify.caching import BoundedCache
from rectify.settings import Limits


class CostExceeded(GraphQLError):
    """The document asks for more than the limits allow; nothing of it was run."""


@dataclass(frozen=True)
class Cost:
    """What a selection asks for once its fragments are expanded (counted, never expanded)."""

    depth: int = 0  # nested fields with selections, as the depth limit counts them
    fields: int = 0
    aliases: int = 0
    nesting: int = 0  # fragments spread inside fragments, the longest chain
    repeats: int = 0  # the most times one response name or one fragment stands in one selection set

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            max(self.depth, other.depth),
            self.fields + other.fields,
            self.aliases + other.aliases,
            max(self.nesting, other.nesting),
            max(self.repeats, other.repeats),
        )


class _Costing:
    """One document's fragments, each costed once."""

    def __init__(self, document: DocumentNode) -> None:
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self._known: dict[str, Cost] = {}
        self._open: set[str] = set()  # a cycle is NoFragmentsCycles' to report; here it costs nothing

    def selection(self, selection_set: SelectionSetNode | None) -> Cost:
        # Fields of one name are compared pairwise when validated (OverlappingFieldsCanBeMerged):
        # how often a name or a spread repeats is counted, so that the comparisons stay few.
        total, seen = Cost(), Counter[str]()
        for node in selection_set.selections if selection_set else ():
            if isinstance(node, FieldNode):
                inner = self.selection(node.selection_set)
                introspection = node.name.value.startswith("__")
                depth = 0 if introspection or not node.selection_set else 1 + inner.depth
                seen[(node.alias or node.name).value] += 1
                total = total + replace(
                    inner, depth=depth, fields=1 + inner.fields, aliases=inner.aliases + bool(node.alias)
                )
            elif isinstance(node, InlineFragmentNode):
                total = total + self.selection(node.selection_set)
            elif isinstance(node, FragmentSpreadNode):
                seen["..." + node.name.value] += 1
                total = total + self.fragment(node.name.value)
        return replace(total, repeats=max(total.repeats, *seen.values(), 0))

    def fragment(self, name: str) -> Cost:
        if name in self._known:
            return self._known[name]
        definition = self.fragments.get(name)
        if definition is None or name in self._open:
            return Cost()
        self._open.add(name)
        inner = self.selection(definition.selection_set)
        self._open.discard(name)
        cost = replace(inner, nesting=inner.nesting + 1)
        self._known[name] = cost
        return cost


def cost_errors(document: DocumentNode, limits: Limits) -> list[GraphQLError]:
    """Every limit the document's operations go over, named with its figure and the limit."""
    costing = _Costing(document)
    if len(costing.fragments) > limits.max_fragments:
        return [CostExceeded(f"{len(costing.fragments)} fragments found. Allowed: {limits.max_fragments}")]
    errors: list[GraphQLError] = []
    for operation in document.definitions:
        if not isinstance(operation, OperationDefinitionNode):
            continue
        name = operation.name.value if operation.name else "anonymous"
        cost = costing.selection(operation.selection_set)
        if cost.nesting > limits.max_fragment_nesting:
            errors.append(
                CostExceeded(
                    f"'{name}' nests fragments {cost.nesting} deep. Allowed: {limits.max_fragment_nesting}",
                    operation,
                )
            )
        if cost.depth > limits.max_depth:
            errors.append(CostExceeded(f"'{name}' exceeds maximum operation depth of {limits.max_depth}", operation))
        if cost.fields > limits.max_fields:
            errors.append(
                CostExceeded(f"'{name}' selects {cost.fields} fields. Allowed: {limits.max_fields}", operation)
            )
        if cost.repeats > limits.max_repeats:
            errors.append(
                CostExceeded(
                    f"'{name}' selects one field or fragment {cost.repeats} times in one selection set. "
                    f"Allowed: {limits.max_repeats}",
                    operation,
                )
            )
        if cost.aliases > limits.max_aliases:
            errors.append(CostExceeded(f"{cost.aliases} aliases found. Allowed: {limits.max_aliases}", operation))
    return errors


#: What a parsed document weighs beside its text, per token (AST nodes, tokens and locations), as
#: measured with tracemalloc: about 520 bytes for a field-heavy document, 630 for one of long strings.
BYTES_PER_TOKEN = 640
#: Parsed documents and validation results kept, by the bytes they hold: with 2,000 tokens a document
#: weighs up to about 1.3 MB, so a count of entries would bound nothing.
DOCUMENT_CACHE_BYTES = 32 * 1024 * 1024
VALIDATION_CACHE_BYTES = 8 * 1024 * 1024

_documents: BoundedCache[tuple[str, int], DocumentNode] = BoundedCache(DOCUMENT_CACHE_BYTES)
_validations: BoundedCache[tuple[object, ...], tuple[GraphQLError, ...]] = BoundedCache(VALIDATION_CACHE_BYTES)


def parse_document(query: str, max_tokens: int) -> DocumentNode:
    """The parsed document (a syntax error, or too many tokens, raises GraphQLError); cached by text."""
    document = _documents.get((query, max_tokens))
    if document is None:
        document = parse(query, max_tokens=max_tokens)
        _documents.put((query, max_tokens), document, len(query) + BYTES_PER_TOKEN * tokens_in(document))
    return document


def tokens_in(document: DocumentNode) -> int:
    token, count = document.loc.start_token if document.loc else None, 0
    while token is not None:
        token, count = token.next, count + 1
    return count


def _validated(
    schema: GraphQLSchema, query: str, rules: tuple[type[ASTValidationRule], ...], limits: Limits
) -> tuple[GraphQLError, ...]:
    """The document's cost errors if any, else its validation errors; cached by text (the document
    itself would be hashed node by node for every lookup)."""
    key = (schema, query, rules, limits)
    errors = _validations.get(key)
    if errors is None:
        document = parse_document(query, limits.max_tokens)
        over = cost_errors(document, limits)
        if over:
            errors = tuple(over)  # the other rules would walk the expanded document: they do not run
        else:
            # With introspection off, "Did you mean …?" would list the schema's names to whoever guesses.
            errors = tuple(validate(schema, document, rules, hide_suggestions=not limits.introspection))
        _validations.put(key, errors, len(query) + sum(256 + len(error.message) for error in errors))
    return errors


@functools.cache
def validation_rules(limits: Limits) -> tuple[type[ASTValidationRule], ...]:
    rules = (*specified_rules, MaybeNullValidationRule, OneOfInputValidationRule)  # as Strawberry validates
    return rules if limits.introspection else (*rules, NoSchemaIntrospectionCustomRule)


def vet(schema: GraphQLSchema, query: str, limits: Limits) -> list[GraphQLError]:
    """Parses and validates a query (cost first): the errors a client would get, none if it may run."""
    try:
        parse_document(query, limits.max_tokens)
    except GraphQLError as error:
        return [error]
    return list(_validated(schema, query, validation_rules(limits), limits))


def vetted(schema: GraphQLSchema, query: str, limits: Limits) -> list[GraphQLError] | None:
    """What `vet` found for this text when it last vetted it, without parsing or validating; None
    when it has not (or no longer keeps it): then `vet` it, off the event loop if it may be large."""
    errors = _validations.get((schema, query, validation_rules(limits), limits))
    return None if errors is None else list(errors)


class Guard(SchemaExtension):
    """The schema's parse and validation steps, cached and cost-checked first (see the module)."""

    limits: Limits = Limits()

    def on_operation(self) -> Iterator[None]:
        self.execution_context.validation_rules = validation_rules(self.limits)
        yield

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = self.limits.max_tokens
        if context.graphql_document is None and context.query:
            try:
                context.graphql_document = parse_document(context.query, self.limits.max_tokens)
            except GraphQLError:
                pass  # Strawberry's own parse, which follows with the same limit, answers it
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        assert context.graphql_document is not None
        if context.query is None:  # a document given without its text (not done here): checked uncached
            document, hide = context.graphql_document, not self.limits.introspection
            errors = tuple(cost_errors(document, self.limits)) or tuple(
                validate(context.schema._schema, document, context.validation_rules, hide_suggestions=hide)
            )
        else:
            errors = _validated(context.schema._schema, context.query, context.validation_rules, self.limits)
        context.pre_execution_errors = list(errors)
        yield


def guard_for(limits: Limits) -> type[Guard]:
    """The Guard extension class with these limits (a class, so each request gets its own instance)."""
    return type("Guard", (Guard,), {"limits": limits})
