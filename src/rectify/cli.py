"""The `rectify` command: load the example, run the demo, list what is recorded, print the log and notices, serve.

Rounds, units and notices are named on the command line the way people name them (see `Handles`); every
failure is one `rectify: …` line on standard error and a non-zero exit: 2 for a request that cannot be
carried out as given, 1 for a database that cannot be used or anything unexpected (`--traceback` shows it).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import getpass
import json
import signal
import socket
import sqlite3
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from uuid import UUID

import psycopg
from eventsourcing.persistence import PersistenceError

from rectify import eventlog, heap, settings
from rectify.access import Actor, Role
from rectify.application import RectifyApplication
from rectify.bootstrap import System, open_application, open_system
from rectify.domain import Finding, Round, Unit
from rectify.domain.errors import RectifyError
from rectify.domain.values import Deadline, Disclosure, Edition
from rectify.evidence import cli as evidence_cli
from rectify.examples import songyuan
from rectify.integrity import cli as integrity_cli
from rectify.projections.ledger import LedgerRow
from rectify.projections.progress import Scope
from rectify.projections.runner import Runner
from rectify.sheets import cli as sheets

if TYPE_CHECKING:  # the web stack is imported only by the commands that serve
    from starlette.applications import Starlette

    from rectify.web.app import WebSettings

EXAMPLES = {"songyuan": songyuan}
#: The shortest id prefix taken as a handle (git's rule too: fewer characters name too many things).
MIN_PREFIX = 4


class CommandError(Exception):
    """A request the command cannot carry out as given: the message says what to do instead."""


class UnusableDatabase(Exception):
    """The database cannot be reached or read (the message says why, without its password)."""


def operator() -> Actor:
    """The person at the terminal: the `rectify` command is trusted with every command."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "operator"
    return Actor(f"cli-{name}", Role.SYSTEM)


# -- naming rounds, units and notices ------------------------------------------------------------


@dataclass(frozen=True)
class Named:
    """Something a handle may name: its id, the names it answers to, and how to show it in a list."""

    id: UUID
    names: tuple[str, ...]
    shown: str


class Handles:
    """Rounds, units and notices named as people name them, not only by their full ids.

    A handle is a full id, a name (a unit's name or short name, e.g. 松园社区党委; a round's team, with or
    without its district, e.g. 第四巡察组 or 罗湖区第四巡察组), the start of an id (at least MIN_PREFIX
    characters), or a part of a name (松园). They are tried in that order, and the first that fits anything
    decides: a handle that fits more than one is refused with the candidates listed, so that the next try
    can be exact.
    """

    def __init__(self, system: System) -> None:
        self.system = system
        with system.read.view() as view:
            units = [u for u in view.aggregates(Unit) if isinstance(u, Unit)]
            rounds = [r for r in view.aggregates(Round) if isinstance(r, Round)]
        self.units = sorted(units, key=lambda u: (u.short_name, str(u.id)))
        # an audit has no stationed period: it sorts by its feedback date, or first
        self.rounds = sorted(
            rounds, key=lambda r: (r.stationed_from or r.feedback_on or date.min, r.team_name, str(r.id))
        )

    def round(self, handle: str) -> Round:
        named = pick("round", handle, [round_named(r) for r in self.rounds])
        return next(r for r in self.rounds if r.id == named.id)

    def unit(self, handle: str, *, of_round: Round | None = None) -> Unit:
        """A unit; with `of_round`, one of that round's units (a short name shared elsewhere is no matter)."""
        everyone = [unit_named(u) for u in self.units]
        if of_round is None:
            named = pick("unit", handle, everyone)
        else:
            members = [n for n in everyone if n.id in of_round.unit_ids]
            try:
                named = pick("unit", handle, members)
            except CommandError:
                outside = matches(handle, everyone)
                if len(outside) == 1 and outside[0] not in members:
                    raise CommandError(
                        f"unit {handle!r} is not one of round {of_round.team_name}'s units "
                        f"({', '.join(n.names[1] for n in members)})"
                    ) from None
                raise
        return next(u for u in self.units if u.id == named.id)

    def notice(self, handle: str) -> UUID:
        published = [
            Named(p.notice_id, (), f"{p.notice_id}  {p.published_on}  {p.edition.value:<8}  {p.title}")
            for _, p in self.system.notices.publications()
        ]
        return pick("notice", handle, published).id


