"""The integrity commands of `rectify`: keygen, seal, verify, export, import and migrate.

`add_commands` adds them to the `rectify` parser. Each failure is one `rectify: …` line on standard error
with a non-zero exit: 1 when the log does not verify (or cannot be read to verify it), 2 for a command
that could not be carried out.
"""

from __future__ import annotations

import argparse
import functools
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.persistence import PersistenceError
from psycopg_pool import PoolTimeout

from rectify import settings
from rectify.domain.errors import RectifyError
from rectify.integrity import keys, portable, proofs
from rectify.integrity.merkle import ProofError
from rectify.integrity.notices import NoticesChecked, verify_notices
from rectify.integrity.sealer import Unsealable, open_sealer
from rectify.integrity.store import StoreProblem, open_log_store
from rectify.integrity.verify import Problem, Report, verify_store

Command = Callable[[argparse.Namespace, settings.Settings], int]

#: What a damaged or unreachable store raises; reported in one line, never as a traceback.
STORE_ERRORS = (sqlite3.Error, psycopg.Error, PoolTimeout, PersistenceError, StoreProblem)


class CommandFailed(RectifyError):
    """A store or file error, in the words of the command that met it."""


def _store_errors_in_one_line(command: Command) -> Command:
    @functools.wraps(command)
    def run(args: argparse.Namespace, config: settings.Settings) -> int:
        try:
            return command(args, config)
        except STORE_ERRORS as error:
            raise CommandFailed(f"{args.command}: the store cannot be used: {_first_line(error)}") from None

    return run


def _first_problem(config: settings.Settings) -> Problem | None:
    """The log's first bad position, if it has one (None too when the store cannot even be read for it)."""
    try:
        key = _public_key(argparse.Namespace(), config)
        store = open_log_store(config.database)
        try:
            return verify_store(store, key=key).problem
        finally:
            store.close()
    except (*STORE_ERRORS, RectifyError):
        return None


def diagnosed(command: Command) -> Command:
    """For a command that reads the log through the application (`events`, `rebuild`, `verify-notice`): an error
    that damage to the log caused is told as that damage, its first bad position and what is wrong there, in
    one line with exit 1, never as a traceback. Any other error goes on as it was."""

    @functools.wraps(command)
    def run(args: argparse.Namespace, config: settings.Settings) -> int:
        try:
            return command(args, config)
        except RectifyError:
            raise
        except Exception:
            problem = _first_problem(config)
            if problem is None:
                raise
            return _fail(f"{args.command}: the log is damaged at {problem} (see `rectify verify`)")

    return run


def chain_first(command: Command) -> Command:
    """Verifies the log's chain before the command runs (`verify-notice`: a notice rebuilt from a tampered log
    would prove nothing), and refuses with the first bad position if it does not verify."""

    @functools.wraps(command)
    def run(args: argparse.Namespace, config: settings.Settings) -> int:
        problem = _first_problem(config)
        if problem is not None:
            return _fail(f"{args.command}: the log does not verify, at {problem} (see `rectify verify`)")
        return command(args, config)

    return run


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _fail(message: str, code: int = 1) -> int:
    print(f"rectify: {message}", file=sys.stderr)
    return code


def _public_key(args: argparse.Namespace, config: settings.Settings) -> keys.PublicKey | None:
    """The key signatures are checked with: --public-key, else RECTIFY_PUBLIC_KEY, else the signing key's."""
    given = getattr(args, "public_key", None) or config.integrity.public_key
    if given:
        return keys.PublicKey.load(given)
    if config.integrity.signing_key:
        return keys.SigningKey.load(config.integrity.signing_key).public
    return None


# -- keygen -----------------------------------------------------------------------------------------------


def cmd_keygen(args: argparse.Namespace, config: settings.Settings) -> int:
    path = Path(args.file).expanduser()
    key = keys.generate(path)
    print(f"private key: {path} (mode 0600; keep it only where the sealer runs, and back it up)")
    print(f"public key:  {path}.pub")
    print(key.public.text())
    print(f"fingerprint: {key.public.fingerprint}")
    print(f"to sign tree heads: RECTIFY_SIGNING_KEY={path}")
    return 0


# -- seal -------------------------------------------------------------------------------------------------


