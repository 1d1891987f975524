"""What each GraphQL operation runs with: the commands, the read side's front door, the change feed, the caller."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

import strawberry
from strawberry.extensions import SchemaExtension

from rectify.access import PUBLIC, Actor
from rectify.application import RectifyApplication
from rectify.domain import Forbidden
from rectify.projections.feed import Feed
from rectify.queries import Queries, Reading

T = TypeVar("T")


@dataclass
class Context:
    commands: RectifyApplication
    queries: Queries
    feed: Feed
    actor: Actor = PUBLIC
    request: Any = None
    response: Any = None
    connection_params: dict[str, Any] | None = field(default=None)
    #: On a WebSocket: looks the connection's token up again (None once revoked), so that a long-lived
    #: connection stops serving its token once it is revoked.
    recheck: Callable[[], Awaitable[Actor | None]] | None = None


def context(info: strawberry.Info) -> Context:
    return info.context


#: The Reading of the operation being executed. A WebSocket connection runs many operations with one
#: Context, each in a task of its own; a task sees the value its operation set.
_reading: ContextVar[Reading | None] = ContextVar("rectify_reading", default=None)


def reading(info: strawberry.Info) -> Reading:
    """The operation's one Reading: every field of an operation reads at the same position."""
    found = _reading.get()
    if found is None:  # run without OneReadingPerOperation (a schema built without it)
        ctx = context(info)
        found = ctx.queries.reading(ctx.actor)
    return found


class OneReadingPerOperation(SchemaExtension):
    """Starts the Reading of each operation before any field runs (fields resolve in tasks of their
    own, which see only what was set before they started), after checking that a WebSocket's token
    still stands."""

    async def on_execute(self) -> AsyncIterator[None]:
        ctx = self.execution_context.context
        if isinstance(ctx, Context) and ctx.recheck is not None:
            actor = await ctx.recheck()
            if actor is None:
                raise Forbidden("the token of this connection was revoked")
        token = _reading.set(ctx.queries.reading(ctx.actor) if isinstance(ctx, Context) else None)
        try:
            yield
        finally:
            _reading.reset(token)


#: Threads for store code called from resolvers, as many as Starlette's pool allows (anyio's 40).
#: Handing work to one through asyncio costs a fraction of going through anyio, whose capacity
#: limiter and backend lookups ran on the event loop for every call: some 10 % of its busy time
#: under a stream of commands.
_THREADS = ThreadPoolExecutor(max_workers=40, thread_name_prefix="rectify-store")


async def blocking(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Runs store code (synchronous) in a worker thread, off the event loop, with the caller's
    context variables."""
    call = functools.partial(contextvars.copy_context().run, function, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_THREADS, call)