def round_named(round_: Round) -> Named:
    shown = f"{round_.id}  {round_.team_name}, stationed {round_.stationed_from} to {round_.stationed_to}"
    return Named(round_.id, (round_.team_name, round_.team), shown)


def unit_named(unit: Unit) -> Named:
    return Named(unit.id, (unit.name, unit.short_name), f"{unit.id}  {unit.short_name}  {unit.name}")


def matches(handle: str, candidates: list[Named]) -> list[Named]:
    """Exact names and full ids first; else ids that start with the handle; else names that contain it."""
    wanted = handle.strip()
    folded = wanted.casefold()
    exact = [c for c in candidates if folded in (n.casefold() for n in c.names) or folded == str(c.id)]
    if exact:
        return exact
    if len(wanted) >= MIN_PREFIX:
        starting = [c for c in candidates if str(c.id).startswith(folded) or c.id.hex.startswith(folded)]
        if starting:
            return starting
    return [c for c in candidates if any(folded in n.casefold() for n in c.names)] if wanted else []


def pick(kind: str, handle: str, candidates: list[Named]) -> Named:
    found = matches(handle, candidates)
    if len(found) == 1:
        return found[0]
    if not candidates:
        raise CommandError(f"there is no {kind} to name with {handle!r}: the database holds none")
    listed = found or candidates
    shown = "; ".join(c.shown for c in listed[:10]) + ("; …" if len(listed) > 10 else "")
    if found:
        raise CommandError(
            f"{kind} {handle!r} is ambiguous: it fits {len(found)} {kind}s ({shown}); name one by the start of its id"
        )
    raise CommandError(f"no {kind} is named {handle!r}, nor has an id starting with it; there are: {shown}")


# -- output ----------------------------------------------------------------------------------------