@_store_errors_in_one_line
def cmd_seal(args: argparse.Namespace, config: settings.Settings) -> int:
    sealer = open_sealer(config)
    try:
        try:
            sealed = sealer.seal()
        except Unsealable as error:
            return _fail(str(error))
        print(f"sealed {sealed.leaves} events: tree of {sealed.size} up to position {sealed.position}")
        print(f"root {sealed.root.hex()}")
        for checkpoint in sealed.checkpoints:
            print(_checkpoint_line(checkpoint))
        if args.checkpoint:
            head = sealer.checkpoint()
            if head not in sealed.checkpoints:
                print(_checkpoint_line(head))
        return 0
    finally:
        sealer.close()


def _checkpoint_line(checkpoint: keys.Checkpoint) -> str:
    head = checkpoint.head
    signed = f"signed by {checkpoint.key_fingerprint}" if checkpoint.signed else "unsigned"
    return f"tree head: size {head.size}, position {head.position}, root {head.root.hex()}, {head.signed_at}, {signed}"


# -- verify -----------------------------------------------------------------------------------------------


def cmd_verify(args: argparse.Namespace, config: settings.Settings) -> int:
    started = time.perf_counter()
    try:
        key = _public_key(args, config)
        store = open_log_store(config.database)
        try:
            report = verify_store(store, key=key, from_position=args.from_position)
        finally:
            store.close()
    except STORE_ERRORS as error:
        return _fail(f"verify: the store cannot be read: {_first_line(error)}")
    seconds = time.perf_counter() - started
    for line in _report_lines(report, seconds):
        print(line)
    if report.problem is not None:
        return _fail(f"verify failed at {report.problem}")
    if not args.no_notices:
        started = time.perf_counter()
        try:
            checked = _verify_notices(config)
        except STORE_ERRORS as error:
            return _fail(f"verify: the store cannot be read: {_first_line(error)}")
        print(f"rebuilt {checked.notices} published notices from the log in {time.perf_counter() - started:.1f} s")
        if checked.problem is not None:
            return _fail(f"verify failed at {checked.problem}")
    if report.size == 0 and report.unsealed:
        return _fail(f"verify: nothing is sealed yet: {report.unsealed} events wait (run `rectify seal`)")
    print("OK: the log is as it was sealed")
    return 0


def _verify_notices(config: settings.Settings) -> NoticesChecked:
    from rectify.bootstrap import open_application

    app = open_application(config)
    sealer = open_sealer(config)
    try:
        try:
            return verify_notices(app, sealer.recorded_head_at)
        except (ValueError, KeyError, TypeError) as error:  # an unsealed event that does not decode
            return NoticesChecked(0, Problem(0, "undecodable", f"the log cannot be folded: {_first_line(error)}"))
    finally:
        sealer.close()
        app.close()


def _report_lines(report: Report, seconds: float) -> list[str]:
    lines = [f"log: {report.head} positions, origin {report.origin or '(never sealed)'}"]
    start = f" from position {report.from_position}" if report.from_position > 1 else ""
    lines.append(
        f"checked {report.events} events{start} against their leaves in {seconds:.1f} s; tree of {report.size} "
        f"up to position {report.sealed_position}, root {report.root.hex()}"
    )
    checked = f"{report.signatures} signatures good ({report.key})" if report.key else "signatures not checked (no key)"
    lines.append(f"tree heads: {report.checkpoints}, {checked}, {report.unsigned} unsigned")
    if report.unsealed:
        lines.append(f"not sealed yet: {report.unsealed} events after position {report.sealed_position}")
    lines.extend(f"note: {note}" for note in report.notes)
    return lines


# -- verify-proof -------------------------------------------------------------------------------------------


def cmd_verify_proof(args: argparse.Namespace, config: settings.Settings) -> int:
    """Offline: only the proof file, the public key and (optionally) the notice's text; no store is opened."""
    key = keys.PublicKey.load(args.public_key)
    notice_text = None
    if args.notice:
        try:
            notice_text = Path(args.notice).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandFailed(f"verify-proof: cannot read the notice {args.notice} ({error})") from None
    try:
        checked = proofs.check_document(proofs.read_document(Path(args.file)), key, notice_text=notice_text)
    except ProofError as error:
        return _fail(f"verify-proof: the proof does not hold: {error}")
    for line in checked.lines:
        print(line)
    print("OK: the proof holds")
    return 0


