"""What one leaf of the log's Merkle tree covers, and how it is computed from an event row as stored. No I/O.

A leaf covers the event's position, aggregate id and version, topic, record time and the SHA-256 of its
stored bytes (the `state` column exactly as stored, which also holds the actor and the payload):

    leaf input = 0x01 (format) ‖ position (u64) ‖ aggregate id (16 bytes) ‖ version (u64)
                 ‖ record time (i64, µs since 1970 UTC) ‖ topic length (u16) ‖ topic (UTF-8) ‖ SHA-256(state)

integers big-endian; leaf hash = SHA-256(0x00 ‖ leaf input) (RFC 6962). The stored bytes enter through
their digest, so a leaf input can be shown with a proof without the payload it vouches for (an internal
finding's text never has to travel with a proof), and the bytes still cannot change without the leaf.

Beside each leaf the sealer keeps, for diagnosis only, the record time, an 8-byte digest of the actor and
the state's digest as they were when sealed: with them `rectify verify` can say what changed at a bad
position, not only that something did.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from struct import Struct
from typing import Any, NamedTuple
from uuid import UUID

import orjson

from rectify.integrity.merkle import leaf_hash

LEAF_FORMAT = 1
_HEAD = Struct(">BQ16sQqH")  # format, position, aggregate id, version, record time, topic length
LEAF_HEAD = _HEAD  # what a proof checker reads the position from
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_decode = json.JSONDecoder().decode


class Undecodable(ValueError):
    """Stored bytes that do not decode into an event rectify wrote."""

    leaves: list[Leaf]  # from `seal_all`: the leaves of the events before the one that does not decode


class StoredEvent(NamedTuple):
    """One row of the events table, as stored (a tuple: a million of them are made in a verification)."""

    position: int
    aggregate_id: bytes  # the UUID's 16 bytes, whichever way the store keeps it
    version: int
    topic: str
    state: bytes

    @property
    def aggregate(self) -> UUID:
        return UUID(bytes=self.aggregate_id)

    @property
    def type(self) -> str:
        return self.topic.rpartition(":")[2]


class Leaf(NamedTuple):
    """What the sealer wrote beside an event: its leaf hash and what was true of it then."""

    leaf_index: int  # 0-based place in the tree (not `index`, which would hide tuple.index)
    position: int
    aggregate_id: bytes
    version: int
    recorded_at: int  # µs since 1970, UTC
    actor_digest: bytes  # 8 bytes
    state_digest: bytes  # 32 bytes
    hash: bytes  # 32 bytes


def leaf_input(
    position: int, aggregate_id: bytes, version: int, recorded_at: int, topic: str, state_digest: bytes
) -> bytes:
    encoded = topic.encode("utf-8")
    return _HEAD.pack(LEAF_FORMAT, position, aggregate_id, version, recorded_at, len(encoded)) + encoded + state_digest


def leaf_hash_of(
    position: int, aggregate_id: bytes, version: int, recorded_at: int, topic: str, digest: bytes
) -> bytes:
    return leaf_hash(leaf_input(position, aggregate_id, version, recorded_at, topic, digest))


def actor_digest(actor: str) -> bytes:
    return sha256(actor.encode("utf-8")).digest()[:8]


def record_facts(state: bytes) -> tuple[int, str]:
    """The record time (µs since 1970, UTC) and the actor an event's stored bytes hold.

    Read from the library's JSON directly (not through the mapper, which would build the whole event):
    the record time is the `timestamp` field as the library's transcoder writes a datetime. orjson reads
    it four times faster than the standard library; the two agree on the text fields read here, and what
    orjson refuses is read again by the standard library, which the event store itself uses.
    """
    try:
        fields: Any = orjson.loads(state)
    except orjson.JSONDecodeError:  # stricter than the library's json (NaN, lone surrogates): ask it
        try:
            fields = _decode(state.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            raise Undecodable(f"the stored bytes are not JSON ({error})") from None
    if not isinstance(fields, dict):
        raise Undecodable("the stored bytes are not a JSON object")
    stamp = fields.get("timestamp")
    if not (isinstance(stamp, dict) and stamp.get("_type_") == "datetime_iso" and isinstance(stamp.get("_data_"), str)):
        raise Undecodable("the stored bytes have no record time (timestamp)")
    try:
        when = datetime.fromisoformat(stamp["_data_"])
    except ValueError:
        raise Undecodable(f"the record time {stamp['_data_']!r} is not a date and time") from None
    if when.tzinfo is None:
        raise Undecodable(f"the record time {stamp['_data_']!r} has no time zone")
    actor = fields.get("actor", "")
    if not isinstance(actor, str):
        raise Undecodable("the actor is not text")
    return (when - _EPOCH) // _MICROSECOND, actor


def recorded_at_text(microseconds: int) -> str:
    return (_EPOCH + microseconds * _MICROSECOND).isoformat()


def seal(index: int, event: StoredEvent) -> Leaf:
    """The leaf of an event at its place in the tree; Undecodable if its bytes are not an event's."""
    return seal_all(index, [event])[0]


def seal_all(first: int, events: list[StoredEvent]) -> list[Leaf]:
    """The leaves of consecutive events, the first at index `first`: `seal` for each, in one tight loop
    (sealing a million events is this loop). Raises Undecodable for the first event that does not decode,
    with the leaves before it in `Undecodable.leaves`."""
    leaves: list[Leaf] = []
    topics: dict[str, bytes] = {}
    pack, new, facts = _HEAD.pack, Leaf, record_facts
    for index, (position, aggregate_id, version, topic, state) in enumerate(events, first):
        try:
            recorded_at, actor = facts(state)
        except Undecodable as error:
            error.leaves = leaves
            raise
        digest = sha256(state).digest()
        encoded = topics.get(topic) or topics.setdefault(topic, topic.encode("utf-8"))
        head = pack(LEAF_FORMAT, position, aggregate_id, version, recorded_at, len(encoded))
        leaves.append(
            new(
                index,
                position,
                aggregate_id,
                version,
                recorded_at,
                sha256(actor.encode("utf-8")).digest()[:8],
                digest,
                sha256(b"\x00" + head + encoded + digest).digest(),
            )
        )
    return leaves
