"""Benchmark of the hash-chained log: sealing, verification, export and import, at a million events.

    python bench/integrity.py --events 1000000          # the headline figures (SQLite files)
    python bench/integrity.py --events 1000000 --database-url postgresql://postgres@127.0.0.1/test

It generates a district-sized log (rectify.examples.district), then, in one run, measures
  1. the raw read+decode rate of the log (select notifications, decode every event): the baseline;
  2. a rebuild of every view from zero (the projector's rebuild, which does not seal);
  3. sealing the whole log from zero (the sealer as `rectify seal` and the runner run it), signed heads
     every 1,000 events: its rate against (1). The sealer is not part of the rebuild: it follows the log
     on its own tracking, so the rebuild's rate is unchanged by it; (2) and (2)+(3) are printed too;
  4. `rectify verify` of the whole log (every leaf recomputed, every head and signature checked);
  5. `rectify export` of the whole store to one file, and `rectify import` of that file into a fresh
     store (the chain verified on the way), then the views rebuilt there;
  6. a proof (`proof(position)` / `GET /notices/{id}/proof`): the inclusion proof of an event in the middle of
     the log and the consistency proof from the head at it to the head of the whole log, made from the stored
     leaf hashes, then checked with only the public key (`rectify verify-proof`); `--proofs-only` measures the
     log's generation, sealing and this alone.
Timings on a shared machine are noisy: compare the ratios, which are measured in the same run.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

from rectify import settings
from rectify.bootstrap import open_application, open_system
from rectify.examples.district import generate
from rectify.integrity import keys, portable, proofs
from rectify.integrity.sealer import Sealer
from rectify.integrity.store import open_log_store
from rectify.integrity.verify import verify_store

TARGETS = {"seal_ratio": 0.8, "verify_seconds": 30.0, "export_seconds": 60.0, "import_seconds": 60.0}


def fresh_url(base: str | None, folder: Path, name: str) -> str:
    if base is None:
        return f"sqlite:///{folder / name}.db"
    schema = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(settings.parse_database_url(base).psycopg_conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    return f"{base}{'&' if '?' in base else '?'}schema={schema}"


def drop(url: str) -> None:
    database = settings.parse_database_url(url)
    if database.kind == "postgresql":
        with psycopg.connect(database.psycopg_conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(database.schema)))


def timed(work):  # noqa: ANN001, ANN201 - any callable; its result and the seconds it took
    gc.collect()
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def raw_read_decode(url: str) -> tuple[int, float]:
    """Seconds to read the whole log and decode every event (collector paused: the best case)."""
    app = open_application(settings.load({}, database_url=url))
    try:
        gc.collect()
        gc.disable()
        started = time.perf_counter()
        count, after = 0, 0
        decode = app.mapper.to_domain_event
        while batch := app.recorder.select_notifications(start=after, limit=10_000, inclusive_of_start=False):
            for notification in batch:
                decode(notification)
            count += len(batch)
            after = batch[-1].id
        return count, time.perf_counter() - started
    finally:
        gc.enable()
        app.close()


def measure_proofs(sealer: Sealer, public: keys.PublicKey, count: int) -> None:
    """A proof of an event in the middle of the log against the head of the whole log, made and checked."""
    with sealer.store.snapshot() as reader:
        state = reader.seal_state()
        assert state is not None
        middle = reader.leaf(state.size // 2)
    assert middle is not None
    sealer.head_at(middle.position)  # the earlier head, as a notice there would have written it
    sealer.head_at(state.position)

    def make() -> proofs.Proof:
        return proofs.make_proof(sealer, target=state.position, leaf_at=middle.position, first_at=middle.position)

    made, uncached = timed(make)  # the first proof reads and hashes every leaf, keeping the subtree roots
    _, cached = timed(make)  # the next reads a few chunks of leaves
    checked, check = timed(lambda: proofs.check_document(made.document, public))
    assert len(checked.lines) == 3
    print(
        f"proof at {count:,} events: made in {uncached:.2f} s uncached, {cached * 1000:.1f} ms with the subtree "
        f"roots kept ({len(sealer.subtrees):,}); inclusion path {len(made.inclusion)} hashes, consistency "
        f"{len(made.consistency)}; checked with the public key in {check * 1000:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the log")
    parser.add_argument("--database-url", help="a PostgreSQL server (default: SQLite files in a temp folder)")
    parser.add_argument("--proofs-only", action="store_true", help="generate, seal, then measure proofs alone")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        key = keys.generate(Path(folder) / "signing.key")
        source = fresh_url(args.database_url, Path(folder), "source")
        target = fresh_url(args.database_url, Path(folder), "target")
        try:
            app = open_application(settings.load({}, database_url=source))
            generated, seconds = timed(lambda: generate(app, args.events))
            app.close()
            store_name = "PostgreSQL" if args.database_url else "SQLite"
            print(f"store: {store_name}; log: {generated.events:,} events (generated in {seconds:.1f} s)")

            count, raw = raw_read_decode(source)
            print(f"raw read+decode:     {count / raw:>10,.0f} events/s  ({raw:.2f} s)   the baseline")

            config = settings.load({}, database_url=source)
            if args.proofs_only:
                sealer = Sealer(open_log_store(config.database), key=key, every_events=1000)
                _, seal = timed(sealer.seal)
                print(f"seal from zero:      {count / seal:>10,.0f} events/s  ({seal:.2f} s)")
                measure_proofs(sealer, key.public, count)
                sealer.close()
                return
            system = open_system(config, run_projector=False)
            _, rebuild = timed(system.projector.rebuild)
            system.close()
            print(f"rebuild all views:   {count / rebuild:>10,.0f} events/s  ({rebuild:.2f} s)   (does not seal)")

            store = open_log_store(config.database)
            sealer = Sealer(store, key=key, every_events=1000)
            sealed, seal = timed(sealer.seal)
            seal_ratio = raw / seal
            print(
                f"seal from zero:      {count / seal:>10,.0f} events/s  ({seal:.2f} s)   "
                f"{len(sealed.checkpoints):,} signed heads"
            )
            print(f"  ratio seal / raw read+decode = {seal_ratio:.2f}   (target >= {TARGETS['seal_ratio']})")
            print(
                f"  rebuild, then seal the whole log: {rebuild + seal:.2f} s = "
                f"{rebuild / (rebuild + seal):.2f} x the rate of the rebuild alone"
            )

            report, verify = timed(lambda: verify_store(store, key=key.public))
            assert report.ok and report.size == count and report.signatures == len(sealed.checkpoints), report.problem
            print(f"verify:              {count / verify:>10,.0f} events/s  ({verify:.2f} s)   "
                  f"(target < {TARGETS['verify_seconds']:.0f} s at 1M)")  # fmt: skip

            measure_proofs(sealer, key.public, count)

            file = Path(folder) / "backup.rectify"
            sealer.checkpoint()
            moved, export = timed(lambda: portable.write_file(file, portable.read_store(store)))
            sealer.close()
            assert moved.events == count
            print(
                f"export:              {count / export:>10,.0f} events/s  ({export:.2f} s, "
                f"{file.stat().st_size / 2**20:,.0f} MiB)   (target < {TARGETS['export_seconds']:.0f} s at 1M)"
            )

            target_config = settings.load({}, database_url=target)
            open_application(target_config).close()
            target_store = open_log_store(target_config.database)
            loaded, load = timed(lambda: portable.load(portable.read_file(file), target_store, key=key.public))
            target_store.close()
            assert loaded.events == count and loaded.signatures >= len(sealed.checkpoints)
            system = open_system(target_config, run_projector=False)
            _, views = timed(system.projector.rebuild)
            system.close()
            print(
                f"import:              {count / load:>10,.0f} events/s  ({load:.2f} s, the chain verified)   "
                f"(target < {TARGETS['import_seconds']:.0f} s at 1M)"
            )
            print(f"  then the views rebuilt: {views:.2f} s; import with views {load + views:.2f} s")
            scale = 1_000_000 / count
            met = (
                seal_ratio >= TARGETS["seal_ratio"]
                and verify * scale < TARGETS["verify_seconds"]
                and export * scale < TARGETS["export_seconds"]
                and load * scale < TARGETS["import_seconds"]
            )
            print("targets met" if met else "TARGETS NOT MET")
        finally:
            drop(source)
            drop(target)


if __name__ == "__main__":
    main()
