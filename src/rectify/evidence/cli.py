"""The `rectify` commands of what rectification leaves behind: evidence, standing rules and relapse checks.

    rectify evidence attach FILE --finding CODE-OR-ID --to activity:<id> | measure:<id|n> | report[:n] |
                                 verification[:n] | close-out[:n] | relapse-check[:n] [--internal] [--note …]
    rectify evidence list --round R [--unit U]
    rectify evidence get ATTACHMENT --finding F --output FILE
    rectify evidence check            every stored file against its SHA-256, and every attached hash stored
    rectify rules [--round R] [--unit U] [--until DAY]
    rectify relapse-checks [--round R] [--all]

The operator at the command acts as the system (as for every `rectify` command); a finding is named by its id,
the start of its id, or its code within --round.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rectify import settings
from rectify.domain.values import EvidenceTarget
from rectify.projections.aftercare import CheckState
from rectify.projections.progress import Scope

if TYPE_CHECKING:
    from rectify.bootstrap import System
    from rectify.domain import Finding

TARGETS = {
    "measure": EvidenceTarget.MEASURE,
    "activity": EvidenceTarget.ACTIVITY,
    "report": EvidenceTarget.REPORT,
    "verification": EvidenceTarget.VERIFICATION,
    "close-out": EvidenceTarget.CLOSE_OUT,
    "relapse-check": EvidenceTarget.RELAPSE_CHECK,
}
STATUS = {"MET": "达标", "MISSED": "未达标", "RUNNING": "进行中", "ENDED": "提前结束"}


def add_commands(commands: Any) -> None:
    evidence = commands.add_parser(
        "evidence",
        help="attach, list, fetch and check evidence (佐证材料)",
        description="Evidence files (PDF, images, Office documents) attached to a step of a finding, stored once "
        "per SHA-256 in the store's own database; the type is read from the content, never from the name.",
    )
    actions = evidence.add_subparsers(dest="action", required=True, metavar="ACTION")
    attach = actions.add_parser("attach", help="attach a file to a step of a finding", description=__doc__)
    attach.add_argument("file", help="the file to attach (read once, in chunks)")
    attach.add_argument("--finding", required=True, help="the finding: its id, the start of its id, or its code")
    attach.add_argument("--round", help="the round, to name the finding by its code")
    attach.add_argument(
        "--to",
        required=True,
        help="the step: activity:<id>, measure:<id or number>, report[:n], verification[:n], close-out[:n] or "
        "relapse-check[:n] (without n: the latest)",
    )
    attach.add_argument("--internal", action="store_true", help="never shown to the public (不宜公开)")
    attach.add_argument("--note", default="", help="what the file shows")
    attach.add_argument("--name", help="the file name to record (default: the file's own)")
    listing = actions.add_parser("list", help="the evidence of a round's findings")
    listing.add_argument("--round", required=True)
    listing.add_argument("--unit")
    get = actions.add_parser("get", help="write an attached file out")
    get.add_argument("attachment", help="the attachment's id (or the start of it)")
    get.add_argument("--finding", required=True)
    get.add_argument("--round")
    get.add_argument("--output", required=True)
    actions.add_parser("check", help="every stored file against its SHA-256, every attached file present")
    evidence.set_defaults(run=cmd_evidence)

    rules = commands.add_parser(
        "rules",
        help="standing rules (长效机制), period by period",
        description="Each unit's standing under each standing rule: every period met, missed or running.",
    )
    rules.add_argument("--round")
    rules.add_argument("--unit")
    rules.add_argument("--until", help="judge on this business day (default: today)")
    rules.set_defaults(run=cmd_rules)

    checks = commands.add_parser(
        "relapse-checks",
        help="回头看 due and overdue",
        description="Closed findings awaiting their relapse check (回头看): overdue, and due within 30 days.",
    )
    checks.add_argument("--round")
    checks.add_argument("--all", action="store_true", help="also those due later")
    checks.set_defaults(run=cmd_relapse_checks)


@contextlib.contextmanager
def _system(config: settings.Settings) -> Iterator[System]:
    from rectify.cli import current_system

    with current_system(config) as system:
        yield system


def _finding(system: System, handle: str, round_handle: str | None) -> Finding:
    from rectify.cli import CommandError, Handles

    handles = Handles(system)
    round_ = handles.round(round_handle) if round_handle else None
    with system.read.view() as view:
        rows = view.ledger(Scope(round_id=round_.id if round_ else None))
    wanted = handle.strip().lower()
    found = [r for r in rows if str(r.finding_id) == wanted or (round_ is not None and r.code == handle.strip())]
    if not found and len(wanted) >= 4:
        found = [r for r in rows if str(r.finding_id).startswith(wanted)]
    if len(found) != 1:
        where = f" in round {round_.team_name}" if round_ else " (give --round to name it by its code)"
        raise CommandError(f"finding {handle!r}{where}: {'ambiguous' if found else 'not found'}")
    return system.app.finding(found[0].finding_id)


def _target(finding: Finding, given: str) -> tuple[EvidenceTarget, str | None]:
    from rectify.cli import CommandError

    name, _, ref = given.partition(":")
    kind = TARGETS.get(name.strip().lower())
    if kind is None:
        raise CommandError(f"--to {given!r}: the step is one of {', '.join(TARGETS)}")
    if kind is EvidenceTarget.MEASURE and ref.isdigit():
        number = int(ref)
        if not 1 <= number <= len(finding.measures):
            raise CommandError(f"--to {given!r}: the finding has {len(finding.measures)} measures")
        return kind, str(finding.measures[number - 1].measure_id)
    if kind.by_id and not ref:
        raise CommandError(f"--to {given!r}: name the {name} by its id, e.g. {name}:<id>")
    if kind is EvidenceTarget.ACTIVITY and len(ref) < 36:
        matching = [a for a in finding.activities if str(a.activity_id).startswith(ref.lower())]
        if len(matching) == 1:
            return kind, str(matching[0].activity_id)
    return kind, ref or None


def cmd_evidence(args: argparse.Namespace, config: settings.Settings) -> int:
    from rectify.cli import CommandError, operator, write

    if args.action == "attach":
        path = Path(args.file)
        if not path.is_file():
            raise CommandError(f"no file at {path}")
        with _system(config) as system:
            finding = _finding(system, args.finding, args.round)
            kind, ref = _target(finding, args.to)
            with path.open("rb") as stream:
                receipt = system.app.attach_evidence(
                    operator(),
                    finding_id=finding.id,
                    stream=stream,
                    file_name=args.name or path.name,
                    target=kind,
                    target_ref=ref,
                    disclosure="INTERNAL" if args.internal else "PUBLIC",
                    note=args.note,
                )
            attached = system.app.finding(finding.id).evidence[-1]
        print(
            f"attached {attached.file_name} ({attached.media_type}, {attached.size} bytes, sha256 {attached.sha256}) "
            f"to {finding.code} {kind.value.lower()} {attached.target_ref} as {receipt.entity_id}"
        )
        return 0
    if args.action == "list":
        from rectify.cli import Handles

        with _system(config) as system:
            handles = Handles(system)
            round_ = handles.round(args.round)
            unit = handles.unit(args.unit, of_round=round_) if args.unit else None
            with system.read.view() as view:
                rows = view.ledger(Scope(round_id=round_.id, unit_id=unit.id if unit else None))
        for row in rows:
            for a in row.evidence:
                flags = ("内部 " if a.disclosure.value == "INTERNAL" or not row.is_public else "") + (
                    "已撤回 " if a.withdrawn else ""
                )
                print(
                    f"{a.attachment_id}  {row.code:<10} {a.target.value.lower()}:{a.target_ref[:8]:<8} "
                    f"{a.media_type:<18} {a.size:>9}  {flags}{a.file_name}"
                )
        return 0
    if args.action == "get":
        with _system(config) as system:
            finding = _finding(system, args.finding, args.round)
            chosen = [a for a in finding.evidence if str(a.attachment_id).startswith(args.attachment.lower())]
            if len(chosen) != 1:
                raise CommandError(f"attachment {args.attachment!r} of {finding.code}: not found or ambiguous")
            files = system.app.files
            assert files is not None
            write(Path(args.output), files.read(chosen[0].sha256))
        print(f"wrote {args.output} ({chosen[0].size} bytes, sha256 {chosen[0].sha256})")
        return 0
    return _check(config)


def _check(config: settings.Settings) -> int:
    from rectify import eventlog
    from rectify.domain import Finding

    problems = []
    with _system(config) as system:
        files = system.app.files
        assert files is not None
        stored = set(files.stored())
        named = set()
        for logged in eventlog.read(system.app.recorder, system.app.mapper):
            if isinstance(logged.event, Finding.EvidenceAttached):
                named.add(logged.event.attachment.sha256)
        problems += [f"file {sha} is attached but not stored" for sha in sorted(named - stored)]
        problems += [p for p in (files.check(sha) for sha in sorted(stored)) if p is not None]
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(stored)} files stored, {len(named)} attached: {'OK' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


def _scope(system: System, args: argparse.Namespace) -> Scope:
    from rectify.cli import Handles

    handles = Handles(system)
    round_ = handles.round(args.round) if getattr(args, "round", None) else None
    unit = handles.unit(args.unit, of_round=round_) if getattr(args, "unit", None) else None
    return Scope(round_id=round_.id if round_ else None, unit_id=unit.id if unit else None)


def cmd_rules(args: argparse.Namespace, config: settings.Settings) -> int:
    from rectify.cli import Handles, day, operator

    with _system(config) as system:
        scope = _scope(system, args)
        until = day("--until", args.until) if args.until else None
        standings = system.queries.reading(operator()).rules(scope, None, until)
        names = {u.id: u.short_name for u in Handles(system).units}
    for standing in standings:
        unit = names.get(standing.unit_id, str(standing.unit_id)[:8])
        print(f"{standing.title}  [{standing.period.label}至少{standing.minimum}次{standing.activity_kind}] {unit}")
        for p in standing.periods:
            print(f"  {p.label:<14} {p.starts_on} – {p.ends_on}  {p.count}/{p.minimum}  {STATUS[p.status.value]}")
    return 0


def cmd_relapse_checks(args: argparse.Namespace, config: settings.Settings) -> int:
    from rectify.cli import operator

    with _system(config) as system:
        scope = _scope(system, args)
        states = tuple(CheckState) if args.all else None
        checks = system.queries.reading(operator()).relapse_checks(scope, states)
    label = {"OVERDUE": "逾期", "DUE": "到期", "LATER": "未到期"}
    for check in checks:
        print(
            f"{label[check.state.value]:<4} due {check.due_on}  closed {check.closed_on}  {check.finding.code:<10} "
            f"{check.finding.heading}  ({check.finding.id})"
        )
    return 0
