"""Bearer tokens to actors, remembered until their token is revoked (the change feed says when).

A lookup reads the token's aggregate from the event store, so answers are kept: for `ttl` seconds
at most, and no longer than the token lives. The change feed tells `forget` of each revocation in
the log (in whichever process it was made), before it wakes any subscriber: from then on the token
is looked up again, found revoked, and refused. The time limit only bounds how long an answer
could outlive a revocation that went unheard (a lost LISTEN connection is caught up when it is
opened again).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from enum import Enum
from typing import Final, Literal
from uuid import UUID

from starlette.concurrency import run_in_threadpool

from rectify.access import Actor
from rectify.domain.token import digest, token_id


class Miss(Enum):
    """A token not remembered (an enum member, so that the type checker tells it from an actor)."""

    MISS = "miss"


class Tokens:
    MISS: Final = Miss.MISS

    def __init__(self, authenticate: Callable[[str], Actor | None], ttl: float, size: int = 10_000) -> None:
        self.authenticate = authenticate
        self.ttl = ttl
        self.size = size
        self._known: OrderedDict[str, tuple[float, Actor | None, UUID]] = OrderedDict()
        self._forgotten = 0  # revocations heard so far: a lookup that overlapped one is not kept
        self._lock = threading.Lock()  # lookups run in the thread pool

    def remembered(self, secret: str) -> Actor | None | Literal[Miss.MISS]:
        """The actor of a token looked up lately and not revoked since, or MISS (no store access)."""
        with self._lock:
            hit = self._known.get(secret)
        return hit[1] if hit is not None and hit[0] > time.monotonic() else self.MISS

    async def resolve(self, secret: str) -> Actor | None:
        """The token's actor; only a token not remembered is looked up in the store, in a thread."""
        actor = self.remembered(secret)
        if actor is self.MISS:
            return await run_in_threadpool(self.lookup, secret)
        return actor

    def lookup(self, secret: str) -> Actor | None:
        """The token's actor as the store has it now (None: unknown or revoked), remembered."""
        with self._lock:
            forgotten = self._forgotten
        expires = time.monotonic() + self.ttl
        actor = self.authenticate(secret)
        with self._lock:
            if self._forgotten == forgotten:  # else a revocation came in meanwhile: ask again next time
                self._known[secret] = (expires, actor, token_id(digest(secret)))
                self._known.move_to_end(secret)
                while len(self._known) > self.size:
                    self._known.popitem(last=False)
        return actor

    def forget(self, revoked: frozenset[UUID]) -> None:
        """These tokens were revoked: their next use is looked up again (and refused)."""
        with self._lock:
            self._forgotten += 1
            for secret in [s for s, (_, _, identifier) in self._known.items() if identifier in revoked]:
                del self._known[secret]
