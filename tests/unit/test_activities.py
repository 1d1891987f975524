"""A finding's activities: an immutable sequence that grows by one without copying its history."""

from __future__ import annotations

import pickle
from dataclasses import replace
from datetime import date
from decimal import Decimal
from uuid import uuid4

import pytest

from rectify.domain.values import Activities, Activity, shared
from rectify.projections.fold import StateCodec


def activity(i: int) -> Activity:
    return Activity(uuid4(), "大扫除", date(2025, 9, 1), "次", f"第{i}次", count=1)


def grown(n: int) -> tuple[Activities, list[Activity]]:
    items = [activity(i) for i in range(n)]
    sequence = Activities()
    for item in items:
        sequence = sequence.appended(item)
    return sequence, items


@pytest.mark.parametrize("n", [0, 1, Activities.CHUNK - 1, Activities.CHUNK, Activities.CHUNK + 1, 1000])
def test_a_grown_sequence_is_its_items_in_order_by_index_slice_and_equality(n: int) -> None:
    sequence, items = grown(n)
    assert len(sequence) == n and list(sequence) == items
    assert sequence == tuple(items) == sequence[:] and tuple(items) == sequence
    assert sequence == Activities(items) and hash(sequence) == hash(tuple(items))
    for i in {0, n // 3, n - 1} if n else set():
        assert sequence[i] is items[i] and sequence[-1] is items[-1]
    assert sequence[3 : n - 2] == tuple(items[3 : n - 2]) and sequence[::2] == tuple(items[::2])
    with pytest.raises(IndexError):
        sequence[n]


def test_recording_one_more_shares_the_history_instead_of_copying_it() -> None:
    history, _ = grown(10 * Activities.CHUNK + 5)
    longer = history.appended(activity(-1))
    assert longer.startswith(history) and len(longer) == len(history) + 1
    assert all(mine is theirs for mine, theirs in zip(longer._chunks, history._chunks, strict=True))
    retold = Activities(history)  # equal, but built anew: nothing shared
    assert retold == history and not longer.startswith(retold)
    assert not history.startswith(longer)


def test_each_sequence_keeps_its_own_items_when_two_grow_from_one() -> None:
    base, items = grown(Activities.CHUNK - 1)
    left, right = base.appended(activity(1)), base.appended(activity(2))
    assert left[-1] is not right[-1] and list(base) == items
    assert left.startswith(base) and right.startswith(base) and not left.startswith(right)


def test_a_sequence_survives_pickling_as_the_views_store_it() -> None:
    sequence, items = grown(150)
    assert pickle.loads(pickle.dumps(sequence)) == sequence
    assert list(pickle.loads(pickle.dumps(sequence))) == items


@pytest.mark.parametrize("kept", [0, 5, Activities.CHUNK, 2 * Activities.CHUNK + 7])
@pytest.mark.parametrize("added", [0, 1, Activities.CHUNK - 1, 3 * Activities.CHUNK + 2])
def test_a_prefix_extended_is_the_items_in_order_and_shares_the_full_chunks_before_the_cut(
    kept: int, added: int
) -> None:
    history, items = grown(3 * Activities.CHUNK + 10)
    more = [activity(-i) for i in range(added)]
    rewritten = history.prefix(kept).extended(more)
    assert list(rewritten) == items[:kept] + more and len(rewritten) == kept + added
    assert rewritten == Activities(items[:kept] + more)
    full = kept // Activities.CHUNK
    assert all(mine is theirs for mine, theirs in zip(rewritten._chunks[:full], history._chunks, strict=False))
    assert history.prefix(kept).startswith(history.prefix(kept // 2))
    with pytest.raises(IndexError):
        history.prefix(len(history) + 1)


def test_an_activity_equal_to_one_alive_is_that_one_object() -> None:
    first = shared(activity(1))
    assert shared(replace(first)) is first
    retracted = shared(replace(first, retracted=True, retraction_reason="重复登记"))
    assert retracted is not first and retracted.retracted and not first.retracted
    measured = shared(replace(first, count=None, amount=Decimal("1.0"), unit="万元"))
    digits = shared(replace(measured, amount=Decimal("1.00")))  # equal as numbers, printed otherwise
    assert digits is not measured and str(digits.amount) == "1.00"


def test_the_views_codec_decodes_an_activity_alive_as_that_object() -> None:
    codec = StateCodec()
    first = shared(activity(2))
    assert codec.decode(codec.encode((first,)))[0] is first


def test_kinds_units_and_days_are_one_object_per_value() -> None:
    one = Activity(uuid4(), "".join(["大", "扫除"]), date(2025, 9, 1), "".join(["次"]), "")
    other = Activity(uuid4(), "".join(["大扫", "除"]), date(2025, 9, 1), "".join(["次", ""]), "")
    assert one.kind is other.kind and one.unit is other.unit and one.occurred_on is other.occurred_on
