"""A finding's activities: an immutable sequence that grows by one without copying its history."""

from __future__ import annotations

import gc
import pickle
import sys
from dataclasses import replace
from datetime import date
from decimal import Decimal
from uuid import uuid4

import pytest

from rectify.domain import values
from rectify.domain.values import Activities, Activity, shared
from rectify.projections.fold import StateCodec


def activity(i: int) -> Activity:
    """As the domain makes one: the process's one object for it (shared)."""
    return shared(Activity(uuid4(), "大扫除", date(2025, 9, 1), "次", f"第{i}次", count=1))


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


LONG = (Activities.LOOSE + 3) * Activities.CHUNK + 5  # three full chunks past the loose ones, and a tail


def test_a_long_history_keeps_its_latest_chunks_as_objects_and_the_older_ones_packed() -> None:
    """Under the soak, a finding of 30,000 activities held about 11 MB of objects in each process that folded
    it; packed, the older chunks weigh a few dozen bytes an activity."""
    sequence, items = grown(LONG)
    count, nbytes = sequence.packed
    assert count == 3 * Activities.CHUNK and nbytes < 48 * count
    assert list(sequence) == items and sequence == Activities(items)
    assert all(sequence[i] is items[i] for i in (0, Activities.CHUNK + 1, count - 1, count, LONG - 1))
    assert sequence[60:70] == tuple(items[60:70]) and sequence.prefix(70) == tuple(items[:70])
    short, _ = grown((Activities.LOOSE + 1) * Activities.CHUNK - 1)
    assert short.packed == (0, 0)  # a history of a few hundred packs nothing


def held_packed(sequence: Activities) -> tuple[int, int]:
    """What `packed` says, counted chunk by chunk."""
    chunks = [c for c in sequence._chunks if c._items is None]
    return Activities.CHUNK * len(chunks), sum(sys.getsizeof(c._packed) for c in chunks)


def test_what_a_sequence_holds_packed_is_known_however_it_was_made() -> None:
    """Caches weigh a finding on every change of it: the total is kept by the chunks, not counted again."""
    sequence, items = grown(LONG)
    assert sequence.packed == held_packed(sequence) and sequence.packed[0] == 3 * Activities.CHUNK
    retold = Activities(items)
    assert retold.packed == held_packed(retold) and retold.packed[0] == sequence.packed[0]
    for kept in (Activities.CHUNK + 3, LONG - 10):  # cut inside the packed chunks, and after them
        regrown = sequence.prefix(kept).extended(activity(-i) for i in range(LONG - kept + 200))
        packed_chunks = len(regrown) // Activities.CHUNK - Activities.LOOSE
        assert regrown.packed == held_packed(regrown) and regrown.packed[0] == Activities.CHUNK * packed_chunks
        assert sequence.packed == held_packed(sequence)


def test_packing_a_chunk_shared_by_an_earlier_sequence_keeps_it_a_prefix() -> None:
    """The chunk that fills packs the oldest loose one in place: the sequence it grew from still shares it,
    so `startswith` (which the views' writes rely on) stays a check of identity."""
    history, items = grown((Activities.LOOSE + 1) * Activities.CHUNK - 1)
    assert history.packed == (0, 0)
    longer = history.appended(activity(-1))
    assert longer.packed[0] == history.packed[0] == Activities.CHUNK
    assert longer.startswith(history) and list(history) == items


def test_packed_activities_come_back_exactly_when_no_one_holds_them() -> None:
    """Amounts keep their digits, days and measures come back, and a retraction with its reason."""
    measure = uuid4()
    made = [
        Activity(uuid4(), "退还资金", date(2025, 9, 1 + i % 28), "万元", f"退还第{i}笔", amount=Decimal("1.50"))
        if i % 3 == 0
        else Activity(uuid4(), "入户走访", date(2024, 2, 29), "户", "走访", count=i, measure_id=measure)
        if i % 3 == 1
        else Activity(uuid4(), "大扫除", date(2026, 1, 1), "次", "", 1, retracted=True, retraction_reason="重复登记")
        for i in range(LONG)
    ]
    expected = [(repr(a), a.activity_id, a.amount) for a in made]
    sequence = Activities(shared(a) for a in made)
    del made
    gc.collect()
    back = list(sequence)
    assert [(repr(a), a.activity_id, a.amount) for a in back] == expected
    assert [str(a.amount) for a in back[:9:3]] == ["1.50"] * 3


def test_reading_packed_activities_does_not_fill_the_registry_of_activities_alive() -> None:
    sequence, items = grown(LONG)
    ids = [a.activity_id for a in items[: Activities.CHUNK]]
    del items
    gc.collect()
    first = sequence[: Activities.CHUNK]
    assert all(values._ALIVE.get(i) is None for i in ids)  # decoded for this read, not registered
    assert [a.activity_id for a in first] == ids
