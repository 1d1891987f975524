"""Benchmark of the GraphQL API: a 50-finding ledger through /graphql against a plain JSON route.

    python bench/graphql.py                      # 10 s per measurement, 16 connections
    python bench/graphql.py --duration 30 --connections 16
    python bench/graphql.py --loadgen python     # without wrk (apt-get install wrk)

It generates a district log (rectify.examples.district, 50 findings per round) into a fresh SQLite
file in a temporary folder, brings the views up to date and issues an inspector token through the
application. Then, in one run, each against a fresh uvicorn server (one worker, started by this
file's `serve` command: the app of rectify.web.app.create_app plus one plain Starlette route), it
measures at N concurrent keep-alive connections
  1. plain:   GET /plain/rounds/{id}/ledger, which reads the same page through the same front
              door (system.queries, with the token through the same token cache) and returns
              the same fields as dicts in a JSONResponse;
  2. graphql: the ledger query of that round through /graphql, the normal path (its answer is
              served from the response cache in front of Strawberry after the first request);
  3. graphql, cache bypassed: the same query with an unused variable that changes on every
              request, so that every request runs through Strawberry (the document stays the
              same for Strawberry's parser and validation caches).
Both routes are checked to give the same 50 findings before anything is timed.

The load comes from wrk (one thread, a Lua script for the body and headers, --latency for the
percentiles) or, if wrk is missing, from a small asyncio HTTP/1.1 client in a separate process.
On a machine with two or more cores the server is pinned to core 0 and the load generator to
core 1 (taskset), so that neither takes the other's CPU; --no-pin shares all cores. Each
measurement follows a warm-up. Timings on a shared machine are noisy: compare the ratios, which
are measured in the same run.
"""
# ruff: noqa: E402 - the path fix below must run before anything imports graphql-core

from __future__ import annotations

import sys
from pathlib import Path

# This file is named graphql.py: run as a script, its folder comes first on sys.path and would
# shadow graphql-core for Strawberry. Take it off before importing anything that needs it.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rectify import queries, settings
from rectify.access import PUBLIC, Actor, Role
from rectify.bootstrap import open_system
from rectify.examples.district import generate
from rectify.projections.progress import Scope
from rectify.web.app import WebSettings, bearer, create_app

TARGETS = {"rps_ratio": 0.5, "p99_ms": 20.0, "uncached_ratio": 0.3}
FINDINGS = 50
QUERY = (
    "query($r: ID!) { round(id: $r) { findings(first: 50) { items { code heading status light "
    "deadline { label } department person measures { ordinal completedOn } } } } }"
)
NONCE = "@@nonce@@"


# -- the server (`python bench/graphql.py serve`) --------------------------------------------


def plain_item(finding: queries.Finding) -> dict[str, Any]:
    """One ledger line with the fields the GraphQL query asks for, as the front door shaped it."""
    deadline = finding.deadline
    return {
        "code": finding.code,
        "heading": finding.heading,
        "status": finding.status.value,
        "light": finding.light,
        "deadline": {"label": deadline.label} if deadline is not None else None,
        "department": finding.department,
        "person": finding.person,
        "measures": [
            {"ordinal": m.ordinal, "completedOn": m.completed_on.isoformat() if m.completed_on else None}
            for m in finding.measures
        ],
    }


def bench_app(database_url: str) -> Starlette:
    """The API's app as `rectify serve` builds it, plus the plain route."""
    config = settings.load({}, database_url=database_url)
    app = create_app(config, WebSettings(allowed_origins=config.allowed_origins, limits=config.limits))

    async def plain_ledger(request: Request) -> Response:
        state = request.app.state.rectify
        actor = PUBLIC
        secret = bearer(request.headers.get("authorization"))
        if secret:
            found = await state.tokens.resolve(secret)
            if found is None:
                return JSONResponse({"errors": [{"message": "invalid or revoked token"}]}, 401)
            actor = found
        try:
            round_id = UUID(request.path_params["round_id"])
        except ValueError:
            return JSONResponse({"errors": [{"message": "id: not an identifier"}]}, 400)
        reading = state.system.queries.reading(actor)
        page = await run_in_threadpool(reading.ledger, Scope(round_id=round_id), None, FINDINGS)
        items = [plain_item(finding) for finding in page.items]
        return JSONResponse({"data": {"round": {"findings": {"items": items}}}})

    app.router.routes.insert(0, Route("/plain/rounds/{round_id}/ledger", plain_ledger))
    return app


