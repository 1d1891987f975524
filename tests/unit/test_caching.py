"""The one bounded cache: bounded by bytes, least recently used out first."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from rectify.caching import ENTRY_OVERHEAD, BoundedCache


def test_entries_are_evicted_once_their_bytes_pass_the_bound_not_their_number() -> None:
    cache: BoundedCache[int, bytes] = BoundedCache(10 * (1000 + ENTRY_OVERHEAD))
    for key in range(25):
        cache.put(key, b"x" * 1000, 1000)
        assert cache.nbytes <= cache.max_bytes
    assert len(cache) == 10
    assert [key in cache for key in (14, 15, 24)] == [False, True, True]
    cache.put("big", b"x" * 5000, 5000)  # one large entry takes the room of five small ones
    assert len(cache) == 10 - 5 + 1 and cache.nbytes <= cache.max_bytes


def test_the_least_recently_used_entry_goes_first() -> None:
    cache: BoundedCache[str, str] = BoundedCache(3 * (10 + ENTRY_OVERHEAD))
    for key in "abc":
        cache.put(key, key, 10)
    assert cache.get("a") == "a"  # a is used again: b is now the oldest
    cache.put("d", "d", 10)
    assert "b" not in cache and all(key in cache for key in "acd")


def test_an_entry_larger_than_the_bound_is_not_kept_and_evicts_nothing() -> None:
    cache: BoundedCache[str, bytes] = BoundedCache(4096)
    cache.put("small", b"s", 1)
    assert cache.put("huge", b"h" * 5000, 5000) is False
    assert "huge" not in cache and cache.get("small") == b"s"


def test_putting_a_key_again_replaces_its_entry_and_its_size() -> None:
    cache: BoundedCache[str, bytes] = BoundedCache(1 << 20)
    cache.put("k", b"1" * 100, 100)
    cache.put("k", b"2" * 10, 10)
    assert cache.get("k") == b"2" * 10 and cache.nbytes == 10 + ENTRY_OVERHEAD and len(cache) == 1
    cache.discard("k")
    assert cache.nbytes == 0 and cache.get("k", "gone") == "gone"


def test_a_bound_of_zero_keeps_nothing_and_a_negative_one_is_refused() -> None:
    off: BoundedCache[str, str] = BoundedCache(0)
    assert off.put("k", "v", 0) is False and len(off) == 0
    with pytest.raises(ValueError, match="max_bytes"):
        BoundedCache(-1)


def test_threads_sharing_the_cache_never_break_its_bound() -> None:
    cache: BoundedCache[tuple[int, int], bytes] = BoundedCache(50 * (100 + ENTRY_OVERHEAD))

    def work(thread: int) -> None:
        for n in range(2000):
            cache.put((thread, n), b"v", 100)
            cache.get((thread, n - 1))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache) == 50 and cache.nbytes == 50 * (100 + ENTRY_OVERHEAD)


def test_the_response_cache_bound_is_a_setting_of_64_mib_by_default() -> None:
    from rectify import settings

    assert settings.load({}).response_cache_bytes == 64 * 1024 * 1024
    for given, size in (("0", 0), ("1048576", 1 << 20), ("512KiB", 512 * 1024), ("2 MiB", 2 << 20), ("1GB", 10**9)):
        assert settings.load({"RECTIFY_RESPONSE_CACHE_BYTES": given}).response_cache_bytes == size
    for wrong in ("-1", "lots", "1.5MiB", "64 parsecs"):
        with pytest.raises(settings.SettingsError, match="RECTIFY_RESPONSE_CACHE_BYTES"):
            settings.load({"RECTIFY_RESPONSE_CACHE_BYTES": wrong})


def test_a_sqlite_file_s_lock_is_found_without_resolving_its_path_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every write of the events, the views and the seals asks for its file's lock: the path is resolved
    (a system call per component) the first time it is spelt so, not on every write."""
    import os

    from rectify.sqlite_lock import sqlite_write_lock

    path = str(tmp_path / "rectify.db")
    resolved: list[str] = []
    realpath = os.path.realpath
    monkeypatch.setattr(os.path, "realpath", lambda p: resolved.append(p) or realpath(p))
    lock = sqlite_write_lock(path)
    assert sqlite_write_lock(path) is lock and sqlite_write_lock(path) is lock
    assert resolved == [path]
    otherwise = os.path.join(str(tmp_path), ".", "rectify.db")
    assert sqlite_write_lock(otherwise) is lock and resolved == [path, otherwise]  # the same file's lock
