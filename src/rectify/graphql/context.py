"""What each GraphQL operation runs with: the wired system, the caller, and the change feed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from rectify.access import PUBLIC, Actor
from rectify.bootstrap import System
from rectify.web.feed import Feed


@dataclass
class Context:
    system: System
    feed: Feed
    actor: Actor = PUBLIC
    request: Any = None
    response: Any = None
    connection_params: dict[str, Any] | None = field(default=None)
    #: On a WebSocket: looks the connection's token up again (None once revoked), so that a long-lived
    #: subscription stops when its token does.
    recheck: Callable[[], Awaitable[Actor | None]] | None = None
