"""Benchmark of writes: the bare library, the application in-process, /graphql in sequence and 16 at once.

    python bench/writes.py                                                   # SQLite only
    python bench/writes.py --postgres-url postgresql://postgres@127.0.0.1/test   # both stores, one run

For each store, in one run, on a fresh database:
  B. baseline: the bare eventsourcing library's get + one event + save on fresh aggregates (one
     event of history each), in an application of its own on the same kind of store;
  1. the application in-process: `record_activity` over 4 findings, its rate over the first 200
     commands and over commands 1,801–2,000 (cost flat with history: the second >= 0.9 x the first);
     the same with the aggregate cache off (uncached), beside it;
  2. the API: `rectify serve` (uvicorn, projector in process) and one client sending recordActivity
     in sequence over keep-alive HTTP, each answered once the views include it: with the standard
     library's http.client (the figure the target is checked on; the server's CPU per command beside
     it) and, beside it, with httpx, whose own work per request is a large share of the time on this
     machine; and `mutation { __typename }` in the same way, what the HTTP and GraphQL stack alone
     costs a mutation;
  3. 16 concurrent clients, http.client in a thread each, spread over 4 client processes (one
     process running all 16 adds its own queueing to their latencies): throughput and p50/p99.
  T. (--phases trips) the projector's live path per event: one command, then the runner's catch-up
     with the feed's calls around it, as `rectify serve` runs them; counted are the SQLite statements
     (all connections) or, on PostgreSQL, the network round trips (through a counting TCP relay).
Targets (issue 11): application >= 0.5 B, API >= 0.25 B, 16 clients >= the sequential API rate with
p99 <= 250 ms. Timings on a shared machine are noisy: compare the ratios, measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing
import os
import select
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from psycopg import sql

from rectify import settings
from rectify.access import Actor, Role
from rectify.application import RectifyApplication
from rectify.bootstrap import open_application

TARGETS = {"app_ratio": 0.5, "app_flat": 0.9, "api_ratio": 0.25, "p99_ms": 250.0}
SYSTEM = Actor("bench", Role.SYSTEM)
INSPECTOR = Actor("巡察办", Role.INSPECTOR)
MUTATION = (
    "mutation($i: RecordActivityInput!) { recordActivity(input: $i) { __typename "
    "... on Accepted { position viewsCaughtUp } ... on Conflict { message } ... on StoreFault { message } } }"
)


class Counter(Aggregate):
    """The baseline's aggregate: one small event per command."""

    @event("Created")
    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0

    @event("Incremented")
    def increment(self, by: int) -> None:
        self.count += by


