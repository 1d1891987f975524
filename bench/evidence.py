"""Benchmark of evidence uploads: 100 files of 1 MiB attached through the application, against the same bytes
written raw, in one run, with each phase's peak RSS.

    python bench/evidence.py                                   # SQLite files
    python bench/evidence.py --database-url postgresql://postgres@127.0.0.1/test

Each phase runs in a fresh process of its own (so that its peak resident set is its own), on a fresh store with the
reference scenario loaded:
  1. raw file: the bytes written to files (open, write, fsync);
  2. raw rows: the bytes inserted as one BLOB/BYTEA row per file into a table of the same database, one
     transaction per file (no hashing, no sniffing, no event);
  3. attach: `attach_evidence` from a file on disk: the checks, the type sniffed, the bytes hashed and
     stored in 256 KiB chunks in one transaction, then the EvidenceAttached event appended;
  4. attach again: the same 100 files attached once more, to another measure (stored already: read, hashed and
     written in a transaction that is rolled back, so stored once);
  5. over HTTP: 100 other files of the same size uploaded with `attachEvidence` through /graphql as multipart
     requests (the GraphQL multipart request spec), to a real `rectify serve` (uvicorn) over the same store, one
     request after another from an HTTP client in this process; the peak RSS is the server's (its VmHWM).
Timings on a shared machine are noisy: compare the ratios, measured in the same run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

from rectify import settings
from rectify.access import Actor, Role
from rectify.bootstrap import open_application
from rectify.examples import songyuan

SYSTEM = Actor("bench", Role.SYSTEM)
MIB = 1024 * 1024
PHASES = ("raw-file", "raw-rows", "attach", "attach-again")
HTTP = "over-http"
ATTACH = """
mutation($input: AttachEvidenceInput!, $file: Upload!) {
  attachEvidence(input: $input, file: $file) {
    __typename
    ... on Accepted { position }
    ... on InvalidInput { message }
    ... on NotFound { message }
    ... on Forbidden { message }
    ... on Conflict { message }
    ... on IllegalTransition { message }
  }
}"""


def fresh_url(base: str | None, folder: Path) -> str:
    if base is None:
        return f"sqlite:///{folder / 'bench.db'}"
    schema = f"bench_evidence_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(settings.parse_database_url(base).psycopg_conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    return f"{base}{'&' if '?' in base else '?'}schema={schema}"


def make_files(folder: Path, count: int, size: int, prefix: str = "evidence") -> list[Path]:
    """`count` distinct PDFs of `size` bytes (a PDF header, then random bytes)."""
    paths = []
    for number in range(count):
        path = folder / f"{prefix}-{number:03d}.pdf"
        path.write_bytes(b"%PDF-1.7\n%" + os.urandom(size - 10))
        paths.append(path)
    return paths


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def phase(name: str, url: str, files: list[Path], out: Path) -> dict[str, float]:
    """One phase, in this process; returns seconds and the peak RSS (MiB) before and after."""
    config = settings.load({}, database_url=url)
    app = open_application(config)
    try:
        finding = app.finding(next(iter(songyuan_findings(app))))
        measure = finding.measures[1 if name == "attach-again" else 0]  # the same file to the same step is refused
        target = {"target": "MEASURE", "target_ref": measure.measure_id}
        raw_conn = raw_table(config) if name == "raw-rows" else None
        app.files.setup()  # the tables exist before the clock starts
        before = peak_rss_mib()
        started = time.perf_counter()
        for number, path in enumerate(files):
            if name == "raw-file":
                with (out / f"copy-{number:03d}").open("wb") as copy:
                    copy.write(path.read_bytes())
                    copy.flush()
                    os.fsync(copy.fileno())
            elif name == "raw-rows":
                insert_raw(config, raw_conn, path.read_bytes())
            else:
                with path.open("rb") as stream:
                    app.attach_evidence(SYSTEM, finding_id=finding.id, stream=stream, file_name=path.name, **target)
        seconds = time.perf_counter() - started
        return {"seconds": seconds, "rss_before_mib": before, "rss_peak_mib": peak_rss_mib()}
    finally:
        app.close()


def songyuan_findings(app):  # type: ignore[no-untyped-def]
    from rectify import eventlog

    return [r.aggregate_id for r in eventlog.read(app.recorder, app.mapper) if r.type == "Finding.Raised"]


def raw_table(config: settings.Settings):  # type: ignore[no-untyped-def]
    if config.database.kind == "sqlite":
        import sqlite3

        conn = sqlite3.connect(config.database.path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS bench_raw (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
        return conn
    conn = psycopg.connect(
        config.database.psycopg_conninfo(), options=f"-c search_path={config.database.schema}", autocommit=True
    )
    conn.execute("CREATE TABLE IF NOT EXISTS bench_raw (id BIGSERIAL PRIMARY KEY, data BYTEA NOT NULL)")
    return conn


def insert_raw(config: settings.Settings, conn, data: bytes) -> None:  # type: ignore[no-untyped-def]
    if config.database.kind == "sqlite":
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO bench_raw (data) VALUES (?)", (data,))
        conn.execute("COMMIT")
    else:
        with conn.transaction():
            conn.execute("INSERT INTO bench_raw (data) VALUES (%s)", (data,))


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_peak_rss_mib(pid: int) -> float:
    """The server process's peak resident set (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc: peak RSS is read on Linux only")


