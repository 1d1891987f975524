"""One lock per SQLite file for this process's writers, taken before SQLite's own write lock.

The events, the views and the integrity tables share the file, and SQLite lets one writer in at a
time. Writers that meet at its lock wait in its busy handler, which sleeps in steps of up to 100 ms
and may miss the moments the lock is free (under a stream of writes, a waiter could sleep through
many commits): the tail of a command's latency. Waiting here instead, each writer gets in as soon
as the one before it has committed. Other processes' writers still meet at SQLite's lock.
"""

from __future__ import annotations

import os
import threading

_locks: dict[str, threading.Lock] = {}
#: The lock of each path as spelt: resolving a path takes a system call per component of it, and
#: every write of the events, the views and the seals asks for its lock.
_spelt: dict[str | os.PathLike[str], threading.Lock] = {}
_guard = threading.Lock()


def sqlite_write_lock(path: str | os.PathLike[str]) -> threading.Lock:
    """The lock of the SQLite file at `path` (however the path is spelt)."""
    found = _spelt.get(path)
    if found is not None:
        return found
    key = os.path.realpath(path)
    with _guard:
        found = _spelt[path] = _locks.setdefault(key, threading.Lock())
    return found