def fresh_url(kind: str, base: str | None, folder: Path, name: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{folder / name}.db"
    assert base is not None
    schema = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(settings.parse_database_url(base).psycopg_conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    return f"{base}{'&' if '?' in base else '?'}schema={schema}"


def baseline(url: str, n: int) -> float:
    """Bare library: get + event + save per second, on aggregates with one event of history."""
    database = settings.load({}, database_url=url).database
    from rectify.bootstrap import prepared

    with prepared(database):
        app: Application[uuid.UUID] = Application(env=database.eventsourcing_env())
    try:
        ids = []
        for start in range(0, n, 500):
            counters = [Counter(f"c{i}") for i in range(start, min(n, start + 500))]
            app.save(*counters)
            ids.extend(c.id for c in counters)
        began = time.perf_counter()
        for aggregate_id in ids:
            counter: Counter = app.repository.get(aggregate_id)
            counter.increment(1)
            app.save(counter)
        return n / (time.perf_counter() - began)
    finally:
        app.close()


def world(app: RectifyApplication) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A unit, a round with feedback and one category, and 4 findings with responsibility assigned."""
    unit_id = app.register_unit(SYSTEM, name="中共松园社区委员会", short_name="松园社区党委").entity_id
    round_id = app.open_round(
        INSPECTOR,
        authority="区委",
        district="罗湖区",
        team="第四巡察组",
        unit_ids=[unit_id],
        stationed_from="2025-03-26",
        stationed_to="2025-06-13",
    ).entity_id
    app.deliver_feedback(INSPECTOR, round_id=round_id, occurred_on="2025-08-12", rectification_until="2025-11-12")
    app.define_category(INSPECTOR, round_id=round_id, path=[2], title="全面从严治党方面")
    unit = Actor("松园", Role.UNIT, unit_id)
    findings = []
    for ordinal in range(1, 5):
        finding_id = app.raise_finding(
            INSPECTOR, round_id=round_id, unit_id=unit_id, category=[2], ordinal=ordinal, heading="公章", problem="登记"
        ).entity_id
        app.assign_responsibility(
            unit,
            finding_id=finding_id,
            department="党建办",
            leader="书记",
            person="张某",
            deadline_kind="DATE",
            due_on="2025-11-12",
        )
        findings.append(finding_id)
    return unit_id, findings


def activity(finding_id: uuid.UUID, i: int) -> dict[str, Any]:
    return {
        "finding_id": str(finding_id),
        "kind": "大扫除",
        "occurred_on": "2025-09-01",
        "count": 1,
        "description": f"第{i}次",
    }


def in_process(url: str, total: int, cache: bool) -> tuple[float, float]:
    """The rate over the first 200 commands and over the last 200 of `total`."""
    config = settings.load({"RECTIFY_AGGREGATE_CACHE_BYTES": "64MiB" if cache else "0"}, database_url=url)
    app = open_application(config)
    try:
        unit_id, findings = world(app)
        unit = Actor("松园", Role.UNIT, unit_id)
        marks: list[float] = [time.perf_counter()]
        for i in range(total):
            app.record_activity(unit, **activity(findings[i % 4], i))
            if (i + 1) in (200, total - 200, total):
                marks.append(time.perf_counter())
        return 200 / (marks[1] - marks[0]), 200 / (marks[3] - marks[2])
    finally:
        app.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rectify.cli",
            "--database-url",
            url,
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env={**os.environ, "RECTIFY_TIMEZONE": "Asia/Shanghai"},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not come up in 60 s")


async def send(client: httpx.AsyncClient, finding_id: uuid.UUID, i: int, latencies: list[float]) -> None:
    variables = {
        "i": {
            "findingId": str(finding_id),
            "kind": "大扫除",
            "occurredOn": "2025-09-01",
            "count": 1,
            "description": f"{i}",
        }
    }
    began = time.perf_counter()
    answer = await client.post("/graphql", json={"query": MUTATION, "variables": variables})
    latencies.append(time.perf_counter() - began)
    result = answer.json()["data"]["recordActivity"]
    if result["__typename"] != "Accepted":
        raise RuntimeError(f"not accepted: {result}")


async def sequential(base: str, secret: str, findings: list[uuid.UUID], n: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        for i in range(20):  # warm-up
            await send(client, findings[i % 4], i, [])
        began = time.perf_counter()
        for i in range(n):
            await send(client, findings[i % 4], i, latencies)
        return n / (time.perf_counter() - began), latencies


class LeanClient:
    """One keep-alive connection with the standard library's HTTP client: far less work per request
    than httpx, so that the rates and latencies measured are the server's more than the client's."""

    def __init__(self, base: str, secret: str) -> None:
        parts = urlsplit(base)
        self.connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        self.headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}

    def send(self, finding_id: uuid.UUID, i: int, latencies: list[float]) -> None:
        variables = {
            "i": {
                "findingId": str(finding_id),
                "kind": "大扫除",
                "occurredOn": "2025-09-01",
                "count": 1,
                "description": f"{i}",
            }
        }
        body = json.dumps({"query": MUTATION, "variables": variables})
        began = time.perf_counter()
        answer = self.post(body)
        latencies.append(time.perf_counter() - began)
        result = json.loads(answer)["data"]["recordActivity"]
        if result["__typename"] != "Accepted":
            raise RuntimeError(f"not accepted: {result}")

    def post(self, body: str) -> bytes:
        self.connection.request("POST", "/graphql", body=body, headers=self.headers)
        return self.connection.getresponse().read()

    def close(self) -> None:
        self.connection.close()


def sequential_lean(base: str, secret: str, findings: list[uuid.UUID], n: int) -> tuple[float, list[float]]:
    """As `sequential`, with a LeanClient."""
    client = LeanClient(base, secret)
    latencies: list[float] = []
    try:
        for i in range(20):  # warm-up
            client.send(findings[i % 4], i, [])
        began = time.perf_counter()
        for i in range(n):
            client.send(findings[i % 4], i, latencies)
        return n / (time.perf_counter() - began), latencies
    finally:
        client.close()


def _client_process(
    base: str, secret: str, findings: list[uuid.UUID], first: int, clients: int, each: int, go: Any, out: Any
) -> None:
    """Some of the concurrent clients, a thread and a LeanClient each (the GIL is let go while they wait)."""
    latencies: list[float] = []

    def one(c: int) -> None:
        client = LeanClient(base, secret)
        try:
            for i in range(each):
                client.send(findings[(c + i) % 4], c * each + i, latencies)
        finally:
            client.close()

    threads = [threading.Thread(target=one, args=(c,)) for c in range(first, first + clients)]
    go.wait()
    began = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put((began, time.time(), latencies))


def concurrent_in_processes(
    base: str, secret: str, findings: list[uuid.UUID], clients: int, each: int, processes: int
) -> tuple[float, list[float]]:
    """`clients` spread over `processes` client processes: one client loop does not queue the
    answers of all 16 behind its own work, which the latencies would count as the server's."""
    context = multiprocessing.get_context("fork")
    go, out = context.Event(), context.Queue()
    shares = [clients // processes + (1 if p < clients % processes else 0) for p in range(processes)]
    starts = [sum(shares[:p]) for p in range(processes)]
    workers = [
        context.Process(target=_client_process, args=(base, secret, findings, start, share, each, go, out))
        for start, share in zip(starts, shares, strict=True)
        if share
    ]
    for worker in workers:
        worker.start()
    time.sleep(0.5)  # all of them started and waiting
    go.set()
    results = [out.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join()
    began = min(r[0] for r in results)
    ended = max(r[1] for r in results)
    latencies = [latency for r in results for latency in r[2]]
    return len(latencies) / (ended - began), latencies


def server_cpu(pid: int) -> float:
    """The server's user and system time so far, in seconds (every thread)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bare_mutations(base: str, secret: str, pid: int, n: int) -> tuple[float, float]:
    """`mutation { __typename }` in sequence, as the API commands are sent: what the HTTP and GraphQL
    stack costs a mutation that does nothing. Its rate and the server's CPU seconds over it."""
    client = LeanClient(base, secret)
    body = json.dumps({"query": "mutation { __typename }"})
    try:
        for _ in range(20):
            client.post(body)
        spent, began = server_cpu(pid), time.perf_counter()
        for _ in range(n):
            client.post(body)
        return n / (time.perf_counter() - began), server_cpu(pid) - spent
    finally:
        client.close()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


def api(url: str, n: int, clients: int, each: int, processes: int) -> dict[str, float]:
    app = open_application(settings.load({}, database_url=url))
    try:
        unit_id, findings = world(app)
        secret = app.issue_token(SYSTEM, role="UNIT", label="bench", unit_id=unit_id).secret
        assert secret is not None
    finally:
        app.close()
    process, base = serve(url)
    try:
        rate, seq = asyncio.run(sequential(base, secret, findings, n))
        spent = server_cpu(process.pid)
        lean_rate, lean = sequential_lean(base, secret, findings, n)
        spent = server_cpu(process.pid) - spent
        floor_rate, floor_spent = bare_mutations(base, secret, process.pid, n)
        many, lat = concurrent_in_processes(base, secret, findings, clients, each, processes)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return {
        "lean_cpu_ms": spent / (n + 20) * 1000,
        "floor_rate": floor_rate,
        "floor_cpu_ms": floor_spent / n * 1000,
        "clients": clients,
        "api_rate": rate,
        "api_p50_ms": percentile(seq, 50),
        "api_p99_ms": percentile(seq, 99),
        "lean_rate": lean_rate,
        "lean_p50_ms": percentile(lean, 50),
        "lean_p99_ms": percentile(lean, 99),
        "concurrent_rate": many,
        "concurrent_p50_ms": percentile(lat, 50),
        "concurrent_p99_ms": percentile(lat, 99),
    }


class RoundTrips:
    """A TCP relay to PostgreSQL counting round trips: each time the server answers after the client sent."""

    def __init__(self, host: str, port: int) -> None:
        self.count = 0
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.listener.accept()
            server = socket.create_connection(self.target)
            threading.Thread(target=self._relay, args=(client, server), daemon=True).start()

    def _relay(self, client: socket.socket, server: socket.socket) -> None:
        sent = False
        while True:
            ready, _, _ = select.select([client, server], [], [])
            for side in ready:
                data = side.recv(65536)
                if not data:
                    client.close()
                    server.close()
                    return
                if side is client:
                    server.sendall(data)
                    sent = True
                else:
                    client.sendall(data)
                    if sent:
                        self.count += 1
                    sent = False


def trips(url: str, n: int = 60) -> dict[str, float]:
    """Statements (SQLite) or round trips (PostgreSQL) per live event: the feed's call on the save,
    and the projector's catch-up with the feed's call on its advance."""
    from rectify.projections import codec
    from rectify.projections.feed import Feed
    from rectify.projections.runner import Projector, Runner
    from rectify.projections.store import open_store

    statements = [0]
    relay = None
    if url.startswith("sqlite"):
        connect = sqlite3.connect

        def counting_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            conn = connect(*args, **kwargs)
            conn.set_trace_callback(lambda _statement: statements.__setitem__(0, statements[0] + 1))
            return conn

        sqlite3.connect = counting_connect  # type: ignore[assignment]
    else:
        parts = urlsplit(url)
        relay = RoundTrips(parts.hostname or "127.0.0.1", parts.port or 5432)
        url = url.replace(f"{parts.hostname}:{parts.port or 5432}", f"127.0.0.1:{relay.port}", 1)
    count = (lambda: relay.count) if relay is not None else (lambda: statements[0])
    config = settings.load({}, database_url=url)
    app = open_application(config)
    store = open_store(config.database, codec())
    try:
        projector = Projector(app, store)
        store.setup()
        unit_id, findings = world(app)
        projector.catch_up()
        feed = Feed(app, store, Runner(projector))  # not started: its calls are made here, in order
        unit = Actor("松园", Role.UNIT, unit_id)
        on_save = on_advance = 0
        for i in range(n):
            app.record_activity(unit, **activity(findings[i % 4], i))
            head = app.head()  # the save's listeners are told its position; not counted
            before = count()
            feed._on_saved(head)
            on_save += count() - before
            before = count()
            projector.catch_up(on_advance=feed._on_advance)
            on_advance += count() - before
        return {"trips_on_save": on_save / n, "trips_catch_up": on_advance / n}
    finally:
        if relay is None:
            sqlite3.connect = connect  # type: ignore[assignment]
        app.close()
        store.close()


def run_store(kind: str, base: str | None, folder: Path, args: argparse.Namespace) -> dict[str, float]:
    figures = {"baseline": baseline(fresh_url(kind, base, folder, "baseline"), args.baseline)}
    if "app" in args.phases:
        first, last = in_process(fresh_url(kind, base, folder, "app"), args.commands, cache=True)
        first_u, last_u = in_process(fresh_url(kind, base, folder, "uncached"), args.commands, cache=False)
        figures |= {"app_first_200": first, "app_last_200": last}
        figures |= {"uncached_first_200": first_u, "uncached_last_200": last_u}
    if "trips" in args.phases:
        figures |= trips(fresh_url(kind, base, folder, "trips"))
    if "api" in args.phases:
        url = fresh_url(kind, base, folder, "api")
        figures |= api(url, args.api_commands, args.clients, args.each, args.client_processes)
    return figures


def report(kind: str, f: dict[str, float]) -> None:
    b = f["baseline"]
    print(f"\n== {kind} ==")
    print(f"B  bare library get+event+save:        {b:8.0f}/s")
    verdicts: dict[str, bool] = {}
    if "app_first_200" in f:
        print(f"1  application, first 200:             {f['app_first_200']:8.0f}/s   {f['app_first_200'] / b:.2f} B")
        print(
            f"   application, commands {int(f.get('commands', 0)) or 'N'}-200..N:   {f['app_last_200']:8.0f}/s   "
            f"{f['app_last_200'] / f['app_first_200']:.2f} of its rate at 200"
        )
        print(
            f"   uncached (no aggregate cache):      {f['uncached_first_200']:8.0f}/s -> "
            f"{f['uncached_last_200']:.0f}/s ({f['uncached_last_200'] / f['uncached_first_200']:.2f})"
        )
        verdicts["application >= 0.5 B"] = f["app_first_200"] / b >= TARGETS["app_ratio"]
        verdicts["flat: >= 0.9 of its rate at 200"] = f["app_last_200"] / f["app_first_200"] >= TARGETS["app_flat"]
    if "api_rate" in f:
        print(
            f"2  API, one client (http.client):      {f['lean_rate']:8.0f}/s   {f['lean_rate'] / b:.2f} B   "
            f"p50 {f['lean_p50_ms']:.1f} ms  p99 {f['lean_p99_ms']:.1f} ms"
        )
        print(f"   server CPU per command:             {f['lean_cpu_ms']:8.2f} ms (all threads)")
        print(
            f"   the same with httpx:                {f['api_rate']:8.0f}/s   {f['api_rate'] / b:.2f} B   "
            f"p50 {f['api_p50_ms']:.1f} ms  p99 {f['api_p99_ms']:.1f} ms"
        )
        print(
            f"   the stack alone, mutation {{ __typename }}: {f['floor_rate']:5.0f}/s   {f['floor_rate'] / b:.2f} B   "
            f"server CPU {f['floor_cpu_ms']:.2f} ms per request"
        )
        print(
            f"3  API, {int(f['clients'])} clients (http.client):    {f['concurrent_rate']:8.0f}/s   "
            f"{f['concurrent_rate'] / f['lean_rate']:.2f} x sequential   "
            f"p50 {f['concurrent_p50_ms']:.1f} ms  p99 {f['concurrent_p99_ms']:.1f} ms"
        )
        verdicts["API >= 0.25 B"] = f["lean_rate"] / b >= TARGETS["api_ratio"]
        verdicts["16 clients >= sequential"] = f["concurrent_rate"] >= f["lean_rate"]
        verdicts["16 clients p99 <= 250 ms"] = f["concurrent_p99_ms"] <= TARGETS["p99_ms"]
    if "trips_catch_up" in f:
        unit = "statements" if kind == "sqlite" else "round trips"
        print(
            f"T  live path per event, {unit}:  catch-up {f['trips_catch_up']:.1f}, "
            f"the feed on the save {f['trips_on_save']:.1f}"
        )
    for name, ok in verdicts.items():
        print(f"   {'met ' if ok else 'MISS'} {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres-url", help="also run on PostgreSQL (a schema per measurement is created)")
    parser.add_argument("--only", choices=["sqlite", "postgres"], help="run on one store only")
    parser.add_argument("--baseline", type=int, default=2000, help="baseline commands")
    parser.add_argument("--commands", type=int, default=2000, help="in-process commands over 4 findings")
    parser.add_argument("--api-commands", type=int, default=400, help="sequential API commands")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--each", type=int, default=40, help="commands per concurrent client")
    parser.add_argument(
        "--client-processes", type=int, default=4, help="processes the concurrent clients are spread over"
    )
    parser.add_argument(
        "--phases",
        default="app,api",
        help="what to measure beside the baseline: app (in-process), api (sequential and concurrent clients), "
        "trips (statements or round trips per live event)",
    )
    args = parser.parse_args()
    kinds = [k for k in ("sqlite", "postgres") if k == "sqlite" or args.postgres_url]
    if args.only:
        kinds = [args.only]
    with tempfile.TemporaryDirectory() as folder:
        for kind in kinds:
            figures = run_store(kind, args.postgres_url, Path(folder), args)
            figures["commands"] = args.commands
            report(kind, figures)


if __name__ == "__main__":
    main()