def cells(text: str) -> int:
    """Terminal columns a text takes: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def padded(text: str, width: int) -> str:
    return text + " " * max(0, width - cells(text))


def table(rows: list[list[str]]) -> str:
    """Columns aligned for the eye (the last one left ragged), Chinese characters counted double."""
    widths = [max(cells(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*(padded(value, widths[i]) for i, value in enumerate(row[:-1])), row[-1]]).rstrip() for row in rows
    )


def print_json_lines(records: list[dict[str, Any]]) -> None:
    for record in records:
        print(json.dumps(record, ensure_ascii=False, default=str))


# -- opening the store -----------------------------------------------------------------------------


def shown_url(database: settings.Database) -> str:
    """The database URL without its password, for messages."""
    if database.kind == "sqlite" or not database.password:
        return database.url
    return database.url.replace(f":{database.password}@", ":***@", 1)


def require_existing(config: settings.Settings) -> None:
    """Commands that only read refuse an SQLite file that is not there, rather than create an empty one."""
    path = config.database.path
    if config.database.kind == "sqlite" and path is not None and not path.exists():
        raise CommandError(
            f"no database at {path} ({config.database.url}); write one with `rectify load-example songyuan`, "
            "or name another with --database-url or RECTIFY_DATABASE_URL"
        )


@contextlib.contextmanager
def application(config: settings.Settings, *, existing: bool = True) -> Iterator[RectifyApplication]:
    if existing:
        require_existing(config)
    app = open_application(config)
    try:
        yield app
    finally:
        app.close()


@contextlib.contextmanager
def current_system(config: settings.Settings) -> Iterator[System]:
    """The system with its views caught up with the log (this process folds whatever is missing)."""
    require_existing(config)
    system = open_system(config, run_projector=False)
    try:
        system.projector.catch_up()
        yield system
    finally:
        system.close()


# -- commands --------------------------------------------------------------------------------------


def load_example(app: RectifyApplication, name: str, *, force: bool = False) -> songyuan.Loaded:
    if app.head() and not force:
        raise CommandError(
            f"the store already holds {app.head()} events; load the example into an empty database "
            "(or pass --force to add it beside them)"
        )
    return EXAMPLES[name].load(app, operator())


def summary(app: RectifyApplication, loaded: songyuan.Loaded, *, cut: date = date(2025, 11, 12)) -> str:
    """What the example wrote, with the ids it created (to name them in later commands)."""
    unit = app.unit(loaded.unit_id)
    round_ = app.round(loaded.round_id)
    findings = sorted((app.finding(f) for f in loaded.finding_ids.values()), key=lambda f: f.place)
    statuses = Counter(f.status.value for f in findings)
    live = [a for f in findings for a in f.activities if not a.retracted]
    kinds = Counter(a.kind for a in live)
    up_to_cut = Counter(a.kind for a in live if a.occurred_on <= cut)
    lines = [
        f"unit      {unit.id}  {unit.short_name}  {unit.name}",
        f"round     {round_.id}  {round_.team_name}, stationed {round_.stationed_from} to {round_.stationed_to}, "
        f"feedback {round_.feedback_on}",
        f"findings  {len(findings)} ({sum(f.is_public for f in findings)} public): "
        + ", ".join(f"{status} {n}" for status, n in sorted(statuses.items())),
        *(" " * 10 + line for line in table([finding_row(f) for f in findings]).splitlines()),
        "activities " + ", ".join(f"{kind} {n} (up to {cut}: {up_to_cut[kind]})" for kind, n in sorted(kinds.items())),
        f"log       {loaded.position} events",
    ]
    return "\n".join(lines)


def finding_row(finding: Finding) -> list[str]:
    shown = "" if finding.is_public else "内部"
    return [str(finding.id), finding.code, shown, finding.heading]


def cmd_load_example(args: argparse.Namespace, config: settings.Settings) -> int:
    with application(config, existing=False) as app:
        loaded = load_example(app, args.name, force=args.force)
        print(summary(app, loaded))
        team, unit = app.round(loaded.round_id).team, app.unit(loaded.unit_id).short_name
    print(f"next: rectify findings --round {team};  rectify notice --round {team} --unit {unit}")
    return 0


def cmd_demo(args: argparse.Namespace, config: settings.Settings) -> int:
    path = Path(args.database)
    config = replace(
        config,
        database=settings.parse_database_url(f"sqlite:///{path}"),
        host=args.host or config.host,
        port=args.port or config.port,
    )
    if not args.no_serve:
        require_free_port(config)  # before the file is replaced: a second demo must not wipe the first one's
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
    system = open_system(config, run_projector=False)
    try:
        app = system.app
        loaded = load_example(app, "songyuan")
        print(f"demo database {path.resolve()}")
        print(summary(app, loaded))
        # The reference notice as published on 2026-03-12 (its window is over: the office and the unit see
        # it, and the dashboard marks it), and the same notice published today for the public page.
        system.projector.catch_up()
        for published_on in (songyuan.REFERENCE_NOTICE_DATE, None):
            receipt = app.publish_notice(
                operator(),
                round_id=loaded.round_id,
                unit_id=loaded.unit_id,
                published_on=published_on,
                position=loaded.position,
            )
            print(f"notice {receipt.entity_id}: /notices/{receipt.entity_id} (sha256 {receipt.sha256})")
        for role in ("INSPECTOR", "UNIT"):
            unit_id = loaded.unit_id if role == "UNIT" else None
            issued = app.issue_token(operator(), role=role, label=f"demo-{role.lower()}", unit_id=unit_id)
            print(f"demo {role.lower()} token: {issued.secret} (token {issued.entity_id})")
    finally:
        system.close()
    if args.no_serve:
        return 0
    serve(config)
    return 0


def cmd_units(args: argparse.Namespace, config: settings.Settings) -> int:
    with current_system(config) as system:
        units = Handles(system).units
    if args.json:
        print_json_lines([{"id": u.id, "short_name": u.short_name, "name": u.name} for u in units])
    elif units:
        print(table([["id", "short name", "name"], *([str(u.id), u.short_name, u.name] for u in units)]))
    return 0


def cmd_rounds(args: argparse.Namespace, config: settings.Settings) -> int:
    with current_system(config) as system:
        handles = Handles(system)
        short = {u.id: u.short_name for u in handles.units}
        rounds = handles.rounds
    if args.json:
        print_json_lines(
            [
                {
                    "id": r.id,
                    "team_name": r.team_name,
                    "team": r.team,
                    "district": r.district,
                    "authority": r.authority,
                    "stationed_from": r.stationed_from,
                    "stationed_to": r.stationed_to,
                    "feedback_on": r.feedback_on,
                    "rectification_until": r.rectification_until,
                    "unit_ids": [str(u) for u in r.unit_ids],
                }
                for r in rounds
            ]
        )
    elif rounds:
        rows = [
            [
                str(r.id),
                r.team_name,
                f"{r.stationed_from} to {r.stationed_to}",
                str(r.feedback_on or "-"),
                ", ".join(short.get(u, str(u)) for u in r.unit_ids),
            ]
            for r in rounds
        ]
        print(table([["id", "team", "stationed", "feedback", "units"], *rows]))
    return 0


def cmd_findings(args: argparse.Namespace, config: settings.Settings) -> int:
    with current_system(config) as system:
        handles = Handles(system)
        round_ = handles.round(args.round)
        unit = handles.unit(args.unit, of_round=round_) if args.unit else None
        scope = Scope(round_id=round_.id, unit_id=unit.id if unit else None)
        _, rows = system.read.ledger(scope, operator())
        short = {u.id: u.short_name for u in handles.units}
    rows = sorted(rows, key=lambda r: (short.get(r.unit_id, ""), r.place))
    if args.json:
        print_json_lines([finding_record(r) for r in rows])
    elif rows:
        several = len(round_.unit_ids) > 1 and unit is None  # then each line says whose finding it is
        header = ["id", *(["unit"] if several else []), "code", "status", "deadline", "", "heading"]
        lines = [[str(r.finding_id), *([short.get(r.unit_id, "")] if several else []), *ledger_row(r)] for r in rows]
        print(table([header, *lines]))
    return 0


def ledger_row(row: LedgerRow) -> list[str]:
    internal = "" if row.disclosure is Disclosure.PUBLIC else "内部"
    return [row.code, row.status.value, deadline(row.deadline), internal, row.heading]


def deadline(due: Deadline | None) -> str:
    if due is None:
        return "-"
    return str(due.due_on) if due.due_on else due.kind.value


def finding_record(row: LedgerRow) -> dict[str, Any]:
    return {
        "id": row.finding_id,
        "round_id": row.round_id,
        "unit_id": row.unit_id,
        "code": row.code,
        "heading": row.heading,
        "status": row.status.value,
        "disclosure": row.disclosure.value,
        "deadline": row.deadline.kind.value if row.deadline else None,
        "due_on": row.due_on,
    }


def cmd_events(args: argparse.Namespace, config: settings.Settings) -> int:
    with application(config) as app:
        printed = 0
        for logged in eventlog.read(app.recorder, app.mapper, after=args.after):
            if args.limit is not None and printed >= args.limit:
                break
            if args.type and logged.type != args.type and not logged.type.endswith(f".{args.type}"):
                continue
            printed += 1
            if args.json:
                record = {
                    "position": logged.position,
                    "type": logged.type,
                    "aggregate_id": str(logged.aggregate_id),
                    "version": logged.version,
                    "recorded_at": logged.recorded_at.isoformat(),
                    "actor": logged.actor,
                    "business_date": logged.business_date.isoformat() if logged.business_date else None,
                    "payload": logged.payload,
                }
                print(json.dumps(record, ensure_ascii=False))
            else:
                when = logged.business_date.isoformat() if logged.business_date else "-"
                details = " ".join(f"{k}={_short(v)}" for k, v in logged.payload.items())
                print(
                    f"{logged.position:>7} {logged.recorded_at:%Y-%m-%d %H:%M:%S} {logged.type:<32} "
                    f"{when:<10} {logged.actor} | {details}"
                )
    return 0


def web_settings(config: settings.Settings) -> WebSettings:
    from rectify.web.app import WebSettings

    return WebSettings(allowed_origins=config.allowed_origins, limits=config.limits)


def web_app(
    config: settings.Settings, *, run_projector: bool = True, started: Callable[[], None] | None = None
) -> Starlette:
    """The app `rectify serve` serves, built from the settings (the in-process API tests use it too)."""
    from rectify.web.app import create_app

    return create_app(config, web_settings(config), run_projector=run_projector, started=started)


def require_free_port(config: settings.Settings) -> None:
    with socket.socket() as probe:
        try:
            probe.bind((config.host, config.port))
        except OSError as error:
            raise CommandError(
                f"cannot listen on {config.host}:{config.port} ({error.strerror or error}); "
                "give another port with --port or RECTIFY_PORT"
            ) from None


def serve(config: settings.Settings, *, run_projector: bool = True, log_level: str = "info") -> None:
    import uvicorn
    import uvicorn.config

    require_free_port(config)
    # A store that cannot be opened (a damaged file, a server that refuses) is one line here, before
    # uvicorn starts: its startup would print the failure as a traceback.
    probe = open_application(config)
    try:
        probe.head()
    finally:
        probe.close()
    web = web_settings(config)
    app = web_app(config, run_projector=run_projector, started=heap.settle)
    print(f"serving on http://{config.host}:{config.port}/graphql", flush=True)
    # rectify's own log (a client's mistake at INFO on one line, an unexpected error at ERROR with
    # its traceback) goes where uvicorn's goes, at the same level.
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    for logger in ("rectify", "strawberry"):
        log_config["loggers"][logger] = {"handlers": ["default"], "level": log_level.upper(), "propagate": False}
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        log_level=log_level,
        log_config=log_config,
        ws="websockets-sansio",
        ws_max_size=web.max_body_bytes,  # a WebSocket message is capped like a request body
    )


def cmd_serve(args: argparse.Namespace, config: settings.Settings) -> int:
    config = replace(config, host=args.host or config.host, port=args.port or config.port)
    serve(config, run_projector=not args.no_projector, log_level=args.log_level)
    return 0


def cmd_token(args: argparse.Namespace, config: settings.Settings) -> int:
    if args.action == "create":
        unit = None
        if args.unit:
            with current_system(config) as system:
                unit = Handles(system).unit(args.unit)
        with application(config) as app:
            receipt = app.issue_token(operator(), role=args.role, label=args.label, unit_id=unit.id if unit else None)
        print(f"token {receipt.entity_id} ({args.role.lower()}{', unit ' + unit.short_name if unit else ''})")
        print(f"secret (shown once): {receipt.secret}")
        return 0
    with application(config) as app:
        if args.action == "revoke":
            app.revoke_token(operator(), token_id=args.token_id, reason=args.reason)
            print(f"token {args.token_id} revoked")
            return 0
        for logged in eventlog.read(app.recorder, app.mapper):
            if logged.type == "AccessToken.Issued":
                p = logged.payload
                print(f"{logged.aggregate_id} {p['role']:<9} {p['label']} unit={p['unit_id'] or '-'} by {logged.actor}")
            elif logged.type == "AccessToken.Revoked":
                print(f"{logged.aggregate_id} revoked: {logged.payload['reason']}")
            elif logged.type == "AccessToken.Replaced":
                print(f"{logged.aggregate_id} revoked: replaced by {logged.payload['replacement_id']}")
    return 0


def cmd_notice(args: argparse.Namespace, config: settings.Settings) -> int:
    if args.format == "pdf" and not args.output:
        raise CommandError("a PDF goes to a file: add --output notice.pdf")
    if args.id and (args.round or args.unit):
        raise CommandError("give a published notice's --id, or a draft's --round and --unit, not both")
    if not args.id and not (args.round and args.unit):
        raise CommandError("name a published notice (--id) or a draft's --round and --unit")
    with current_system(config) as system:
        handles = Handles(system)
        if args.id:
            rendered = system.notices.rebuild(handles.notice(args.id)).rendered
        else:
            round_ = handles.round(args.round)
            unit = handles.unit(args.unit, of_round=round_)
            published_on = day("--published-on", args.published_on) if args.published_on else system.app.today()
            position = args.position or system.app.head()
            rendered = system.notices.draft(
                round_.id, unit.id, Edition(args.edition), position, published_on, args.window_days
            )
        if args.format == "pdf":
            data = rendered.pdf()
        else:
            data = (rendered.markdown if args.format == "md" else rendered.html()).encode("utf-8")
    if args.output:
        write(Path(args.output), data)
        print(f"wrote {args.output} (sha256 of the Markdown text: {rendered.sha256})")
    else:
        sys.stdout.write(data.decode("utf-8"))
    return 0


def day(option: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option}: {value!r} is not a date; write it as 2026-03-12") from None


def write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as error:
        raise CommandError(f"cannot write {path}: {error.strerror or error}") from None


def cmd_verify_notice(args: argparse.Namespace, config: settings.Settings) -> int:
    with current_system(config) as system:
        check = system.notices.rebuild(Handles(system).notice(args.notice_id))
    p = check.publication
    print(f"notice {p.notice_id}: {p.title}")
    print(
        f"  published {p.published_on}, window to {p.window_until}, {p.edition.value} edition, "
        f"built at position {p.position} with template {p.template_version}"
    )
    print(f"  recorded sha256 {p.sha256}")
    print(f"  rebuilt  sha256 {check.rendered.sha256}")
    print("  OK: the notice rebuilt from the log is byte-identical" if check.ok else "  MISMATCH")
    return 0 if check.ok else 1


def cmd_project(args: argparse.Namespace, config: settings.Settings) -> int:
    system = open_system(config, run_projector=False, batch_size=args.batch_size)
    try:
        if args.until_caught_up:
            position = system.projector.catch_up()
            print(f"views at position {position}")
            return 0
        heap.settle()  # a worker that runs on: its start-up heap is left out of the collector's scans
        runner = Runner(system.projector, poll_interval=args.poll_interval or config.poll_interval)
        runner.listeners.append(lambda advance: print(f"views at position {advance.position}", flush=True))
        runner.followers.append(system.sealer.follow)  # the worker seals the log as it follows it
        stop_signals = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)  # before the threads start: they inherit it
        runner.start()
        signal.sigwait(stop_signals)
        runner.stop()
        return 0
    finally:
        system.close()


def cmd_rebuild(args: argparse.Namespace, config: settings.Settings) -> int:
    require_existing(config)
    system = open_system(config, run_projector=False)
    try:
        started = time.perf_counter()
        generation = system.projector.rebuild(batch_size=args.batch_size)
        seconds = time.perf_counter() - started
        position = system.store.tracking_position()
        print(f"rebuilt every view to position {position} as generation {generation} in {seconds:.2f} s")
        return 0
    finally:
        system.close()


def _short(value: object, width: int = 40) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


class Parser(argparse.ArgumentParser):
    """argparse, whose usage errors are one `rectify: …` line too (and name the --help to read)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"rectify: {message} (see `{self.prog} --help`)\n")


