"""The project's one bounded cache: least recently used entries, bounded by the bytes they hold.

A cache bounded by its number of entries is bounded by nothing when entries vary in size: 2,048
answers of 60 KB each hold 120 MB. This one counts bytes. The caller says what an entry costs
(its payload and its key, as stored), and every entry is charged a fixed overhead besides, for
the dictionary slot and the objects that hold it, so that many tiny entries are bounded too.

Safe to share between threads (the thread pool and the event loop): every step holds one lock,
and no step does more than move, add or drop entries.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Any, Generic, TypeVar, overload

from rectify.domain.values import Activities, Activity

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
D = TypeVar("D")

#: What an entry costs beyond the bytes its owner counts: the ordered dictionary's slot and
#: link, the tuple that holds the value and its size, measured with sys.getsizeof (about 200).
ENTRY_OVERHEAD = 256

#: What a decoded activity is charged in a cache: the activity and its UUID weigh about 220 bytes and its
#: entry among the activities alive (values.shared) 137, as measured with tracemalloc; its kind, unit and
#: day are shared by every activity of that value, and the rest is the chunks' tuples. Charged in full by
#: each cache that holds it (the write side's, the projector's, the views'), though they hold one object:
#: whichever keeps it alive pays for it. At 512 bytes and 32 MiB, the soak's 4 findings outgrew the views'
#: cache after 16 minutes (15,500 activities each), and from then on every read decoded a finding's whole
#: history.
ACTIVITY_BYTES = 384
#: What a chunk of activities held packed (values.Activities) is charged beyond its bytes: the chunk object
#: and its slot in the sequence's tuple.
PACKED_CHUNK_BYTES = 96
#: What a folded aggregate is charged besides its activities: a base, and per other event folded into it
#: (most add a value to its state: a measure, a check, a piece of evidence).
STATE_BYTES = 2048
EVENT_BYTES = ACTIVITY_BYTES


def activities_bytes(activities: Sequence[Activity]) -> int:
    """What a finding's activities are charged in a cache: ACTIVITY_BYTES for each held as an object, the
    bytes of the packed ones (about 27 an activity under the soak, 1/14 of the objects)."""
    count, nbytes = activities.packed if isinstance(activities, Activities) else (0, 0)
    return ACTIVITY_BYTES * (len(activities) - count) + nbytes + PACKED_CHUNK_BYTES * (count // Activities.CHUNK)


def aggregate_bytes(aggregate: Any) -> int:
    """What a folded aggregate is charged in a cache (the write side's, the projector's). Charged by its
    stored events' bytes, a finding of 67,000 activities outgrew the write side's 64 MiB although it
    held 2 MB of them packed, and from then on every command on it folded its whole history again."""
    activities = getattr(aggregate, "activities", ())
    return STATE_BYTES + EVENT_BYTES * max(aggregate.version - len(activities), 0) + activities_bytes(activities)


class BoundedCache(Generic[K, V]):
    """Keeps the most recently used entries whose sizes add up to at most `max_bytes`.

    An entry larger than the whole bound is not kept (it would evict everything and stay alone);
    `max_bytes` of 0 keeps nothing, which turns the cache off.
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes: give 0 or more bytes, not {max_bytes}")
        self.max_bytes = max_bytes
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @overload
    def get(self, key: K) -> V | None: ...

    @overload
    def get(self, key: K, default: D) -> V | D: ...

    def get(self, key: K, default: object = None) -> object:
        """The value kept for `key` (now the most recently used), or `default`."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return default
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: K, value: V, nbytes: int) -> bool:
        """Keeps `value` under `key`, charged `nbytes` plus the overhead; evicts the least recently
        used entries until the total fits. False when the entry alone is larger than the bound."""
        cost = max(nbytes, 0) + ENTRY_OVERHEAD
        with self._lock:
            self._drop(key)
            if cost > self.max_bytes:
                return False
            self._entries[key] = (value, cost)
            self._bytes += cost
            while self._bytes > self.max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._bytes -= evicted
            return True

    def discard(self, key: K) -> None:
        with self._lock:
            self._drop(key)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        """The bytes the kept entries are charged, overheads included; never over `max_bytes`."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def _drop(self, key: K) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry[1]
