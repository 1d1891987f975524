"""Portable copies of a store: export to one self-describing file, import into an empty store, migrate.

What travels is everything in a store that cannot be rebuilt: every event exactly as stored (units,
rounds, findings, access tokens and idempotency records are all events), at its position, with its
topic and leaf hash, the log's origin and seal, and every tree head with its signature. The views do
not travel: they are rebuilt on arrival. Positions are kept exactly, PostgreSQL's gaps included, so a
published notice's position, hash and tree head mean the same after any move.

The file is gzip-compressed JSON Lines, in this order:

    {"format": "rectify-export", "version": 1, …, "fields": {…}}     the header: what follows, and how
    {"k": "checkpoint", "size": …, "root": "<base64>", …}            every tree head, oldest first
    {"k": "e", "p": 17, "id": "<uuid hex>", "v": 3, "t": "<topic>", "s": "<base64 of the stored bytes>",
     "l": "<base64 leaf hash>"}                                      every event, in position order
    {"k": "file", "sha256": "<hex>", …, "chunks": 2}, {"k": "chunk", …}  every evidence file (version 2 on;
                                                                     see rectify.evidence.portable)
    {"k": "end", "events": …, "files": …, "types": {…}}              the trailer: a copy cut short shows

An import reads the file once: the events go into the empty store inside one transaction while their
leaves are recomputed and held against the file's leaf hashes and the signed heads, and the transaction
commits only if the whole chain verifies. A migration is the same stream, read from one store's snapshot
instead of a file.
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from binascii import a2b_base64
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from rectify.domain.errors import RectifyError
from rectify.evidence import portable as evidence_files
from rectify.evidence.portable import FileCopy
from rectify.integrity.keys import Checkpoint, PublicKey, TreeHead
from rectify.integrity.leaves import LEAF_FORMAT, StoredEvent, Undecodable, record_facts, seal_all
from rectify.integrity.merkle import Frontier
from rectify.integrity.store import LogStore, SealState, frontier_of
from rectify.integrity.verify import HeadCheck, Problem, Report
from rectify.projections.fold import paused_garbage_collection

FORMAT = "rectify-export"
VERSION = 2  # 2: the evidence files follow the events
READABLE = (1, 2)
BATCH = 10_000
FIELDS = {
    "p": "the event's log position",
    "id": "the aggregate id (UUID, hex)",
    "v": "the aggregate version",
    "t": "the topic (module:Class of the event)",
    "s": "the stored bytes (base64), exactly as stored",
    "l": "the leaf hash (base64); absent for events not yet sealed",
}


#: A copy as a stream: its Header first, then each event with its leaf hash (None when not yet sealed), then each
#: evidence file.
Records = Generator["Header | tuple[StoredEvent, bytes | None] | FileCopy", None, None]


class PortableProblem(RectifyError):
    """A copy that cannot be written, read or loaded."""


class ChainRefused(RectifyError):
    """The copy's chain does not verify: nothing was loaded."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(f"nothing imported: {problem}")
        self.problem = problem


@dataclass
class Header:
    origin: str
    position: int  # the log's head as of the copy
    events: int
    seal: SealState
    checkpoints: list[Checkpoint]
    source: str = ""
    exported_at: str = ""


@dataclass
class Moved:
    """What a load wrote."""

    events: int = 0
    sealed: int = 0
    unsealed: int = 0
    head: int = 0
    checkpoints: int = 0
    signatures: int = 0
    unsigned: int = 0
    types: Counter[str] = field(default_factory=Counter)
    root: bytes = b""
    files: int = 0


# -- reading a store -----------------------------------------------------------------------------------


