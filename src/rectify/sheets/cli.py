"""The `rectify` commands of the 台账: ledger-template, import-ledger and export-ledger."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rectify import settings
from rectify.access import PUBLIC, Actor
from rectify.application import RectifyApplication
from rectify.bootstrap import System, open_system
from rectify.domain.errors import RectifyError
from rectify.projections.progress import Scope

if TYPE_CHECKING:
    from rectify.cli import Handles
    from rectify.sheets.planner import Plan


def add_commands(commands: Any) -> None:
    """Adds the ledger commands to the `rectify` command's subparsers."""
    template = commands.add_parser(
        "ledger-template",
        help="write an empty 台账 to fill in",
        description="Writes the 台账 template (.xlsx): the columns offices use, drop-down lists for 整改状态, "
        "完成时限 and 是否公开, and a sheet explaining each column. With --round, titled for the round, "
        "with its units and categories to pick.",
    )
    template.add_argument("file", help="the .xlsx file to write")
    template.add_argument("--round", help="a round id: title the template for it")
    template.set_defaults(run=cmd_template)

    importing = commands.add_parser(
        "import-ledger",
        help="import a 台账 (.xlsx) into a round",
        description="Imports a 台账 into a round as ordinary lifecycle events. An import is a diff: the same "
        "sheet again appends nothing, an edited one only what changed. A sheet with any error imports nothing, "
        "and each error names its sheet, row, column and reason. --dry-run says row by row what would be appended.",
    )
    importing.add_argument("file", help="the .xlsx workbook")
    importing.add_argument("--round", required=True, help="the round id")
    importing.add_argument("--dry-run", action="store_true", help="say what would be appended, append nothing")
    importing.add_argument("--sheet", help="the sheet to read (default: 台账, else the first)")
    importing.add_argument("--token", help="import as this token's holder (default: the operator, who may do all)")
    importing.set_defaults(run=cmd_import)

    exporting = commands.add_parser(
        "export-ledger",
        help="export the 台账 of a round, a unit or the district (.xlsx)",
        description="Writes the ledger as the office prints it, with a second sheet 统计 of progress figures, "
        "now or as of a log position or a record time. Without --round or --unit: the whole district.",
    )
    exporting.add_argument("file", help="the .xlsx file to write")
    exporting.add_argument("--round", help="a round id")
    exporting.add_argument("--unit", help="a unit id")
    exporting.add_argument("--as-of", help="a log position (e.g. 1200) or a record time (e.g. 2026-03-12T18:00)")
    exporting.add_argument("--token", help="export as this token's holder sees it (default: the operator)")
    exporting.add_argument("--public", action="store_true", help="export as the public sees it")
    exporting.set_defaults(run=cmd_export)


# The commands import the workbook modules (openpyxl) when they run: every other `rectify` command, and
# every server start, would otherwise pay for them.


def cmd_template(args: argparse.Namespace, config: settings.Settings) -> int:
    from rectify.sheets import writer

    round_ = units = None
    if args.round:
        system = open_system(config, run_projector=False)
        try:
            system.projector.catch_up()
            round_ = _handles(system).round(args.round)
            units = [system.app.unit(u) for u in round_.unit_ids]
        finally:
            system.close()
    Path(args.file).write_bytes(writer.template(round_, units or ()))
    print(f"wrote {args.file}")
    return 0


def cmd_import(args: argparse.Namespace, config: settings.Settings) -> int:
    from rectify.sheets.planner import carry_out, plan_file
    from rectify.sheets.reader import SheetRejected

    system = open_system(config, run_projector=False)
    try:
        actor = _actor(system.app, args.token)
        system.projector.catch_up()
        round_id = _handles(system).round(args.round).id
        try:
            planned = plan_file(system.app, system.read, Path(args.file), round_id, actor, sheet_name=args.sheet)
        except SheetRejected as rejected:
            return _rejected(rejected.errors)
        if planned.errors:
            return _rejected(planned.errors)
        for header in planned.sheet.ignored:
            print(f"note: the column {header} is not read", file=sys.stderr)
        if args.dry_run:
            _dry_run(planned)
            return 0
        imported = carry_out(system.app, planned, progress=_progress_bar() if sys.stderr.isatty() else None)
        where = f" at positions {imported.first_position}–{imported.last_position}" if imported.steps else ""
        print(
            f"imported {args.file}: {imported.steps} events appended{where}; "
            f"{planned.unchanged} of {len(planned.sheet.lines)} rows unchanged"
        )
        return 0
    finally:
        system.close()


def cmd_export(args: argparse.Namespace, config: settings.Settings) -> int:
    from rectify.sheets import writer

    system = open_system(config, run_projector=False)
    try:
        audience = PUBLIC if args.public else _actor(system.app, args.token)
        system.projector.catch_up()
        handles = _handles(system)
        round_ = handles.round(args.round) if args.round else None
        unit = handles.unit(args.unit, of_round=round_) if args.unit else None
        scope = Scope(round_id=round_.id if round_ else None, unit_id=unit.id if unit else None)
        at = writer.as_of(args.as_of, config.timezone, "--as-of") if args.as_of else None
        exported = writer.export(system.read, scope, audience, at)
        Path(args.file).write_bytes(exported.data)
        print(f"wrote {args.file}: {exported.findings} findings as of position {exported.position}")
        return 0
    finally:
        system.close()


def _actor(app: RectifyApplication, token: str | None) -> Actor:
    if token is None:
        from rectify.cli import operator  # the command's own operator; imported late, as cli.py imports this

        return operator()
    actor = app.authenticate(token)
    if actor is None:
        raise RectifyError("--token: an unknown or revoked token")
    return actor


def _handles(system: System) -> Handles:
    from rectify.cli import Handles  # imported late, as cli.py imports this module

    return Handles(system)


def _rejected(errors: list[Any]) -> int:
    for error in errors:
        print(f"rectify: {error}", file=sys.stderr)
    print(f"rectify: nothing was imported ({len(errors)} problem{'s' if len(errors) != 1 else ''})", file=sys.stderr)
    return 2


def _dry_run(planned: Plan) -> None:
    for row, code, steps in planned.by_row():
        print(f"row {row} ({code}): " + ", ".join(_counted(s.event for s in steps)))
        for step in steps:
            print(f"    {step.event:<34} {step.says}")
    print(
        f"dry run: {len(planned.steps)} events would be appended; "
        f"{planned.unchanged} of {len(planned.sheet.lines)} rows unchanged; nothing was appended"
    )


def _counted(events: Any) -> list[str]:
    counts = Counter(events)
    return [f"{event} ×{n}" if n > 1 else event for event, n in counts.items()]


def _progress_bar() -> Any:
    def show(done: int, total: int) -> None:
        width = 30
        filled = width * done // total
        print(f"\rimporting [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="", file=sys.stderr)
        if done == total:
            print(file=sys.stderr)

    return show
