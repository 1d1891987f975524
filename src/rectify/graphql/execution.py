"""Executing a query with less work per field: plain parts of an answer are read in one loop.

graphql-core executes every field the same way: a path, a ResolveInfo, Strawberry's resolver
wrapper (three calls even for a plain attribute), two awaitable checks and a recursive completion,
about 5 µs a field here. A 50-finding ledger is some 650 fields, nearly all of them plain: an
attribute of a value the read side's front door (rectify.queries) shaped, with no resolver of its
own (Strawberry calls such a field basic), no arguments, and a scalar or enum type, or an object
or list of objects whose selected fields are plain in turn.

For those, this reads the attribute as Strawberry's default resolver would and coerces a leaf as
graphql-core would, in one loop over a plan worked out once per selection and request. A plain
part can raise no error and record none, so the first surprise (None where null is not allowed, a
value that does not coerce, an item that is not a list) drops the field back onto graphql-core's
own path, which then answers or reports exactly what it always does. Fields with resolvers, field
middleware and deferred fragments are never touched. tests/unit/test_plain_fields.py and
tests/api/test_in_process_reads.py run documents both ways and compare the answers, errors included.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType, is_leaf_type
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

_FAILED = object()  # a plain part met a surprise: graphql-core's path answers the field instead
_ELSEWHERE = object()  # a field graphql-core's path answers, filled in once it has


class Plain:
    """How to answer one plain field: read the attribute, then coerce a leaf or answer an object's
    plain fields (for a list: each item's)."""

    __slots__ = ("attribute", "read", "nullable", "coerce", "fields", "is_list", "items_nullable")

    def __init__(
        self,
        attribute: str,
        read: Callable[[Any, str], Any],
        nullable: bool,
        *,
        coerce: Callable[[Any], Any] | None = None,
        fields: list[tuple[str, Plain]] | None = None,
        is_list: bool = False,
        items_nullable: bool = False,
    ) -> None:
        self.attribute = attribute
        self.read = read
        self.nullable = nullable
        self.coerce = coerce
        self.fields = fields
        self.is_list = is_list
        self.items_nullable = items_nullable

    def answer(self, source: Any) -> Any:
        value = self.read(source, self.attribute)
        if value is None:
            return None if self.nullable else _FAILED
        if not self.is_list:
            return self.one(value)
        if not isinstance(value, (list, tuple)):
            return _FAILED
        items: list[Any] = []
        for item in value:
            if item is None:
                if not self.items_nullable:
                    return _FAILED
                items.append(None)
                continue
            answered = self.one(item)
            if answered is _FAILED:
                return _FAILED
            items.append(answered)
        return items

    def one(self, value: Any) -> Any:
        """A leaf coerced, or an object's plain fields answered."""
        if self.coerce is not None:
            coerced = self.coerce(value)
            return _FAILED if coerced is None else coerced
        assert self.fields is not None
        return answer_object(self.fields, value)


def answer_object(fields: list[tuple[str, Plain]], source: Any) -> Any:
    answered = {}
    for name, plain in fields:
        value = plain.answer(source)
        if value is _FAILED:
            return _FAILED
        answered[name] = value
    return answered


class PlainFieldsExecution(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context with a short path for plain fields (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.middleware_manager
        # Field middleware (a SchemaExtension with `resolve`) must see every field: no short path then.
        self._short = manager is None or not manager.middlewares
        self._plans: dict[int, tuple[Any, list[tuple[str, Plain | None]]]] = {}

    def plain_of(self, parent_type: GraphQLObjectType, details: list[Any]) -> Plain | None:
        """The plain field these selections ask for, or None (graphql-core's path)."""
        definition = parent_type.fields.get(details[0].node.name.value)
        if definition is None or definition.args or any(d.node.arguments for d in details):
            return None
        field = definition.extensions.get("strawberry-definition")
        if field is None or not field.is_basic_field:
            return None
        read, attribute = field.default_resolver, field.python_name
        kind = definition.type
        nullable = not isinstance(kind, GraphQLNonNull)
        kind = kind if nullable else kind.of_type
        is_list = isinstance(kind, GraphQLList)
        items_nullable = False
        if is_list:
            kind = kind.of_type
            items_nullable = not isinstance(kind, GraphQLNonNull)
            kind = kind if items_nullable else kind.of_type
        if is_leaf_type(kind):
            coerce = kind.coerce_output_value
            return Plain(attribute, read, nullable, coerce=coerce, is_list=is_list, items_nullable=items_nullable)
        if not isinstance(kind, GraphQLObjectType) or kind.is_type_of is not None:
            return None  # lists of lists, abstract types, and types that check their values
        grouped, deferred, _ = self.collect_subfields(kind, details)
        if deferred:
            return None
        fields = []
        for name, sub in grouped.items():
            plain = self.plain_of(kind, sub)
            if plain is None:
                return None
            fields.append((name, plain))
        return Plain(attribute, read, nullable, fields=fields, is_list=is_list, items_nullable=items_nullable)

    def _plan(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> list[tuple[str, Plain | None]]:
        # graphql-core collects a selection once per request and hands the same object to every item
        # of a list: the plan is worked out once per selection (kept with it, so that its id stays its own).
        kept = self._plans.get(id(grouped_field_set))
        if kept is not None and kept[0] is grouped_field_set:
            return kept[1]
        plan = [(name, self.plain_of(parent_type, details)) for name, details in grouped_field_set.items()]
        self._plans[id(grouped_field_set)] = (grouped_field_set, plan)
        return plan

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Any,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        plan = self._plan(parent_type, grouped_field_set) if self._short and position_context is None else None
        if not plan or not any(plain for _, plain in plan):
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)
        results: dict[str, Any] = {}
        elsewhere: dict[str, Any] | None = None
        for name, plain in plan:
            if plain is not None:
                try:
                    value = plain.answer(source_value)
                except Exception:  # noqa: BLE001 - graphql-core's path runs it again and reports it
                    value = _FAILED
                if value is not _FAILED:
                    results[name] = value
                    continue
            if elsewhere is None:
                elsewhere = {}
            elsewhere[name] = grouped_field_set[name]
            results[name] = _ELSEWHERE
        if elsewhere is None:
            return results
        completed = super().execute_fields(parent_type, source_value, path, elsewhere, position_context)
        # graphql-core gives the answers (a dict), or an awaitable of them when a field is still resolving.
        if isinstance(completed, dict):
            return _merge(results, completed)

        async def merged() -> dict[str, Any]:
            return _merge(results, await completed)

        return merged()


def _merge(results: dict[str, Any], completed: dict[str, Any]) -> dict[str, Any]:
    """The short path's answers and graphql-core's, in the order of the selection."""
    dropped = False
    for name, value in results.items():
        if value is _ELSEWHERE:
            if name in completed:
                results[name] = completed[name]
            else:
                dropped = True
    return {name: value for name, value in results.items() if value is not _ELSEWHERE} if dropped else results
