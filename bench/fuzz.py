"""A bounded fuzz of the GraphQL API: schemathesis in GraphQL mode against a live server, as the public and as an admin.

    pip install -e ".[fuzz]"
    python bench/fuzz.py                 # about 2,000 cases: half as the public, half as an admin
    python bench/fuzz.py --cases 5000 --seed 7

It loads the reference scenario (rectify load-example songyuan) into a fresh SQLite file in a
temporary folder, issues an admin token through the application, and starts `rectify serve` (one
uvicorn worker, logging at INFO). schemathesis reads the schema from the server (introspection) and
generates documents for every query and mutation field, with arguments and variables that fit their
types; hypothesis draws them from a fixed seed, so a run can be repeated. Each case is sent over HTTP
once with no token and once with the admin's, as a legacy JSON client and as a
graphql-response+json one in turn.

It prints, per audience, the cases sent and the answers by status code; then the server errors (5xx),
the tracebacks and the ERROR lines in the server's log, which must all be 0. It exits 1 otherwise.
"""
# ruff: noqa: E402 - the path fix below must run before anything imports graphql-core

from __future__ import annotations

import sys
from pathlib import Path

# bench/graphql.py would shadow graphql-core for schemathesis and Strawberry: run as a script, this
# file's folder comes first on sys.path. Take it off before importing anything that needs it.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse
import os
import subprocess
import tempfile
import time
from collections import Counter
from typing import Any

import httpx
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed

AUDIENCES = ("public", "admin")
ACCEPTS = ("application/json", "application/graphql-response+json")


def prepare(folder: Path) -> tuple[str, str]:
    """The reference scenario in a fresh SQLite file, and an admin token: (database URL, secret)."""
    from rectify import settings as rectify_settings
    from rectify.access import Actor, Role
    from rectify.bootstrap import open_application
    from rectify.examples import songyuan

    url = f"sqlite:///{folder / 'rectify.db'}"
    app = open_application(rectify_settings.load({}, database_url=url))
    try:
        system = Actor("fuzz", Role.SYSTEM)
        songyuan.load(app, system)
        return url, app.issue_token(system, role="ADMIN", label="fuzz").secret
    finally:
        app.close()


def serve(database_url: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "rectify.cli", "--database-url", database_url, "serve", "--port", str(port)]
    command += ["--log-level", "info"]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=sink, env={**os.environ})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"the server did not come up: {log.read_text()}")


def fuzz(url: str, token: str, cases: int, seed: int) -> dict[str, Counter[int]]:
    """Sends about `cases` generated documents, split evenly over the audiences and operations."""
    import schemathesis

    schema = schemathesis.graphql.from_url(f"{url}/graphql")
    operations = [result.ok() for result in schema.get_all_operations()]
    per_operation = max(1, -(-cases // (len(AUDIENCES) * len(operations))))  # rounded up
    statuses: dict[str, Counter[int]] = {audience: Counter() for audience in AUDIENCES}
    with httpx.Client(base_url=url, timeout=30) as client:
        for audience in AUDIENCES:
            headers = {"authorization": f"Bearer {token}"} if audience == "admin" else {}
            for operation in operations:
                statuses[audience] += probe(client, operation, headers, per_operation, seed)
    return statuses


def probe(client: httpx.Client, operation: Any, headers: dict[str, str], examples: int, seed: int) -> Counter[int]:
    """Up to `examples` documents for one operation, each sent once; the answers by status code."""
    counted = Counter[int]()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def send(case: Any) -> None:
        accept = ACCEPTS[sum(counted.values()) % len(ACCEPTS)]
        query = case.body["query"] if isinstance(case.body, dict) else case.body
        response = client.post("/graphql", json={"query": query}, headers={**headers, "accept": accept})
        counted[response.status_code] += 1
        if response.status_code >= 500:
            print(f"  {response.status_code} for {operation.label}: {query[:300]}", file=sys.stderr)

    hypothesis_seed(seed)(send)()
    return counted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=2000, help="documents to send in all (default 2,000)")
    parser.add_argument("--seed", type=int, default=20260312, help="hypothesis seed (default 20260312)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        database_url, token = prepare(folder)
        log = folder / "server.log"
        process, url = serve(database_url, log)
        started = time.perf_counter()
        try:
            statuses = fuzz(url, token, args.cases, args.seed)
        finally:
            process.terminate()
            process.wait(timeout=30)
        seconds = time.perf_counter() - started
        logged = log.read_text(encoding="utf-8", errors="replace")

    print(f"schemathesis GraphQL fuzz against rectify serve (reference data), seed {args.seed}, {seconds:.0f} s")
    total = Counter[int]()
    for audience, counted in statuses.items():
        total += counted
        answers = ", ".join(f"{status}: {n}" for status, n in sorted(counted.items()))
        print(f"  as {audience:<6} {sum(counted.values()):>5} cases   {answers}")
    server_errors = sum(n for status, n in total.items() if status >= 500)
    tracebacks = logged.count("Traceback")
    errors = sum(1 for line in logged.splitlines() if line.startswith("ERROR"))
    client_lines = sum(1 for line in logged.splitlines() if line.startswith("INFO") and "/graphql" not in line)
    print(f"  in all  {sum(total.values()):>5} cases   server errors (5xx): {server_errors}")
    print(f"  server log: {tracebacks} tracebacks, {errors} ERROR lines, {client_lines} one-line INFO notes")
    return 0 if server_errors == tracebacks == errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