def over_http(url: str, files: list[Path]) -> dict[str, float]:
    """Phase 5: `rectify serve` (uvicorn) over the store, and the files uploaded to it as multipart requests."""
    app = open_application(settings.load({}, database_url=url))
    try:
        token = app.issue_token(SYSTEM, role="INSPECTOR", label="bench-uploads").secret
        finding = app.finding(songyuan_findings(app)[1])  # another finding than the in-process phases'
        target = {"findingId": str(finding.id), "target": "MEASURE", "targetRef": str(finding.measures[0].measure_id)}
    finally:
        app.close()
    port = free_port()
    command = [sys.executable, "-m", "rectify.cli", "--database-url", url, "serve", "--port", str(port)]
    server = subprocess.Popen([*command, "--log-level", "warning"], stdout=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in itertools.count():
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None:
                raise RuntimeError("the server exited")
            time.sleep(0.1)
        headers = {"Authorization": f"Bearer {token}", "GraphQL-Require-Preflight": "1"}
        variables = {"input": target, "file": None}
        operations = json.dumps({"query": ATTACH, "variables": variables})
        mapping = json.dumps({"0": ["variables.file"]})
        before = server_peak_rss_mib(server.pid)
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            started = time.perf_counter()
            for path in files:
                with path.open("rb") as stream:
                    response = client.post(
                        "/graphql",
                        data={"operations": operations, "map": mapping},
                        files={"0": (path.name, stream, "application/pdf")},
                    )
                answer = response.json()["data"]["attachEvidence"]
                if answer["__typename"] != "Accepted":
                    raise RuntimeError(f"{path.name}: {answer}")
            seconds = time.perf_counter() - started
        return {"seconds": seconds, "rss_before_mib": before, "rss_peak_mib": server_peak_rss_mib(server.pid)}
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="a PostgreSQL database to bench on (default: SQLite files)")
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--size", type=int, default=MIB)
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:  # a child: one phase, its figures as JSON on stdout
        folder = Path(args.folder)
        files = sorted(folder.glob("evidence-*.pdf"))
        print(json.dumps(phase(args.phase, args.url, files, folder)))
        return
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        files = make_files(folder, args.files, args.size)
        url = fresh_url(args.database_url, folder)
        app = open_application(settings.load({}, database_url=url))
        try:
            songyuan.load(app, SYSTEM)
        finally:
            app.close()
        results = {}
        for name in PHASES:
            command = [sys.executable, __file__, "--phase", name, "--url", url, "--folder", str(folder)]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        results[HTTP] = over_http(url, make_files(folder, args.files, args.size, prefix="http"))
        if args.database_url:
            schema = settings.parse_database_url(url).schema
            with psycopg.connect(settings.parse_database_url(url).psycopg_conninfo(), autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    total = args.files * args.size / MIB
    store = "PostgreSQL" if args.database_url else "SQLite"
    print(f"{args.files} uploads of {args.size / MIB:.0f} MiB ({total:.0f} MiB) on {store}, one run:")
    for name in (*PHASES, HTTP):
        r = results[name]
        print(
            f"  {name:<13} {r['seconds']:7.2f} s  {total / r['seconds']:7.1f} MiB/s  "
            f"peak RSS {r['rss_peak_mib']:6.1f} MiB (at start {r['rss_before_mib']:6.1f} MiB)"
        )
    attach = results["attach"]["seconds"]
    print(f"  attach vs raw rows: {results['raw-rows']['seconds'] / attach:.2f}x the raw rate")
    print(f"  attach vs raw file: {results['raw-file']['seconds'] / attach:.2f}x the raw rate")
    print(f"  over HTTP vs attach in process: {attach / results[HTTP]['seconds']:.2f}x the in-process rate")
    print(f"  over HTTP vs raw rows: {results['raw-rows']['seconds'] / results[HTTP]['seconds']:.2f}x the raw rate")
    served = results[HTTP]
    print(
        f"  the server's peak RSS grew {served['rss_peak_mib'] - served['rss_before_mib']:.1f} MiB over 100 uploads "
        f"of 1 MiB (peak {served['rss_peak_mib']:.1f} MiB)"
    )
    growth = results["attach"]["rss_peak_mib"] - results["attach"]["rss_before_mib"]
    print(f"  attach's peak RSS grew {growth:.1f} MiB over 100 files of 1 MiB (a file is never held whole)")


if __name__ == "__main__":
    main()
