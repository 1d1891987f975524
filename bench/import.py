"""Benchmark of the 台账 import: a generated 700-finding ledger (about 5,000 events) through the bulk path, against
one command per step and the bare eventsourcing library's batched append of as many events, in one run.

    python bench/import.py                                               # SQLite files
    python bench/import.py --database-url postgresql://postgres@127.0.0.1/test

Each phase runs on a fresh store (an SQLite file, or a PostgreSQL schema of its own):
  1. baseline: the library alone (its own recorders, not rectify's): an application with one trivial aggregate class
     appends the same number of events, 10 events per save (ten events of one aggregate, as `save()` takes them);
  2. bulk path: the sheet read and planned (`plan_file`: openpyxl, then every step tried on the aggregates in
     memory), then carried out by `planner.carry_out` (batches of commands, a transaction each). Reported:
     read+plan, carry out, and the whole import;
  3. one command per step: the same plan, each step its own application command and transaction, called as a
     mutation's resolver calls it (without GraphQL and HTTP around it: a lower bound of one mutation per step).
The targets (issue 14): the whole import under 3 s, and the carrying out at >= 0.3 x the baseline's events/s.
Timings on a shared machine are noisy: compare the ratios, measured in the same run.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from psycopg import sql

from rectify import settings
from rectify.access import Actor, Role
from rectify.bootstrap import open_system
from rectify.examples import ledger_sheet
from rectify.sheets.planner import Plan, carry_out, plan_file

OFFICE = Actor("区委巡察办", Role.SYSTEM)
PER_SAVE = 10


class Item(Aggregate):
    """The baseline's aggregate: one small event, like most of an import's."""

    @event("Created")
    def __init__(self, label: str) -> None:
        self.label = label
        self.notes: list[str] = []

    @event("Noted")
    def note(self, text: str) -> None:
        self.notes.append(text)


class Baseline(Application):
    pass


def fresh_url(base: str | None, folder: Path, name: str) -> str:
    if base is None:
        return f"sqlite:///{folder / f'{name}.db'}"
    schema = f"bench_import_{name}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(settings.parse_database_url(base).psycopg_conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    return f"{base}{'&' if '?' in base else '?'}schema={schema}"


def baseline(url: str, events: int) -> float:
    """Seconds for the library to append `events` events, PER_SAVE per save."""
    database = settings.load({}, database_url=url).database
    # The library's own recorders, not rectify's (whose PostgreSQL insert is faster): the bare library.
    library = "eventsourcing.sqlite" if database.kind == "sqlite" else "eventsourcing.postgres"
    env = {**database.eventsourcing_env(), "PERSISTENCE_MODULE": library}
    app = Baseline(env=env)
    try:
        items = []
        for number in range(0, events, PER_SAVE):
            item = Item(f"item {number}")
            for n in range(min(PER_SAVE, events - number) - 1):
                item.note(f"一是整改措施第 {n} 项：建立健全制度并抓好落实")
            items.append(item)
        started = time.perf_counter()
        for item in items:
            app.save(item)
        return time.perf_counter() - started
    finally:
        app.close()


def prepared(url: str, sheet: bytes) -> tuple[Any, Plan, float]:
    """A store with the round opened; the sheet read and planned (and how long that took)."""
    system = open_system(settings.load({}, database_url=url), run_projector=False)
    round_ = ledger_sheet.open_round(system.app, OFFICE)
    system.projector.catch_up()
    started = time.perf_counter()
    plan = plan_file(system.app, system.read, io.BytesIO(sheet), round_.round_id, OFFICE)
    planned = time.perf_counter() - started
    assert not plan.errors, plan.errors[:3]
    return system, plan, planned


def bulk(url: str, sheet: bytes) -> dict[str, float]:
    system, plan, planned = prepared(url, sheet)
    try:
        head = system.app.head()
        started = time.perf_counter()
        done = carry_out(system.app, plan)
        seconds = time.perf_counter() - started
        appended = system.app.head() - head
        assert done.steps == len(plan.steps)
        return {"plan_s": planned, "carry_out_s": seconds, "events": len(plan.steps), "log_positions": appended}
    finally:
        system.close()


def per_step(url: str, sheet: bytes) -> dict[str, float]:
    system, plan, planned = prepared(url, sheet)
    try:
        started = time.perf_counter()
        for step in plan.steps:
            getattr(system.app, step.command)(plan.actor, **step.arguments)
        return {"plan_s": planned, "carry_out_s": time.perf_counter() - started, "events": len(plan.steps)}
    finally:
        system.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="a PostgreSQL server (default: SQLite files in a temporary folder)")
    parser.add_argument("--findings", type=int, default=700)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
    sheet = ledger_sheet.ledger(args.findings)
    with tempfile.TemporaryDirectory() as folder:
        where = Path(folder)
        bulk_figures = bulk(fresh_url(args.database_url, where, "bulk"), sheet)
        events = int(bulk_figures["events"])
        base_s = baseline(fresh_url(args.database_url, where, "baseline"), events)
        step_figures = per_step(fresh_url(args.database_url, where, "steps"), sheet)
    store = "PostgreSQL" if args.database_url else "SQLite"
    base_rate = events / base_s
    bulk_rate = events / bulk_figures["carry_out_s"]
    step_rate = events / step_figures["carry_out_s"]
    whole = bulk_figures["plan_s"] + bulk_figures["carry_out_s"]
    figures = {
        "store": store,
        "findings": args.findings,
        "events": events,
        "baseline_s": round(base_s, 3),
        "baseline_events_per_s": round(base_rate),
        "bulk_plan_s": round(bulk_figures["plan_s"], 3),
        "bulk_carry_out_s": round(bulk_figures["carry_out_s"], 3),
        "bulk_whole_import_s": round(whole, 3),
        "bulk_events_per_s": round(bulk_rate),
        "bulk_ratio_to_baseline": round(bulk_rate / base_rate, 3),
        "per_step_carry_out_s": round(step_figures["carry_out_s"], 3),
        "per_step_events_per_s": round(step_rate),
        "per_step_ratio_to_baseline": round(step_rate / base_rate, 3),
        "bulk_speedup_over_per_step": round(step_figures["carry_out_s"] / bulk_figures["carry_out_s"], 2),
        "log_positions_used": int(bulk_figures["log_positions"]),
    }
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
        return
    print(f"{store}: a {args.findings}-finding 台账, {events} events")
    print(f"  baseline (library, {PER_SAVE} events per save): {base_s:.2f} s, {base_rate:,.0f} events/s")
    print(
        f"  bulk path: read+plan {bulk_figures['plan_s']:.2f} s, carry out {bulk_figures['carry_out_s']:.2f} s "
        f"({bulk_rate:,.0f} events/s, {bulk_rate / base_rate:.2f} x baseline); whole import {whole:.2f} s "
        f"(target < 3 s)"
    )
    print(
        f"  one command per step: {step_figures['carry_out_s']:.2f} s ({step_rate:,.0f} events/s, "
        f"{step_rate / base_rate:.2f} x baseline); the bulk path is {figures['bulk_speedup_over_per_step']} x as fast"
    )


if __name__ == "__main__":
    main()
