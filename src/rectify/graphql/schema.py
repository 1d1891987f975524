"""The schema: queries, mutations, subscriptions, and the extensions that guard and speed them."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.types import ExecutionContext

from rectify.domain import RectifyError
from rectify.graphql.context import OneReadingPerOperation
from rectify.graphql.execution import PlainFieldsExecution
from rectify.graphql.guard import guard_for
from rectify.graphql.mutations import Mutation
from rectify.graphql.resolvers import Query, Subscription
from rectify.graphql.scalars import SCALAR_OVERRIDES
from rectify.settings import Limits

log = logging.getLogger(__name__)

#: graphql-core ends a message with its suggestions: "… Did you mean 'ledger'?"
SUGGESTION = re.compile(r"\s*Did you mean .*\Z", re.DOTALL)


def is_unexpected(error: GraphQLError) -> bool:
    """Expected failures keep their message; anything unexpected is masked and logged with its traceback.

    Expected are our own typed failures and the errors of the request itself: syntax, validation
    and variable values (a string where a number goes, a date that is not one). The last come
    before any field runs, so they have no path, and they name the variable and field at fault.
    """
    original = error.original_error
    return not (original is None or error.path is None or isinstance(original, RectifyError))


class RectifySchema(strawberry.Schema):
    """Strawberry's schema, logging each error once: a client's mistake at INFO on one line, an
    unexpected error at ERROR with its traceback; and, with introspection off, no suggestions."""

    def __init__(self, *args: Any, limits: Limits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hide_suggestions = not limits.introspection

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        # Called with every error before it is masked or sent, over HTTP and the WebSocket alike.
        for error in errors:
            if self.hide_suggestions:
                error.message = SUGGESTION.sub("", error.message)
            if is_unexpected(error):
                log.error("unexpected error in %s", error.path, exc_info=error.original_error)
            else:
                operation = execution_context.operation_name if execution_context else None
                where = f" in '{operation}'" if operation else ""
                log.info("request error%s: %s", where, " ".join(error.message.split()))


def build_schema(limits: Limits = Limits()) -> strawberry.Schema:
    # Classes and factories, not instances: each request gets its own extension objects.
    extensions: list[Callable[[], SchemaExtension]] = [
        guard_for(limits),  # token, cost and introspection limits; cached parsing and validation
        lambda: MaskErrors(should_mask_error=is_unexpected, error_message="Unexpected error."),
        OneReadingPerOperation,  # every field of an operation reads at one position
    ]
    return RectifySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        execution_context_class=PlainFieldsExecution,  # plain fields of plain values in one loop
        scalar_overrides=SCALAR_OVERRIDES,  # Decimal: amounts as strings, floats refused
        limits=limits,
    )


schema = build_schema()