# -- export, import, migrate --------------------------------------------------------------------------------


@_store_errors_in_one_line
def cmd_export(args: argparse.Namespace, config: settings.Settings) -> int:
    started = time.perf_counter()
    path = Path(args.file)
    if path.exists() and not args.force:
        raise CommandFailed(f"export: {path} exists (pass --force to replace it)")
    sealer = open_sealer(config)
    try:
        try:
            head = sealer.checkpoint()  # the copy carries a tree head that covers it
        except Unsealable as error:
            raise CommandFailed(f"export: {error}; run `rectify verify`") from None
        moved = portable.write_file(path, portable.read_store(sealer.store))
    finally:
        sealer.close()
    print(
        f"exported {moved.events} events up to position {moved.head} to {path} in {time.perf_counter() - started:.1f} s"
    )
    print(f"sealed {moved.sealed}, not yet sealed {moved.unsealed}; tree heads {moved.checkpoints}")
    print(_checkpoint_line(head))
    return 0


def _load_into(
    target: settings.Settings, records: Any, key: keys.PublicKey | None, what: str, *, rebuild: bool = True
) -> int:
    from rectify.bootstrap import open_application, open_system

    started = time.perf_counter()
    open_application(target).close()  # the event tables, as the application makes them
    store = open_log_store(target.database)
    try:
        moved = portable.load(records, store, key=key)
    except portable.ChainRefused as error:
        return _fail(f"{what}: {error}")
    finally:
        store.close()
    loaded = time.perf_counter() - started
    print(f"{what}: {moved.events} events up to position {moved.head} in {loaded:.1f} s, the chain verified")
    print(f"tree of {moved.sealed} (root {moved.root.hex()}), {moved.unsealed} not yet sealed")
    signed = f"{moved.signatures} signatures good" if key else "signatures not checked (no key)"
    print(f"tree heads: {moved.checkpoints}, {signed}, {moved.unsigned} unsigned")
    if rebuild:
        started = time.perf_counter()
        system = open_system(target, run_projector=False)
        try:
            system.projector.rebuild()
        finally:
            system.close()
        print(f"views rebuilt in {time.perf_counter() - started:.1f} s")
    return 0


@_store_errors_in_one_line
def cmd_import(args: argparse.Namespace, config: settings.Settings) -> int:
    key = _public_key(args, config)
    return _load_into(config, portable.read_file(Path(args.file)), key, "import")


@_store_errors_in_one_line
def cmd_migrate(args: argparse.Namespace, config: settings.Settings) -> int:
    target = replace(config, database=settings.parse_database_url(args.to))
    if _same_store(config.database, target.database):
        raise CommandFailed("migrate: the target is the store itself; name another database with --to")
    key = _public_key(args, config)
    sealer = open_sealer(config)
    try:
        try:
            sealer.seal()
        except Unsealable as error:
            raise CommandFailed(f"migrate: {error}; run `rectify verify`") from None
        code = _load_into(target, portable.read_store(sealer.store), key, "migrate")
    finally:
        sealer.close()
    if code == 0:
        print(f"the source is left as it was; point RECTIFY_DATABASE_URL at {args.to} to use the copy")
    return code


def _same_store(a: settings.Database, b: settings.Database) -> bool:
    if a.kind != b.kind:
        return False
    if a.kind == "sqlite":
        assert a.path is not None and b.path is not None
        return a.path.resolve() == b.path.resolve()
    return (a.host, a.port, a.name, a.schema) == (b.host, b.port, b.name, b.schema)


def _portable_errors(command: Command) -> Command:
    @functools.wraps(command)
    def run(args: argparse.Namespace, config: settings.Settings) -> int:
        try:
            return command(args, config)
        except portable.PortableProblem as error:
            raise CommandFailed(f"{args.command}: {error}") from None

    return run


# -- the parser -----------------------------------------------------------------------------------------------


