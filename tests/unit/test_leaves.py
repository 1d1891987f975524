"""What a leaf covers: its input laid out byte by byte, every covered part changing the hash, and the
record time and actor read from the stored bytes as the event store's own JSON holds them."""

from __future__ import annotations

from hashlib import sha256
from uuid import UUID

import pytest

from rectify.integrity.leaves import (
    StoredEvent,
    Undecodable,
    leaf_hash_of,
    leaf_input,
    record_facts,
    recorded_at_text,
    seal,
    seal_all,
)

AGGREGATE = UUID("12345678-1234-5678-1234-567812345678")
STATE = (
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-03-12T08:00:00.000001+00:00"},'
    b'"actor":"unit:\xe6\x9d\xbe\xe5\x9b\xad","kind":"\xe5\xa4\xa7\xe6\x89\xab\xe9\x99\xa4","count":1}'
)
EVENT = StoredEvent(17, AGGREGATE.bytes, 3, "rectify.domain.finding:Finding.ActivityRecorded", STATE)


def test_the_leaf_input_is_format_position_id_version_time_topic_and_the_digest_of_the_bytes() -> None:
    topic = EVENT.topic.encode()
    expected = (
        b"\x01"
        + (17).to_bytes(8, "big")
        + AGGREGATE.bytes
        + (3).to_bytes(8, "big")
        + (1_773_302_400_000_001).to_bytes(8, "big", signed=True)
        + len(topic).to_bytes(2, "big")
        + topic
        + sha256(STATE).digest()
    )
    assert leaf_input(17, AGGREGATE.bytes, 3, 1_773_302_400_000_001, EVENT.topic, sha256(STATE).digest()) == expected
    leaf = seal(0, EVENT)
    assert leaf.hash == sha256(b"\x00" + expected).digest()
    assert leaf.recorded_at == 1_773_302_400_000_001 and recorded_at_text(leaf.recorded_at).startswith("2026-03-12T08")


@pytest.mark.parametrize(
    "changed",
    [
        EVENT._replace(position=18),
        EVENT._replace(aggregate_id=UUID(int=1).bytes),
        EVENT._replace(version=4),
        EVENT._replace(topic="rectify.domain.finding:Finding.Closed"),
        EVENT._replace(state=STATE.replace(b'"count":1', b'"count":2')),
        EVENT._replace(state=STATE.replace(b"unit:", b"inspector:")),
        EVENT._replace(state=STATE.replace(b"08:00:00", b"08:00:01")),
    ],
)
def test_every_covered_part_changes_the_leaf(changed: StoredEvent) -> None:
    assert seal(0, changed).hash != seal(0, EVENT).hash


def test_sealing_many_at_once_gives_each_event_the_leaf_it_gets_alone() -> None:
    events = [EVENT._replace(position=p, version=p) for p in range(5, 12)]
    leaves = seal_all(40, events)
    assert [leaf.leaf_index for leaf in leaves] == list(range(40, 47))
    for leaf, event in zip(leaves, events, strict=True):
        recorded_at, _ = record_facts(event.state)
        digest = sha256(event.state).digest()
        assert leaf.hash == leaf_hash_of(
            event.position, event.aggregate_id, event.version, recorded_at, event.topic, digest
        )


def test_the_record_time_and_actor_are_read_from_the_stored_json() -> None:
    assert record_facts(STATE) == (1_773_302_400_000_001, "unit:松园")
    with_nan = STATE.replace(b'"count":1', b'"amount":NaN')  # the standard library's json reads this; orjson not
    assert record_facts(with_nan)[1] == "unit:松园"


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"actor": "x"}', "no record time"),
        (b'{"timestamp":{"_type_":"datetime_iso","_data_":"yesterday"}}', "is not a date and time"),
        (b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-03-12T08:00:00"}}', "has no time zone"),
        (
            b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-03-12T08:00:00+00:00"},"actor":7}',
            "actor is not text",
        ),
    ],
)
def test_bytes_that_are_not_an_event_do_not_decode_and_say_why(state: bytes, reason: str) -> None:
    with pytest.raises(Undecodable, match=reason):
        record_facts(state)


def test_a_batch_that_meets_bytes_that_do_not_decode_keeps_the_leaves_before_them() -> None:
    events = [EVENT, EVENT._replace(position=18, version=4), EVENT._replace(position=19, state=b"{")]
    with pytest.raises(Undecodable) as raised:
        seal_all(0, events)
    assert [leaf.position for leaf in raised.value.leaves] == [17, 18]
