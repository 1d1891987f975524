"""The schema: queries, mutations, subscriptions, and the extensions that guard and speed them."""

from __future__ import annotations

import logging
from collections.abc import Callable

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors, SchemaExtension

from rectify.domain import RectifyError
from rectify.graphql.context import OneReadingPerOperation
from rectify.graphql.execution import PlainFieldsExecution
from rectify.graphql.guard import guard_for
from rectify.graphql.mutations import Mutation
from rectify.graphql.resolvers import Query, Subscription
from rectify.settings import Limits

log = logging.getLogger(__name__)


def should_mask(error: GraphQLError) -> bool:
    """Expected failures keep their message; anything unexpected is masked, and logged here.

    Expected are our own typed failures and the errors of the request itself: syntax, validation
    and variable values (a string where a number goes, a date that is not one). The last come
    before any field runs, so they have no path, and they name the variable and field at fault.
    """
    original = error.original_error
    if original is None or error.path is None or isinstance(original, RectifyError):
        return False
    log.error("unexpected error in %s", error.path, exc_info=original)
    return True


def build_schema(limits: Limits = Limits()) -> strawberry.Schema:
    # Classes and factories, not instances: each request gets its own extension objects.
    extensions: list[Callable[[], SchemaExtension]] = [
        guard_for(limits),  # token, cost and introspection limits; cached parsing and validation
        lambda: MaskErrors(should_mask_error=should_mask, error_message="Unexpected error."),
        OneReadingPerOperation,  # every field of an operation reads at one position
    ]
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        execution_context_class=PlainFieldsExecution,  # plain fields of plain values in one loop
    )


schema = build_schema()