def serve(database_url: str, port: int) -> None:
    # As `rectify serve` runs it (httptools and uvloop when installed), without the access log.
    uvicorn.run(bench_app(database_url), host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio")


# -- the data --------------------------------------------------------------------------------


@dataclass
class Data:
    database_url: str
    round_id: UUID
    token: str
    events: int
    findings: int


def build(folder: Path, events: int) -> Data:
    """A district log whose first round has 50 findings, views up to date, and an inspector token."""
    url = f"sqlite:///{folder / 'bench.db'}"
    system = open_system(settings.load({}, database_url=url), run_projector=False)
    try:
        generated = generate(system.app, events, findings_per_round=FINDINGS)
        operator = Actor("bench", Role.SYSTEM)
        secret = system.app.issue_token(operator, role="INSPECTOR", label="巡察办（基准测试）").secret
        assert secret is not None
        system.projector.catch_up()  # the token's events too: the server starts with nothing to fold
        inspector = system.app.authenticate(secret)
        assert inspector is not None
        round_id = generated.rounds[0]
        _, rows = system.read.ledger(Scope(round_id=round_id), inspector)
        if len(rows) != FINDINGS:
            raise RuntimeError(f"the first round has {len(rows)} findings, not {FINDINGS}: raise --events")
        return Data(url, round_id, secret, system.app.head(), len(rows))
    finally:
        system.close()


# -- servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def pinned(command: list[str], core: int | None) -> list[str]:
    return ["taskset", "-c", str(core), *command] if core is not None else command


@dataclass
class Server:
    url: str
    port: int
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()


def start_server(database_url: str, core: int | None) -> Server:
    port = free_port()
    command = pinned([sys.executable, str(Path(__file__).resolve()), "serve", database_url, str(port)], core)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = Server(f"http://127.0.0.1:{port}", port, process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError("server did not come up in 30 s")


# -- the requests ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    """One kind of request; with `vary`, the body's NONCE becomes a different value on each request."""

    name: str
    method: str
    path: str
    headers: dict[str, str]
    body: str = ""
    vary: bool = False


def loads(data: Data) -> list[Load]:
    auth = {"Authorization": f"Bearer {data.token}"}
    post = {**auth, "Content-Type": "application/json"}
    variables = {"r": str(data.round_id)}
    body = json.dumps({"query": QUERY, "variables": variables}, separators=(",", ":"))
    varying = json.dumps({"query": QUERY, "variables": {**variables, "nonce": NONCE}}, separators=(",", ":"))
    return [
        Load("plain JSON route", "GET", f"/plain/rounds/{data.round_id}/ledger", auth),
        Load("GraphQL", "POST", "/graphql", post, body),
        Load("GraphQL, cache bypassed", "POST", "/graphql", post, varying, vary=True),
    ]


def check(server: Server, data: Data, plain: Load, graphql: Load, bypass: Load) -> None:
    """Both routes give the same 50 findings (and the bypassing body runs the same query)."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        expected = client.request(plain.method, plain.path, headers=plain.headers).json()
        for load in (graphql, bypass):
            body = load.body.replace(NONCE, "check") if load.vary else load.body
            answer = client.request(load.method, load.path, headers=load.headers, content=body.encode()).json()
            if answer != expected:
                raise RuntimeError(f"{load.name} differs from the plain route: {answer} != {expected}")
    items = expected["data"]["round"]["findings"]["items"]
    if len(items) != data.findings:
        raise RuntimeError(f"expected {data.findings} findings, got {len(items)}")


# -- load generation -------------------------------------------------------------------------


@dataclass
class Result:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int
    notes: list[str] = field(default_factory=list)


def lua_string(text: str) -> str:
    """A Lua string literal: printable ASCII as is, every other byte (UTF-8) as a decimal escape."""
    return '"' + "".join(chr(b) if 32 <= b < 127 and b not in b'"\\' else f"\\{b:03d}" for b in text.encode()) + '"'


def lua_script(load: Load) -> str:
    lines = [f"wrk.method = {lua_string(load.method)}"]
    lines += [f"wrk.headers[{lua_string(k)}] = {lua_string(v)}" for k, v in load.headers.items()]
    if not load.vary:
        if load.body:
            lines.append(f"wrk.body = {lua_string(load.body)}")
        return "\n".join(lines) + "\n"
    prefix, _, suffix = load.body.partition(NONCE)
    lines += [
        f"local prefix, suffix = {lua_string(prefix)}, {lua_string(suffix)}",
        "local threads = 0",
        "function setup(thread) threads = threads + 1; thread:set('tid', threads) end",
        "local n = 0",
        "function request()",
        "  n = n + 1",
        "  return wrk.format(nil, nil, nil, prefix .. tid .. '-' .. n .. suffix)",
        "end",
    ]
    return "\n".join(lines) + "\n"


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def wrk_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * UNITS[unit]


def parse_wrk(output: str) -> Result:
    def find(pattern: str) -> re.Match[str]:
        found = re.search(pattern, output)
        if found is None:
            raise RuntimeError(f"unexpected wrk output:\n{output}")
        return found

    percentiles = {p: wrk_ms(v) for p, v in re.findall(r"^\s+(50|90|99)%\s+(\S+)$", output, re.MULTILINE)}
    total = find(r"(\d+) requests in ([\d.]+)(us|ms|s|m)")
    errors = 0
    notes = []
    if non_2xx := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        errors += int(non_2xx.group(1))
    if socket_errors := re.search(r"Socket errors: (.*)", output):
        notes.append(f"socket errors: {socket_errors.group(1)}")
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return Result(
        requests=int(total.group(1)),
        seconds=wrk_ms(total.group(2) + total.group(3)) / 1000,
        rps=float(find(r"Requests/sec:\s+([\d.]+)").group(1)),
        p50_ms=percentiles["50"],
        p90_ms=percentiles["90"],
        p99_ms=percentiles["99"],
        errors=errors,
        notes=notes,
    )


def run_wrk(server: Server, load: Load, connections: int, seconds: float, core: int | None, folder: Path) -> Result:
    script = folder / f"{load.method.lower()}{'-varying' if load.vary else ''}.lua"
    script.write_text(lua_script(load), encoding="utf-8")
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "10s"]
    command += ["-s", str(script), server.url + load.path]
    done = subprocess.run(pinned(command, core), capture_output=True, text=True, check=True)
    return parse_wrk(done.stdout)


def run_python(server: Server, load: Load, connections: int, seconds: float, core: int | None) -> Result:
    spec = {
        "port": server.port,
        "method": load.method,
        "path": load.path,
        "headers": load.headers,
        "body": load.body,
        "vary": load.vary,
        "connections": connections,
        "seconds": seconds,
    }
    command = pinned([sys.executable, str(Path(__file__).resolve()), "load", json.dumps(spec)], core)
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return Result(**json.loads(done.stdout))


async def python_load(spec: dict[str, Any]) -> Result:
    """A closed loop of keep-alive HTTP/1.1 connections, each sending its next request when the last
    answer is read in full (what wrk does, slower: it may be the bottleneck on a fast route)."""
    port, method, path = spec["port"], spec["method"], spec["path"]
    prefix, _, suffix = spec["body"].encode().partition(NONCE.encode())
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in spec["headers"].items())
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + spec["seconds"]

    def request(connection: int, n: int) -> bytes:
        body = prefix + f"{connection}-{n}".encode() + suffix if spec["vary"] else prefix + suffix
        return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body

    async def read_body(reader: asyncio.StreamReader, headers: dict[bytes, bytes]) -> None:
        if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
                await reader.readexactly(size + 2)
            await reader.readuntil(b"\r\n")
        else:
            await reader.readexactly(int(headers.get(b"content-length", b"0")))

    async def connection(number: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        n = 0
        try:
            while time.perf_counter() < deadline:
                n += 1
                started = time.perf_counter()
                writer.write(request(number, n))
                status_and_headers = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
                headers = {}
                for line in status_and_headers[1:]:
                    name, _, value = line.partition(b":")
                    headers[name.strip().lower()] = value.strip()
                await read_body(reader, headers)
                latencies.append(time.perf_counter() - started)
                if status_and_headers[0].split()[1] != b"200":
                    errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection(i) for i in range(spec["connections"])))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def percentile(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000 if latencies else float("nan")

    return Result(
        requests=len(latencies),
        seconds=elapsed,
        rps=len(latencies) / elapsed,
        p50_ms=percentile(0.50),
        p90_ms=percentile(0.90),
        p99_ms=percentile(0.99),
        errors=errors,
        notes=["python load generator"],
    )


# -- the run ---------------------------------------------------------------------------------


def cores(no_pin: bool) -> tuple[int | None, int | None, str]:
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if no_pin:
        return None, None, "not pinned (--no-pin)"
    if len(available) < 2 or shutil.which("taskset") is None:
        return None, None, "not pinned (needs two cores and taskset)"
    return available[0], available[1], f"server on core {available[0]}, load generator on core {available[1]}"


def line(name: str, r: Result) -> str:
    notes = f"  [{'; '.join(r.notes)}]" if r.notes else ""
    errors = f"  ERRORS: {r.errors}" if r.errors else ""
    return (
        f"  {name:<26} {r.rps:>9,.0f} req/s   p50 {r.p50_ms:>6.2f} ms   p90 {r.p90_ms:>6.2f} ms   "
        f"p99 {r.p99_ms:>6.2f} ms   ({r.requests:,} requests){errors}{notes}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement (default 10)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up before each (default 3)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections (default 16)")
    parser.add_argument("--events", type=int, default=20_000, help="events in the generated log (default 20,000)")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto", help="load generator")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and load generator to cores")
    args = parser.parse_args()

    use_wrk = args.loadgen == "wrk" or (args.loadgen == "auto" and shutil.which("wrk") is not None)
    if use_wrk and shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install wrk), or use --loadgen python")
    server_core, load_core, pinning = cores(args.no_pin)

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        started = time.perf_counter()
        data = build(folder, args.events)
        print(
            f"store: SQLite; log: {data.events:,} events (generated in {time.perf_counter() - started:.1f} s); "
            f"round {data.round_id}: {data.findings} findings; inspector token"
        )
        print(
            f"load: {'wrk, 1 thread' if use_wrk else 'python asyncio client'}, {args.connections} connections, "
            f"{args.warmup:g} s warm-up + {args.duration:g} s each, fresh uvicorn server (1 worker) each; {pinning}"
        )
        plain, graphql, bypass = loads(data)
        print(f"checked before each measurement: both routes give the same {data.findings} findings")

        def measure(load: Load) -> Result:
            server = start_server(data.database_url, server_core)
            try:
                check(server, data, plain, graphql, bypass)
                for seconds in (args.warmup, args.duration):
                    if use_wrk:
                        result = run_wrk(server, load, args.connections, seconds, load_core, folder)
                    else:
                        result = run_python(server, load, args.connections, seconds, load_core)
                return result
            finally:
                server.stop()

        results = {}
        for load in (plain, graphql, bypass):
            results[load.name] = measure(load)
            print(line(load.name, results[load.name]), flush=True)

        p, g, b = results[plain.name], results[graphql.name], results[bypass.name]
        ratio = g.rps / p.rps
        print(f"  ratio GraphQL / plain = {ratio:.2f}   (target >= {TARGETS['rps_ratio']})")
        target = TARGETS["p99_ms"]
        print(f"  GraphQL p99 = {g.p99_ms:.2f} ms at {args.connections} connections   (target < {target:g} ms)")
        uncached = b.rps / p.rps
        print(
            f"  without the response cache: GraphQL / plain = {uncached:.2f}   "
            f"(target >= {TARGETS['uncached_ratio']}), p99 {b.p99_ms:.2f} ms; "
            f"the cache gives {g.rps / b.rps:.1f}x the requests per second"
        )
        errors = p.errors + g.errors + b.errors
        met = (
            ratio >= TARGETS["rps_ratio"]
            and g.p99_ms < TARGETS["p99_ms"]
            and uncached >= TARGETS["uncached_ratio"]
            and errors == 0
        )
        print("targets met" if met else "TARGETS NOT MET" + (f" ({errors} failed requests)" if errors else ""))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 3 and sys.argv[1] == "load":
        spec = json.loads(sys.argv[2])
        print(json.dumps(vars(asyncio.run(python_load(spec)))))
    else:
        main()