ROUND_HANDLE = "the round: its team (第四巡察组), its id, or the start of its id"
UNIT_HANDLE = "the unit: its short name (松园社区党委), its name, its id, or the start of its id"


def parser() -> argparse.ArgumentParser:
    top = Parser(prog="rectify", description="The record of an inspection's rectification (巡察整改).")
    top.add_argument("--database-url", help="overrides RECTIFY_DATABASE_URL (default sqlite:///rectify.db)")
    top.add_argument("--traceback", action="store_true", help="on an unexpected failure, show where it happened")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    load = commands.add_parser(
        "load-example",
        help="write an example scenario as events",
        description="Writes an example scenario through the application, as events, and prints the ids it made.",
    )
    load.add_argument("name", choices=sorted(EXAMPLES), help="which example (songyuan: the reference notice)")
    load.add_argument("--force", action="store_true", help="load even if the store already holds events")
    load.set_defaults(run=cmd_load_example)

    demo = commands.add_parser(
        "demo",
        help="a fresh SQLite file with the example loaded, served",
        description="Creates a fresh SQLite file, loads the songyuan example, publishes its notice, issues demo "
        "tokens, prints the ids it made, and serves the API (GraphiQL at /graphql).",
    )
    demo.add_argument("--database", default="rectify-demo.db", help="the SQLite file to (re)create")
    demo.add_argument("--host", help="address to listen on (default RECTIFY_HOST, 127.0.0.1)")
    demo.add_argument("--port", type=int, help="port to listen on (default RECTIFY_PORT, 8000)")
    demo.add_argument("--no-serve", action="store_true", help="load and summarise only")
    demo.set_defaults(run=cmd_demo)

    units = commands.add_parser(
        "units", help="list the units: ids, short names, names", description="Lists the units (被巡察党组织)."
    )
    units.add_argument("--json", action="store_true", help="one JSON object per line")
    units.set_defaults(run=cmd_units)

    rounds = commands.add_parser(
        "rounds",
        help="list the rounds: ids, teams, dates, units",
        description="Lists the rounds (巡察): id, team, stationed period, feedback date and units.",
    )
    rounds.add_argument("--json", action="store_true", help="one JSON object per line")
    rounds.set_defaults(run=cmd_rounds)

    findings = commands.add_parser(
        "findings",
        help="list a round's findings: ids, codes, status, deadline, headings",
        description="Lists a round's findings (反馈问题) in the notice's order, internal ones (内部) included.",
    )
    findings.add_argument("--round", required=True, help=ROUND_HANDLE)
    findings.add_argument("--unit", help="only this unit's: " + UNIT_HANDLE)
    findings.add_argument("--json", action="store_true", help="one JSON object per line")
    findings.set_defaults(run=cmd_findings)

    serve_parser = commands.add_parser(
        "serve",
        help="serve the GraphQL API with uvicorn",
        description="Serves the GraphQL API (HTTP and graphql-transport-ws) at /graphql, keeping the "
        "views current in this process unless --no-projector.",
    )
    serve_parser.add_argument("--host", help="address to listen on (default RECTIFY_HOST, 127.0.0.1)")
    serve_parser.add_argument("--port", type=int, help="port to listen on (default RECTIFY_PORT, 8000)")
    serve_parser.add_argument(
        "--no-projector", action="store_true", help="leave the views to a separate `rectify project` worker"
    )
    serve_parser.add_argument("--log-level", default="info", help="uvicorn's log level")
    serve_parser.set_defaults(run=cmd_serve)

    token = commands.add_parser(
        "token",
        help="create, revoke or list access tokens",
        description="Bearer tokens for the API; only a digest of each secret is stored.",
    )
    token_actions = token.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = token_actions.add_parser(
        "create", help="issue a token and print its secret once", description="Issues a token for a role."
    )
    create.add_argument("--role", required=True, choices=["UNIT", "INSPECTOR", "ADMIN"], type=str.upper)
    create.add_argument("--unit", help="for a UNIT token, " + UNIT_HANDLE)
    create.add_argument("--label", required=True, help="who holds it, e.g. 松园社区党委-张某")
    revoke = token_actions.add_parser("revoke", help="revoke a token", description="Revokes a token by its id.")
    revoke.add_argument("token_id")
    revoke.add_argument("--reason", required=True)
    token_actions.add_parser("list", help="list issued and revoked tokens", description="Lists tokens (no secrets).")
    token.set_defaults(run=cmd_token)

    events = commands.add_parser("events", help="print the event log", description="Prints the event log in order.")
    events.add_argument("--after", type=int, default=0, help="start after this position")
    events.add_argument("--limit", type=int, default=None, help="print at most this many events")
    events.add_argument("--type", help="only events of this type, e.g. ActivityRecorded")
    events.add_argument("--json", action="store_true", help="one JSON object per line")
    events.set_defaults(run=integrity_cli.diagnosed(cmd_events))

    project = commands.add_parser(
        "project",
        help="keep the views current (the projection worker)",
        description="Runs the projection worker: folds new events into the views as they "
        "are appended (LISTEN/NOTIFY on PostgreSQL, polling on SQLite).",
    )
    project.add_argument("--batch-size", type=int, default=1000, help="events per transaction when catching up")
    project.add_argument(
        "--poll-interval",
        type=float,
        default=None,
        help="seconds between polls of the log when idle (default RECTIFY_POLL_INTERVAL, 0.1)",
    )
    project.add_argument("--until-caught-up", action="store_true", help="catch up to the head of the log, then exit")
    project.set_defaults(run=cmd_project)

    rebuild = commands.add_parser(
        "rebuild",
        help="rebuild every view from zero and swap it in",
        description="Rebuilds every view from the first event into a fresh set of tables, "
        "then swaps it in; readers see the old views until the swap.",
    )
    rebuild.add_argument("--batch-size", type=int, default=10_000, help="events read per batch")
    rebuild.set_defaults(run=integrity_cli.diagnosed(cmd_rebuild))

    notice = commands.add_parser(
        "notice",
        help="print a notice: a published one, or a draft as of any position",
        description="Prints a published notice (--id), rebuilt from the log at its position, or a draft of a "
        "unit's notice in a round as of a position (default: the head).",
    )
    notice.add_argument("--id", help="a published notice: its id, or the start of its id")
    notice.add_argument("--round", help="for a draft, " + ROUND_HANDLE)
    notice.add_argument("--unit", help="for a draft, " + UNIT_HANDLE)
    notice.add_argument("--edition", default="PUBLIC", choices=["PUBLIC", "INTERNAL"], type=str.upper)
    notice.add_argument("--position", type=int, help="for a draft: the log position (default: the head)")
    notice.add_argument("--published-on", help="for a draft: the publication date (default: today)")
    notice.add_argument("--window-days", type=int, default=30, help="for a draft: the publicity window in days")
    notice.add_argument("--format", default="md", choices=["md", "html", "pdf"])
    notice.add_argument("--output", help="write to this file instead of standard output")
    notice.set_defaults(run=cmd_notice)

    verify = commands.add_parser(
        "verify-notice",
        help="rebuild a published notice and check its SHA-256",
        description="Renders a published notice again from the log at its recorded position and template "
        "version, and compares the digest with the one recorded at publication (exit 1 on a mismatch).",
    )
    verify.add_argument("notice_id", help="the notice's id, or the start of its id")
    verify.set_defaults(run=integrity_cli.diagnosed(integrity_cli.chain_first(cmd_verify_notice)))
    sheets.add_commands(commands)
    evidence_cli.add_commands(commands)
    integrity_cli.add_commands(commands)
    return top


