"""Soak: `rectify serve` under 16 clients for a while, 80 % dashboard reads and 20 % writes.

    python bench/soak.py --duration 1800                        # SQLite, 30 minutes
    python bench/soak.py --duration 600 --postgres-url postgresql://postgres@127.0.0.1/test
    python bench/soak.py --duration 300 --history 10000         # start where 30 minutes end

Every --every seconds it prints the server's RSS, the writes and reads answered in that interval,
(SQLite) the WAL's size, and the server's CPU per answered request: its user and system time over the
requests answered in that interval. It swings less with the machine's other load than the rates do, but
it does swing (1.8 ms on a busy machine, 2.7-2.9 ms on a quiet one): compare runs under the same load.
At the end: RSS growth after the first sixth of the run (5 minutes of 30), write throughput of the last
interval against the first, and the largest WAL seen. Targets (issue 11): RSS grows <= 50 MB after the first
5 minutes; writes at the end >= 0.8 x the start; WAL <= 64 MB.

--history N first records N activities on each finding (in batches, the views caught up before the
server starts), so that a short run measures the cost at the history a long one ends with.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from uuid import UUID

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from writes import MUTATION, SYSTEM, activity, fresh_url, serve, world  # noqa: E402 - the folder is put on the path above

from rectify import settings  # noqa: E402
from rectify.access import Actor, Role  # noqa: E402
from rectify.application import RectifyApplication  # noqa: E402
from rectify.bootstrap import open_application, open_system  # noqa: E402

READ = (
    "query($r: ID!) { round(id: $r) { findings(first: 50) { items { code heading status light "
    "deadline { label } department person } } } }"
)


def cpu_seconds(pid: int) -> float:
    """The process's user and system time so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def client(
    base: str, secret: str, round_id: str, findings: list[str], stop: float, counts: dict[str, int]
) -> None:
    headers = {"Authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
        i = 0
        while time.monotonic() < stop:
            i += 1
            if random.random() < 0.2:
                variables = {
                    "i": {
                        "findingId": random.choice(findings),
                        "kind": "大扫除",
                        "occurredOn": "2025-09-01",
                        "count": 1,
                    }
                }
                answer = await http.post("/graphql", json={"query": MUTATION, "variables": variables})
                kind = answer.json()["data"]["recordActivity"]["__typename"]
                counts["writes" if kind == "Accepted" else "refused"] += 1
            else:
                answer = await http.post("/graphql", json={"query": READ, "variables": {"r": round_id}})
                counts["reads" if answer.status_code == 200 else "failed"] += 1


async def sample(
    pid: int, wal: Path | None, every: float, stop: float, counts: dict[str, int]
) -> list[dict[str, float]]:
    rows = []
    began = time.monotonic()
    last, cpu = dict(counts), cpu_seconds(pid)
    while time.monotonic() < stop:
        await asyncio.sleep(min(every, max(0.0, stop - time.monotonic())))
        now, cpu_now = dict(counts), cpu_seconds(pid)
        answered = (now["writes"] + now["reads"]) - (last["writes"] + last["reads"])
        row = {
            "t": time.monotonic() - began,
            "rss_mb": rss_mb(pid),
            "writes_per_s": (now["writes"] - last["writes"]) / every,
            "reads_per_s": (now["reads"] - last["reads"]) / every,
            "wal_mb": (wal.stat().st_size / 1024**2) if wal is not None and wal.exists() else 0.0,
            "cpu_ms": 1000 * (cpu_now - cpu) / answered if answered else 0.0,
        }
        last, cpu = now, cpu_now
        rows.append(row)
        print(
            f"{row['t']:7.0f} s  RSS {row['rss_mb']:6.1f} MB  writes {row['writes_per_s']:6.1f}/s  "
            f"reads {row['reads_per_s']:6.1f}/s  WAL {row['wal_mb']:6.1f} MB  CPU {row['cpu_ms']:5.2f} ms/request",
            flush=True,
        )
    return rows


async def soak(
    base: str, pid: int, secret: str, round_id: str, findings: list[str], args: argparse.Namespace, wal: Path | None
) -> list[dict[str, float]]:
    counts = {"writes": 0, "reads": 0, "refused": 0, "failed": 0}
    stop = time.monotonic() + args.duration
    tasks = [client(base, secret, round_id, findings, stop, counts) for _ in range(args.clients)]
    rows, *_ = await asyncio.gather(sample(pid, wal, args.every, stop, counts), *tasks)
    print(f"answered: {counts}")
    return rows


def grow(app: RectifyApplication, unit_id: UUID, findings: list[UUID], each: int, batch: int = 500) -> None:
    """Records `each` activities on every finding, `batch` commands to a transaction."""
    unit = Actor("松园", Role.UNIT, unit_id)
    total = each * len(findings)

    def record(commands: range) -> None:
        for i in commands:
            app.record_activity(unit, **activity(findings[i % 4], i))

    for start in range(0, total, batch):
        app.batch(functools.partial(record, range(start, min(start + batch, total))))


def catch_up(url: str) -> None:
    """Brings the views to the head of the log, so that the server starts with them current."""
    system = open_system(settings.load({}, database_url=url), run_projector=False)
    try:
        system.projector.catch_up()
    finally:
        system.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=1800.0, help="seconds (default 30 minutes)")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--postgres-url", help="run on PostgreSQL (a fresh schema) instead of SQLite")
    parser.add_argument("--history", type=int, default=0, help="activities recorded on each finding before the run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        kind = "postgres" if args.postgres_url else "sqlite"
        url = fresh_url(kind, args.postgres_url, Path(folder), "soak")
        app = open_application(settings.load({}, database_url=url))
        try:
            unit_id, findings = world(app)
            round_id = str(app.finding(findings[0]).round_id)
            secret = app.issue_token(SYSTEM, role="UNIT", label="soak", unit_id=unit_id).secret
            assert secret is not None
            grow(app, unit_id, findings, args.history)
        finally:
            app.close()
        if args.history:
            catch_up(url)
        wal = Path(folder) / "soak.db-wal" if kind == "sqlite" else None
        process, base = serve(url)
        try:
            rows = asyncio.run(soak(base, process.pid, secret, round_id, [str(f) for f in findings], args, wal))
        finally:
            process.terminate()
            process.wait(timeout=30)
    settle = rows[max(0, len(rows) // 6 - 1)]
    growth = max(r["rss_mb"] for r in rows) - settle["rss_mb"]
    first, last = rows[0]["writes_per_s"], rows[-1]["writes_per_s"]
    wal_max = max(r["wal_mb"] for r in rows)
    print(f"\n== {kind}, {args.duration:.0f} s, {args.clients} clients ==")
    print(f"RSS after the first sixth {settle['rss_mb']:.1f} MB, growth after it {growth:+.1f} MB (target <= 50)")
    print(
        f"writes: first interval {first:.1f}/s, last {last:.1f}/s, "
        f"ratio {last / first if first else 0:.2f} (target >= 0.8)"
    )
    print(f"largest WAL {wal_max:.1f} MB (target <= 64)")


if __name__ == "__main__":
    main()
