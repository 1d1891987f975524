"""Store code called from a resolver runs in a worker thread, with the caller's context variables."""

from __future__ import annotations

import asyncio
import threading
from contextvars import ContextVar

import pytest

from rectify.graphql.context import blocking

operation: ContextVar[str] = ContextVar("operation", default="none")


def where(suffix: str) -> tuple[str, int]:
    return f"{operation.get()}{suffix}", threading.get_ident()


def test_it_runs_off_the_event_loop_and_sees_the_caller_s_context() -> None:
    async def main() -> tuple[tuple[str, int], int]:
        operation.set("ledger")
        return await blocking(where, "!"), threading.get_ident()

    (seen, worker), loop = asyncio.run(main())
    assert seen == "ledger!" and worker != loop


def test_its_errors_reach_the_caller() -> None:
    def fails() -> None:
        raise LookupError("no such round")

    with pytest.raises(LookupError, match="no such round"):
        asyncio.run(blocking(fails))
