"""The `rectify` command: load the example, run the demo, print the log."""

from __future__ import annotations

import argparse
import getpass
import json
import signal
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from uuid import UUID

from rectify import eventlog, settings
from rectify.access import Actor, Role
from rectify.application import RectifyApplication
from rectify.bootstrap import open_application, open_system
from rectify.domain.errors import RectifyError
from rectify.domain.values import Edition
from rectify.examples import songyuan
from rectify.integrity import cli as integrity_cli
from rectify.projections.runner import Runner

EXAMPLES = {"songyuan": songyuan}


def operator() -> Actor:
    """The person at the terminal: the `rectify` command is trusted with every command."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "operator"
    return Actor(f"cli-{name}", Role.SYSTEM)


def load_example(app: RectifyApplication, name: str, *, force: bool = False) -> songyuan.Loaded:
    if app.head() and not force:
        raise RectifyError(
            f"the store already holds {app.head()} events; load the example into an empty database "
            "(or pass --force to add it beside them)"
        )
    return EXAMPLES[name].load(app, operator())


def summary(app: RectifyApplication, loaded: songyuan.Loaded, *, cut: date = date(2025, 11, 12)) -> str:
    unit = app.unit(loaded.unit_id)
    round_ = app.round(loaded.round_id)
    findings = [app.finding(f) for f in loaded.finding_ids.values()]
    statuses = Counter(f.status.value for f in findings)
    live = [a for f in findings for a in f.activities if not a.retracted]
    kinds = Counter(a.kind for a in live)
    up_to_cut = Counter(a.kind for a in live if a.occurred_on <= cut)
    lines = [
        f"unit      {unit.name} ({unit.short_name})",
        f"round     {round_.team_name}, stationed {round_.stationed_from} to {round_.stationed_to}, "
        f"feedback {round_.feedback_on}",
        f"findings  {len(findings)} ({sum(f.is_public for f in findings)} public): "
        + ", ".join(f"{status} {n}" for status, n in sorted(statuses.items())),
        "activities " + ", ".join(f"{kind} {n} (up to {cut}: {up_to_cut[kind]})" for kind, n in sorted(kinds.items())),
        f"log       {loaded.position} events",
    ]
    return "\n".join(lines)


def cmd_load_example(args: argparse.Namespace, config: settings.Settings) -> int:
    app = open_application(config)
    loaded = load_example(app, args.name, force=args.force)
    print(summary(app, loaded))
    return 0


def cmd_demo(args: argparse.Namespace, config: settings.Settings) -> int:
    path = Path(args.database)
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
    config = replace(
        config,
        database=settings.parse_database_url(f"sqlite:///{path}"),
        host=args.host or config.host,
        port=args.port or config.port,
    )
    system = open_system(config, run_projector=False)
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
    tokens = {
        role: app.issue_token(
            operator(), role=role, label=f"demo-{role.lower()}", unit_id=loaded.unit_id if role == "UNIT" else None
        ).secret
        for role in ("INSPECTOR", "UNIT")
    }
    for role, secret in tokens.items():
        print(f"demo {role.lower()} token: {secret}")
    system.close()
    if args.no_serve:
        return 0
    serve(config)
    return 0


def cmd_events(args: argparse.Namespace, config: settings.Settings) -> int:
    app = open_application(config)
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


def serve(config: settings.Settings, *, run_projector: bool = True, log_level: str = "info") -> None:
    import uvicorn

    from rectify.web.app import WebSettings, create_app

    web = WebSettings(allowed_origins=config.allowed_origins, limits=config.limits)
    app = create_app(config, web, run_projector=run_projector)
    print(f"serving on http://{config.host}:{config.port}/graphql", flush=True)
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        log_level=log_level,
        ws="websockets-sansio",
        ws_max_size=web.max_body_bytes,  # a WebSocket message is capped like a request body
    )


def cmd_serve(args: argparse.Namespace, config: settings.Settings) -> int:
    config = replace(config, host=args.host or config.host, port=args.port or config.port)
    serve(config, run_projector=not args.no_projector, log_level=args.log_level)
    return 0


def cmd_token(args: argparse.Namespace, config: settings.Settings) -> int:
    app = open_application(config)
    if args.action == "create":
        receipt = app.issue_token(operator(), role=args.role, label=args.label, unit_id=args.unit)
        print(f"token {receipt.entity_id} ({args.role.lower()}{', unit ' + args.unit if args.unit else ''})")
        print(f"secret (shown once): {receipt.secret}")
    elif args.action == "revoke":
        app.revoke_token(operator(), token_id=args.token_id, reason=args.reason)
        print(f"token {args.token_id} revoked")
    else:
        for logged in eventlog.read(app.recorder, app.mapper):
            if logged.type == "AccessToken.Issued":
                p = logged.payload
                print(f"{logged.aggregate_id} {p['role']:<9} {p['label']} unit={p['unit_id'] or '-'} by {logged.actor}")
            elif logged.type == "AccessToken.Revoked":
                print(f"{logged.aggregate_id} revoked: {logged.payload['reason']}")
    return 0


def cmd_notice(args: argparse.Namespace, config: settings.Settings) -> int:
    system = open_system(config, run_projector=False)
    try:
        system.projector.catch_up()
        if args.id:
            rendered = system.notices.rebuild(UUID(args.id)).rendered
        else:
            if not (args.round and args.unit):
                raise RectifyError("name a published notice (--id) or a draft's --round and --unit")
            published_on = date.fromisoformat(args.published_on) if args.published_on else system.app.today()
            position = args.position or system.app.head()
            rendered = system.notices.draft(
                UUID(args.round), UUID(args.unit), Edition(args.edition), position, published_on, args.window_days
            )
        if args.format == "pdf":
            data = rendered.pdf()
            if not args.output:
                raise RectifyError("a PDF goes to a file: add --output notice.pdf")
        else:
            data = (rendered.markdown if args.format == "md" else rendered.html()).encode("utf-8")
        if args.output:
            Path(args.output).write_bytes(data)
            print(f"wrote {args.output} (sha256 of the Markdown text: {rendered.sha256})")
        else:
            sys.stdout.write(data.decode("utf-8"))
        return 0
    finally:
        system.close()


def cmd_verify_notice(args: argparse.Namespace, config: settings.Settings) -> int:
    system = open_system(config, run_projector=False)
    try:
        system.projector.catch_up()
        check = system.notices.rebuild(UUID(args.notice_id))
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
    finally:
        system.close()


def cmd_project(args: argparse.Namespace, config: settings.Settings) -> int:
    system = open_system(config, run_projector=False, batch_size=args.batch_size)
    try:
        if args.until_caught_up:
            position = system.projector.catch_up()
            print(f"views at position {position}")
            return 0
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


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="rectify", description="The record of an inspection's rectification (巡察整改).")
    top.add_argument("--database-url", help="overrides RECTIFY_DATABASE_URL (default sqlite:///rectify.db)")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    load = commands.add_parser(
        "load-example",
        help="write an example scenario as events",
        description="Writes an example scenario through the application, as events.",
    )
    load.add_argument("name", choices=sorted(EXAMPLES), help="which example (songyuan: the reference notice)")
    load.add_argument("--force", action="store_true", help="load even if the store already holds events")
    load.set_defaults(run=cmd_load_example)

    demo = commands.add_parser(
        "demo",
        help="a fresh SQLite file with the example loaded, served",
        description="Creates a fresh SQLite file, loads the songyuan example, issues demo tokens, "
        "and serves the API (GraphiQL at /graphql).",
    )
    demo.add_argument("--database", default="rectify-demo.db", help="the SQLite file to (re)create")
    demo.add_argument("--host", help="address to listen on (default RECTIFY_HOST, 127.0.0.1)")
    demo.add_argument("--port", type=int, help="port to listen on (default RECTIFY_PORT, 8000)")
    demo.add_argument("--no-serve", action="store_true", help="load and summarise only")
    demo.set_defaults(run=cmd_demo)

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
    create.add_argument("--unit", help="the unit id a UNIT token acts for")
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
    events.set_defaults(run=cmd_events)

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
    rebuild.set_defaults(run=cmd_rebuild)

    notice = commands.add_parser(
        "notice",
        help="print a notice: a published one, or a draft as of any position",
        description="Prints a published notice (--id), rebuilt from the log at its position, or a draft of a "
        "unit's notice in a round as of a position (default: the head).",
    )
    notice.add_argument("--id", help="a published notice's id")
    notice.add_argument("--round", help="for a draft: the round id")
    notice.add_argument("--unit", help="for a draft: the unit id")
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
    verify.add_argument("notice_id")
    verify.set_defaults(run=cmd_verify_notice)
    integrity_cli.add_commands(commands)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        config = settings.load(database_url=args.database_url)
        return args.run(args, config)
    except (RectifyError, settings.SettingsError) as error:
        print(f"rectify: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader (e.g. `head`) has had enough
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
