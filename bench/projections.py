"""Benchmark of the projections: rebuild rate against the raw read+decode rate, and as-of latency.

    python bench/projections.py --events 1000000          # the headline figure (SQLite file)
    python bench/projections.py --events 1000000 --database-url postgresql://postgres@127.0.0.1/test

It generates a district-sized log (rectify.examples.district: interleaved rounds, whole lifecycles),
then, in one run, measures
  1. the raw read+decode rate of the log (select notifications, decode every event);
  2. the rebuild of every view from zero (read, fold, bulk write, index, swap) and its ratio to (1);
  3. one round's state as of a past position, in a 10k-event store and in the big store;
  4. the whole district as of a past position (1 %, 10 % and 50 % of the log back from the head):
     what the views hold with only the aggregates changed since folded again, against folding the
     log from its start, and which of the two the read side chose.
Timings on a shared machine are noisy: compare the ratios, which are measured in the same run.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from rectify import settings
from rectify.bootstrap import System, open_system
from rectify.examples.district import generate
from rectify.projections.fold import paused_garbage_collection

TARGETS = {"ratio": 0.4, "rebuild_1m_seconds": 30.0, "as_of_ms": 100.0, "as_of_slowdown": 1.5}


def fresh_url(base: str | None, folder: Path, name: str) -> str:
    if base is None:
        return f"sqlite:///{folder / name}.db"
    schema = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    conninfo = settings.parse_database_url(base).psycopg_conninfo()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    return f"{base}{'&' if '?' in base else '?'}schema={schema}"


def build(url: str, events: int) -> tuple[System, list[uuid.UUID], float]:
    system = open_system(settings.load({}, database_url=url), run_projector=False)
    started = time.perf_counter()
    generated = generate(system.app, events)
    return system, generated.rounds, time.perf_counter() - started


def raw_read_decode(system: System) -> tuple[int, float]:
    """Events per second to read the whole log and decode every event (the collector paused, as in
    the rebuild, so that the baseline is the best case)."""
    gc.collect()
    gc.disable()
    try:
        started = time.perf_counter()
        count, after = 0, 0
        decode = system.app.mapper.to_domain_event
        while batch := system.app.recorder.select_notifications(start=after, limit=10_000, inclusive_of_start=False):
            for notification in batch:
                decode(notification)
            count += len(batch)
            after = batch[-1].id
        return count, count / (time.perf_counter() - started)
    finally:
        gc.enable()


def rebuild(system: System) -> float:
    gc.collect()
    started = time.perf_counter()
    system.projector.rebuild()
    return time.perf_counter() - started


def as_of_round(system: System, round_ids: list[uuid.UUID], samples: int) -> tuple[float, float, int]:
    """Milliseconds (median, p95) to fold one round as of a past position, from its own events.

    Each sample takes another round of the middle third of the log, at the position where half
    of that round's events are written, with the replay cache cleared.
    """
    head = system.app.head()
    middle = round_ids[len(round_ids) // 3 : 2 * len(round_ids) // 3] or round_ids
    timings = []
    events = 0
    for i in range(samples):
        round_id = middle[i % len(middle)]
        with system.store.snapshot() as view:
            positions = sorted(p for _, ps in view.versions_at([round_id], head).values() for p in ps)
        position = positions[len(positions) // 2]
        system.read.forget()
        started = time.perf_counter()
        past = system.read.rounds_as_of((round_id,), position)
        timings.append((time.perf_counter() - started) * 1000)
        events += len(past.ledger())
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.95) - 1], events // samples


def timed(build: Callable[[], Any]) -> tuple[Any, float]:
    """What `build` returns, and the milliseconds it took (the collector paused, as the read side does)."""
    gc.collect()
    with paused_garbage_collection():
        started = time.perf_counter()
        built = build()
        return built, (time.perf_counter() - started) * 1000


def as_of_district(system: System, back: float) -> tuple[int, float, float, int, str]:
    """The district as of `back` of the log before the head: (position, ms refolding what changed
    since, ms folding the log from its start, aggregates changed since, the way the read side chose)."""
    read = system.read
    position = int(system.app.head() * (1 - back))
    with system.store.snapshot() as stored:
        changed = stored.changed_after(position)
        refolded, refold_ms = timed(lambda: read._refold_changed(stored, changed, position))
    replayed, replay_ms = timed(lambda: read._replay(position))
    assert refolded.ledger() == replayed.ledger(), "the two ways disagree"
    read.forget()
    chose: list[str] = []
    original_refold, original_replay = read._refold_changed, read._replay
    read._refold_changed = lambda *a: chose.append("views + changed") or original_refold(*a)  # type: ignore[method-assign]
    read._replay = lambda *a: chose.append("whole log") or original_replay(*a)  # type: ignore[method-assign]
    try:
        read.district_as_of(position)
    finally:
        del read._refold_changed, read._replay
        read.forget()
    return position, refold_ms, replay_ms, len(changed), chose[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the big store")
    parser.add_argument("--small", type=int, default=10_000, help="events in the small store")
    parser.add_argument("--samples", type=int, default=60, help="as-of samples per store")
    parser.add_argument("--database-url", help="a PostgreSQL server (default: SQLite files in a temp folder)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        small, small_rounds, _ = build(fresh_url(args.database_url, Path(folder), "small"), args.small)
        small.projector.catch_up()
        big, big_rounds, generated = build(fresh_url(args.database_url, Path(folder), "big"), args.events)
        store = "PostgreSQL" if args.database_url else "SQLite"
        print(
            f"store: {store}; big log: {big.app.head():,} events in {len(big_rounds)} rounds "
            f"(generated in {generated:.1f} s); small log: {small.app.head():,} events"
        )

        count, raw_rate = raw_read_decode(big)
        print(f"raw read+decode:   {raw_rate:>10,.0f} events/s  ({count / raw_rate:.2f} s)")
        seconds = rebuild(big)
        rebuild_rate = count / seconds
        ratio = rebuild_rate / raw_rate
        print(f"rebuild all views: {rebuild_rate:>10,.0f} events/s  ({seconds:.2f} s)")
        print(f"  ratio rebuild / raw read+decode = {ratio:.2f}   (target >= {TARGETS['ratio']})")
        scaled = seconds * 1_000_000 / count
        print(f"  1M events would take {scaled:.1f} s at this rate   (target < {TARGETS['rebuild_1m_seconds']:.0f} s)")

        small_median, small_p95, small_rows = as_of_round(small, small_rounds, args.samples)
        big_median, big_p95, big_rows = as_of_round(big, big_rounds, args.samples)
        slowdown = big_median / small_median
        print(
            f"one round as of a past position, {small.app.head():,}-event store: median {small_median:.1f} ms, "
            f"p95 {small_p95:.1f} ms ({small_rows} findings)"
        )
        print(
            f"one round as of a past position, {big.app.head():,}-event store: median {big_median:.1f} ms, "
            f"p95 {big_p95:.1f} ms ({big_rows} findings)"
        )
        print(
            f"  slowdown big / small = {slowdown:.2f}   (target <= {TARGETS['as_of_slowdown']}; "
            f"each < {TARGETS['as_of_ms']:.0f} ms)"
        )
        for back in (0.01, 0.10, 0.50):
            position, refold_ms, replay_ms, changed, chose = as_of_district(big, back)
            print(
                f"the district as of position {position:,} ({back:.0%} back): views + {changed:,} changed aggregates "
                f"{refold_ms:,.0f} ms, whole log {replay_ms:,.0f} ms ({replay_ms / refold_ms:.1f}x); chose: {chose}"
            )
        met = (
            ratio >= TARGETS["ratio"]
            and scaled < TARGETS["rebuild_1m_seconds"]
            and big_p95 < TARGETS["as_of_ms"]
            and slowdown <= TARGETS["as_of_slowdown"]
        )
        print("targets met" if met else "TARGETS NOT MET")
        small.close()
        big.close()
        for system in (small, big):
            database = system.settings.database
            if database.kind == "postgresql":  # the bench's own schemas, not left behind
                with psycopg.connect(database.psycopg_conninfo(), autocommit=True) as conn:
                    conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(database.schema)))


if __name__ == "__main__":
    main()