def add_commands(commands: Any) -> None:
    """Adds the integrity commands to `rectify`'s subparsers."""
    keygen = commands.add_parser(
        "keygen",
        help="make an Ed25519 key to sign tree heads with",
        description="Writes a new Ed25519 private key to FILE (mode 0600, never over an existing file) and its "
        "public key to FILE.pub, and prints the public key and its fingerprint. Name FILE in RECTIFY_SIGNING_KEY.",
    )
    keygen.add_argument("file", help="where to write the private key, e.g. /etc/rectify/signing.key")
    keygen.set_defaults(run=cmd_keygen)

    seal = commands.add_parser(
        "seal",
        help="seal the log into its Merkle tree now",
        description="Adds every event not yet sealed to the log's Merkle tree and writes the tree heads that fall "
        "due (the projector does this as it runs).",
    )
    seal.add_argument("--checkpoint", action="store_true", help="also write a tree head now, at the new size")
    seal.set_defaults(run=cmd_seal)

    verify = commands.add_parser(
        "verify",
        help="recompute the log's tree from the stored bytes and check every tree head",
        description="Recomputes every leaf from the events as stored, compares it with the leaf stored beside "
        "the event, and checks every tree head (and its signature, with the public key). Names the first bad "
        "position and what is wrong there; exit 1 when the log does not verify.",
    )
    verify.add_argument(
        "--from",
        dest="from_position",
        type=int,
        default=0,
        metavar="N",
        help="recompute leaves from position N on (before it, the stored leaf hashes are held against the heads)",
    )
    verify.add_argument("--public-key", help="a public key file or `ed25519 <base64>` (default RECTIFY_PUBLIC_KEY)")
    verify.add_argument("--no-notices", action="store_true", help="skip rebuilding every published notice from the log")
    verify.set_defaults(run=cmd_verify)

    proof = commands.add_parser(
        "verify-proof",
        help="check a proof document offline, with only the public key",
        description="Checks a proof document (from GET /notices/{id}/proof or the `proof` query's `document`): the "
        "tree heads' signatures with the public key, the inclusion proof of the event's leaf, and the consistency "
        "proof from the earlier head (a notice's) to the later one. Reads no store. Exit 1 when it does not hold.",
    )
    proof.add_argument("file", help="the proof document (JSON)")
    proof.add_argument("--public-key", required=True, help="a public key file or `ed25519 <base64>`")
    proof.add_argument("--notice", metavar="FILE", help="the notice's Markdown: check it is the notice proved")
    proof.set_defaults(run=cmd_verify_proof)

    export = commands.add_parser(
        "export",
        help="write the whole store to one file (a backup, safe while serving)",
        description="Seals the log, writes a tree head, and writes every event as stored (with positions, topics "
        "and leaf hashes), every tree head, tokens and idempotency records to FILE, as of one position. Safe "
        "while the server runs. The views are not in it: they are rebuilt on import.",
    )
    export.add_argument("file", help="the file to write (gzip-compressed JSON Lines)")
    export.add_argument("--force", action="store_true", help="replace FILE if it exists")
    export.set_defaults(run=_portable_errors(cmd_export))

    load = commands.add_parser(
        "import",
        help="load an exported file into an empty store (a restore)",
        description="Loads FILE into the store, which must be empty, verifying the chain (and the heads' "
        "signatures, given the public key) on the way: nothing is written unless it verifies. Positions are "
        "kept exactly; the views are rebuilt.",
    )
    load.add_argument("file", help="a file written by `rectify export`")
    load.add_argument("--public-key", help="a public key file or `ed25519 <base64>` (default RECTIFY_PUBLIC_KEY)")
    load.set_defaults(run=_portable_errors(cmd_import))

    migrate = commands.add_parser(
        "migrate",
        help="copy the store into another, empty database (SQLite ⇄ PostgreSQL)",
        description="Copies the store, as of one position, into the empty database named by --to, verifying "
        "the chain on the way; positions are kept exactly and the views are rebuilt there. The source is "
        "left as it is.",
    )
    migrate.add_argument("--to", required=True, metavar="URL", help="e.g. postgresql://user@host/db?schema=rectify")
    migrate.add_argument("--public-key", help="a public key file or `ed25519 <base64>` (default RECTIFY_PUBLIC_KEY)")
    migrate.set_defaults(run=_portable_errors(cmd_migrate))
