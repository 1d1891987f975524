"""The notifications a process saved last: the run after a position, only where it is known to be the store's."""

from __future__ import annotations

from uuid import uuid4

from eventsourcing.persistence import Notification

from rectify.eventlog import Recent


def saved(*positions: int) -> Recent:
    recent = Recent()
    recent.saved(Notification(uuid4(), 1, "topic", b"{}", position) for position in positions)
    return recent


def test_the_run_right_after_a_position_is_given_up_to_a_limit() -> None:
    recent = saved(5, 6, 7, 8)
    assert [n.id for n in recent.after(4, 10) or []] == [5, 6, 7, 8]
    assert [n.id for n in recent.after(6, 10) or []] == [7, 8]
    assert [n.id for n in recent.after(4, 2) or []] == [5, 6]


def test_nothing_is_given_where_the_next_position_is_not_among_those_saved() -> None:
    recent = saved(5, 6, 9, 10)
    assert recent.after(3, 10) is None  # position 4: saved before, or by another process
    assert recent.after(6, 10) is None  # 7 and 8: another process's, or skipped by the store
    assert recent.after(10, 10) is None  # nothing saved after it yet
    assert [n.id for n in recent.after(4, 10) or []] == [5, 6]  # the run stops at the gap


def test_only_the_last_few_are_kept() -> None:
    recent = saved(*range(1, Recent.SIZE + 11))
    assert recent.after(0, 10) is None
    assert [n.id for n in recent.after(Recent.SIZE + 5, 10) or []] == list(range(Recent.SIZE + 6, Recent.SIZE + 11))