def first_line(error: BaseException) -> str:
    text = " ".join(str(error).split("\n")[0].split())
    return text or type(error).__name__


def database_failure(config: settings.Settings | None, error: BaseException) -> UnusableDatabase:
    where = shown_url(config.database) if config else "the database"
    reason = first_line(error)
    if isinstance(error, psycopg.OperationalError) and "failed: " in reason:
        reason = reason.rsplit("failed: ", 1)[1]  # the server's own words, without the connection preamble
    return UnusableDatabase(f"cannot use the database {where}: {reason}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    config: settings.Settings | None = None
    try:
        try:
            config = settings.load(database_url=args.database_url)
            return int(args.run(args, config))
        except (psycopg.Error, sqlite3.Error, PersistenceError) as error:
            raise database_failure(config, error) from error
    except (CommandError, RectifyError, settings.SettingsError) as error:
        return fail(str(error), 2)
    except UnusableDatabase as error:
        return fail(str(error), 1)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except BrokenPipeError:  # the reader (e.g. `head`) has had enough
        sys.stderr.close()
        return 0
    except Exception as error:
        if args.traceback:
            raise
        return fail(f"unexpected {type(error).__name__}: {first_line(error)} (--traceback shows where)", 1)


def fail(message: str, code: int) -> int:
    print(f"rectify: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