def read_store(store: LogStore) -> Records:
    """The store as of one snapshot: the header, then each event (with its leaf hash when sealed)."""
    with store.snapshot() as reader:
        seal_state = reader.seal_state()
        if seal_state is None:
            raise PortableProblem("the store was never sealed: run `rectify seal` first")
        if seal_state.frontier is None:
            raise PortableProblem("the seal's tracking row is damaged: run `rectify verify`")
        yield Header(
            origin=seal_state.origin,
            position=reader.head(),
            events=reader.count_events(),
            seal=seal_state,
            checkpoints=[c for c in reader.checkpoints() if c.head.size <= seal_state.size],
            source=store.database.kind,
            exported_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        leaves = reader.leaves(0)
        for event in reader.events(0):
            if event.position <= seal_state.position:
                leaf = next(leaves, None)
                if leaf is None or leaf.position != event.position:
                    raise PortableProblem(
                        f"position {event.position}: the store does not verify here; run `rectify verify` "
                        "(a copy is made of a log that verifies)"
                    )
                yield event, leaf.hash
            else:
                yield event, None
        yield from evidence_files.files_in(reader)


# -- the file -------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def write_file(path: Path, records: Records) -> Moved:
    """Writes the records to `path` (through a temporary file, renamed when complete)."""
    partial = path.with_name(path.name + ".partial")
    moved = Moved()
    topics: dict[str, str] = {}
    try:
        with gzip.open(partial, "wb", compresslevel=1) as out, paused_garbage_collection():
            header = next(records)
            assert isinstance(header, Header)
            out.write(_json_line(_header_record(header)))
            for checkpoint in header.checkpoints:
                out.write(_json_line(_checkpoint_record(checkpoint)))
            lines: list[str] = []
            for record in records:
                if isinstance(record, FileCopy):
                    out.write("".join(lines).encode("utf-8"))
                    lines.clear()
                    out.write("".join(evidence_files.lines(record)).encode("ascii"))
                    moved.files += 1
                    continue
                assert isinstance(record, tuple)
                event, leaf = record
                topic = topics.get(event.topic) or topics.setdefault(event.topic, json.dumps(event.topic))
                tail = f',"l":"{_b64(leaf)}"}}\n' if leaf is not None else "}\n"
                lines.append(
                    f'{{"k":"e","p":{event.position},"id":"{event.aggregate_id.hex()}","v":{event.version},'
                    f'"t":{topic},"s":"{_b64(event.state)}"{tail}'
                )
                moved.events += 1
                moved.types[event.type] += 1
                if leaf is not None:
                    moved.sealed += 1
                if len(lines) >= BATCH:
                    out.write("".join(lines).encode("utf-8"))
                    lines.clear()
            out.write("".join(lines).encode("utf-8"))
            trailer = {"k": "end", "events": moved.events, "files": moved.files}
            out.write(_json_line({**trailer, "types": dict(sorted(moved.types.items()))}))
        partial.replace(path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise PortableProblem(f"cannot write {path}: {error.strerror or error}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        records.close()  # ends the source's snapshot (its transaction) even when writing failed
    moved.unsealed = moved.events - moved.sealed
    moved.checkpoints = len(header.checkpoints)
    moved.head = header.position
    moved.root = frontier_of(header.seal).root()
    return moved


def _json_line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def _header_record(header: Header) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "leaf_format": LEAF_FORMAT,
        "exported_at": header.exported_at,
        "source": header.source,
        "origin": header.origin,
        "position": header.position,
        "events": header.events,
        "checkpoints": len(header.checkpoints),
        "seal": {
            "size": header.seal.size,
            "position": header.seal.position,
            "frontier": [_b64(r) for r in frontier_of(header.seal).roots],
        },
        "contains": "every event as stored (units, rounds, findings, access tokens, idempotency records) at its "
        "position, with its topic and leaf hash; every tree head; every evidence file; not the views, which are "
        "rebuilt on import",
        "fields": {**FIELDS, **evidence_files.FIELDS},
    }


def _checkpoint_record(checkpoint: Checkpoint) -> dict[str, Any]:
    head = checkpoint.head
    return {
        "k": "checkpoint",
        "size": head.size,
        "position": head.position,
        "root": _b64(head.root),
        "origin": head.origin,
        "signed_at": head.signed_at,
        "key": checkpoint.key_fingerprint,
        "signature": None if checkpoint.signature is None else _b64(checkpoint.signature),
    }


def read_file(path: Path) -> Records:
    """The records of an export file; PortableProblem (naming the line) for anything that is not one."""
    try:
        source = gzip.open(path, "rb")
    except OSError as error:
        raise PortableProblem(f"cannot read {path}: {error.strerror or error}") from None
    line_number = 0
    try:
        with source:
            lines = iter(source)
            line_number = 1
            header_record = _record(next(lines, b""), path, 1)
            if header_record.get("format") != FORMAT:
                raise PortableProblem(f"{path} is not a rectify export (no rectify-export header)")
            if header_record.get("version") not in READABLE or header_record.get("leaf_format") != LEAF_FORMAT:
                raise PortableProblem(
                    f"{path} is a rectify export of version {header_record.get('version')}, "
                    f"leaf format {header_record.get('leaf_format')}; this rectify reads version {VERSION}"
                )
            checkpoints = []
            for _ in range(int(header_record["checkpoints"])):
                line_number += 1
                checkpoints.append(_checkpoint(_record(next(lines, b""), path, line_number)))
            yield _header(header_record, checkpoints)
            events = files = 0

            def following() -> Iterator[dict[str, Any]]:
                nonlocal line_number
                for raw in lines:
                    line_number += 1
                    yield _record(raw, path, line_number)

            records = following()
            for record in records:
                kind = record.get("k")
                if kind == "file":
                    files += 1
                    yield evidence_files.from_record(record, records)
                    continue
                if kind == "end":
                    if record.get("events") != events or record.get("files", 0) != files:
                        raise PortableProblem(
                            f"{path}: the trailer counts {record.get('events')} events and {record.get('files', 0)} "
                            f"files, read {events} and {files}"
                        )
                    if next(lines, None) is not None:
                        raise PortableProblem(f"{path}: line {line_number + 1}: something follows the trailer")
                    return
                if kind != "e":
                    raise PortableProblem(f"{path}: line {line_number}: expected an event, found {kind!r}")
                event = StoredEvent(
                    int(record["p"]), bytes.fromhex(record["id"]), int(record["v"]), record["t"],
                    _unb64(record["s"]),
                )  # fmt: skip
                if len(event.aggregate_id) != 16:
                    raise ValueError("an aggregate id is 16 bytes")
                events += 1
                leaf = record.get("l")
                yield event, None if leaf is None else _unb64(leaf)
            raise PortableProblem(f"{path} ends without its trailer: the copy was cut short")
    except PortableProblem:
        raise
    except (OSError, EOFError, zlib.error) as error:
        raise PortableProblem(f"{path}: line {line_number}: the file is damaged ({error})") from None
    except (KeyError, ValueError, TypeError) as error:
        raise PortableProblem(f"{path}: line {line_number}: not a record of a rectify export ({error!r})") from None


def _unb64(text: str) -> bytes:
    return a2b_base64(text, strict_mode=True)  # base64.b64decode(validate=True) without its two Python layers


def _record(raw: bytes, path: Path, line: int) -> dict[str, Any]:
    if not raw:
        raise PortableProblem(f"{path}: line {line}: the file ends too early")
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise PortableProblem(f"{path}: line {line}: not JSON") from None
    if not isinstance(record, dict):
        raise PortableProblem(f"{path}: line {line}: not a JSON object")
    return record


def _header(record: dict[str, Any], checkpoints: list[Checkpoint]) -> Header:
    seal_record = record["seal"]
    roots = [base64.b64decode(r, validate=True) for r in seal_record["frontier"]]
    seal_state = SealState(
        record["origin"],
        int(seal_record["size"]),
        int(seal_record["position"]),
        Frontier(int(seal_record["size"]), roots),
    )
    return Header(
        origin=record["origin"],
        position=int(record["position"]),
        events=int(record["events"]),
        seal=seal_state,
        checkpoints=checkpoints,
        source=str(record.get("source", "")),
        exported_at=str(record.get("exported_at", "")),
    )


def _checkpoint(record: dict[str, Any]) -> Checkpoint:
    if record.get("k") != "checkpoint":
        raise ValueError("expected a tree head")
    head = TreeHead(
        origin=record["origin"],
        size=int(record["size"]),
        position=int(record["position"]),
        root=base64.b64decode(record["root"], validate=True),
        signed_at=record["signed_at"],
    )
    signature = record.get("signature")
    return Checkpoint(
        head, record.get("key"), None if signature is None else base64.b64decode(signature, validate=True)
    )


# -- loading into a store --------------------------------------------------------------------------------


def load(
    records: Records,
    store: LogStore,
    *,
    key: PublicKey | None = None,
    progress: Callable[[int], None] | None = None,
) -> Moved:
    """Loads a copy into an empty store, verifying its chain on the way; commits only if it verifies.

    Raises PortableProblem when the store is not empty, ChainRefused when the chain does not verify.
    """
    with closing(records), paused_garbage_collection():  # closing: ends the source's snapshot whatever happens
        return _load(records, store, key, progress)


def _load(records: Records, store: LogStore, key: PublicKey | None, progress: Callable[[int], None] | None) -> Moved:
    header = next(records)
    assert isinstance(header, Header)
    store.setup()
    arrival = _Arrival(header, key)
    with store.writing() as writer:
        writer.lock_events()
        found = writer.count_events()
        if found or writer.count_integrity_rows():
            raise PortableProblem(
                f"the target store is not empty ({found} events): import only into an empty store (a fresh SQLite "
                "file or PostgreSQL schema)"
            )
        problem = arrival.heads.start()
        batch: list[tuple[StoredEvent, bytes | None]] = []
        for record in records:
            if isinstance(record, FileCopy):  # after every event: the batch of events goes in first
                problem = problem or arrival.take(batch, writer, progress)
                batch = []
                if problem:
                    break
                evidence_files.insert(writer, store.database.kind, record)
                arrival.moved.files += 1
                continue
            assert isinstance(record, tuple)
            batch.append(record)
            if len(batch) >= BATCH:
                problem = problem or arrival.take(batch, writer, progress)
                batch = []
            if problem:
                break
        problem = problem or arrival.take(batch, writer, progress) or arrival.finish()
        if problem is not None:
            raise ChainRefused(problem)
        heads = arrival.heads
        writer.insert_checkpoints(header.checkpoints)
        writer.save_seal(SealState(header.origin, heads.frontier.size, arrival.sealed_position, heads.frontier))
        writer.continue_positions()
    moved = arrival.moved
    moved.signatures, moved.unsigned, moved.root = (
        arrival.report.signatures,
        arrival.report.unsigned,
        heads.frontier.root(),
    )
    return moved


class _Arrival:
    """A copy's events checked batch by batch as they are written: in position order, sealed ones first,
    each sealed one matching its leaf hash, the tree matching every head, the rest decoding."""

    def __init__(self, header: Header, key: PublicKey | None) -> None:
        self.header = header
        self.report = Report()
        self.heads = HeadCheck(header.checkpoints, key, header.origin, self.report)
        self.moved = Moved(head=header.position, checkpoints=len(header.checkpoints))
        self.previous = 0
        self.sealed_position = 0

    def take(self, batch: list[tuple[StoredEvent, bytes | None]], writer: Any, progress: Any) -> Problem | None:
        sealed = []
        for event, expected in batch:
            if event.position <= self.previous:
                return Problem(event.position, "reordered", f"it follows position {self.previous} in the copy")
            self.previous = event.position
            if expected is not None:
                if self.moved.unsealed:
                    return Problem(event.position, "inserted", "a sealed event follows unsealed ones in the copy")
                sealed.append(event)
            else:
                self.moved.unsealed += 1
            self.moved.types[event.type] += 1
        try:
            leaves = seal_all(self.heads.frontier.size, sealed)
        except Undecodable as error:
            return Problem(sealed[len(error.leaves)].position, "edited", f"the stored bytes do not decode: {error}")
        for leaf, (event, expected) in zip(leaves, batch, strict=False):
            if leaf.hash != expected:
                return Problem(
                    event.position, "edited", f"{event.type} (version {event.version}) does not match its leaf hash"
                )
            problem = self.heads.add(leaf.hash, event.position)
            if problem:
                return problem
        for event, _ in batch[len(leaves) :]:
            try:
                record_facts(event.state)
            except Undecodable as error:
                return Problem(event.position, "undecodable", f"not sealed, and {error}")
        if leaves:
            self.sealed_position = leaves[-1].position
        self.moved.sealed += len(leaves)
        writer.insert_events([event for event, _ in batch])
        writer.insert_leaves(leaves)
        self.moved.events += len(batch)
        if progress and batch:
            progress(batch[-1][0].position)
        return None

    def finish(self) -> Problem | None:
        if self.moved.events != self.header.events:
            return Problem(self.previous + 1, "missing", f"the copy says it holds {self.header.events} events, "
                           f"it holds {self.moved.events}")  # fmt: skip
        return self.heads.finish(self.sealed_position) or _seal_matches(
            self.header, self.heads.frontier, self.sealed_position
        )


def _seal_matches(header: Header, frontier: Frontier, position: int) -> Problem | None:
    if header.seal.size != frontier.size or header.seal.position != position or header.seal.frontier != frontier:
        return Problem(
            position + 1,
            "missing",
            f"the copy's seal counts {header.seal.size} sealed events up to position {header.seal.position}; the "
            f"events in it make {frontier.size} up to position {position}",
        )
    return None
