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
from collections.abc import Hashable
from typing import Generic, TypeVar, overload

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
D = TypeVar("D")

#: What an entry costs beyond the bytes its owner counts: the ordered dictionary's slot and
#: link, the tuple that holds the value and its size, measured with sys.getsizeof (about 200).
ENTRY_OVERHEAD = 256


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
