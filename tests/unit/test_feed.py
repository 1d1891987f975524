"""The change feed's hand-over to a slow subscriber."""

from __future__ import annotations

import asyncio

from rectify.projections.feed import Signal, _offer


def test_a_slow_subscriber_gets_one_catch_all_signal_for_views_and_log_alike() -> None:
    async def scenario() -> list[Signal]:
        queue: asyncio.Queue[Signal] = asyncio.Queue(maxsize=2)
        _offer(queue, Signal(True, 10, frozenset()))
        _offer(queue, Signal(True, 11, frozenset()))
        _offer(queue, Signal(False, 12))  # the log grew: the backlog is full
        return [queue.get_nowait() for _ in range(queue.qsize())]

    kept = asyncio.run(scenario())
    assert kept == [Signal(True, 12, None)]
    assert kept[0].touches(object())  # type: ignore[arg-type]
