"""Evidence files in portable copies (rectify.integrity.portable): read from a store's snapshot, written to and read
from an export file, and loaded into an empty store in the import's transaction, each file's bytes checked
against the SHA-256 that names it (and that the events, sealed in the log's hash chain, carry).

In the file, after the events, each stored file is one line and its chunks follow it:

    {"k": "file", "sha256": "<hex>", "size": 123, "media_type": "image/jpeg", "stored_at": "…", "chunks": 2}
    {"k": "chunk", "d": "<base64 of the chunk>"}
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rectify.domain.errors import RectifyError
from rectify.evidence.store import PostgresFileStore, SQLiteFileStore, tables

FIELDS = {
    "file": "an evidence file (佐证材料): its SHA-256, size, media type, when it was stored, and how many chunk "
    "lines follow it",
    "chunk": "the next chunk of the file above (base64), in order",
}


class FileRefused(RectifyError):
    """A copy's file does not hash to its name: nothing was loaded."""


@dataclass
class FileCopy:
    sha256: str
    size: int
    media_type: str
    stored_at: str
    chunks: list[bytes]  # one file at a time is held, never the whole store's

    def check(self) -> None:
        digest = hashlib.sha256()
        for chunk in self.chunks:
            digest.update(chunk)
        size = sum(len(c) for c in self.chunks)
        if digest.hexdigest() != self.sha256 or size != self.size:
            raise FileRefused(
                f"nothing imported: the evidence file {self.sha256} in the copy does not hash to its name "
                f"({size} bytes hash to {digest.hexdigest()})"
            )


def files_in(reader: Any) -> Iterator[FileCopy]:
    """Every stored file, from an integrity Reader's snapshot (the same snapshot as the events it copies)."""
    if not reader.has_table("rectify_files"):
        return
    listed = reader._execute(
        "SELECT file_id, sha256, size, media_type, stored_at FROM rectify_files "
        "WHERE sha256 NOT LIKE 'pending-%' ORDER BY sha256"
    ).fetchall()
    for file_id, sha256, size, media_type, stored_at in listed:
        rows = reader._execute(
            "SELECT data FROM rectify_file_chunks WHERE file_id = ? ORDER BY seq", (int(file_id),)
        ).fetchall()
        yield FileCopy(sha256, int(size), media_type, stored_at, [bytes(data) for (data,) in rows])


def lines(copy: FileCopy) -> list[str]:
    """The export file's lines of one file."""
    head = (
        f'{{"k":"file","sha256":"{copy.sha256}","size":{copy.size},"media_type":"{copy.media_type}",'
        f'"stored_at":"{copy.stored_at}","chunks":{len(copy.chunks)}}}\n'
    )
    return [head, *(f'{{"k":"chunk","d":"{base64.b64encode(c).decode("ascii")}"}}\n' for c in copy.chunks)]


def from_record(record: dict[str, Any], chunk_records: Iterator[dict[str, Any]]) -> FileCopy:
    """A file from its line and the chunk lines that follow it (ValueError for anything else)."""
    chunks = []
    for _ in range(int(record["chunks"])):
        chunk = next(chunk_records, None)
        if chunk is None or chunk.get("k") != "chunk":
            found = "the end of the file" if chunk is None else repr(chunk.get("k"))
            raise ValueError(f"expected a chunk of file {record['sha256']}, found {found}")
        chunks.append(base64.b64decode(chunk["d"], validate=True))
    sha256 = str(record["sha256"])
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"{sha256!r} is not a SHA-256")
    return FileCopy(sha256, int(record["size"]), str(record["media_type"]), str(record["stored_at"]), chunks)


def insert(writer: Any, kind: str, copy: FileCopy) -> None:
    """Loads one file in the import's transaction, after checking its bytes against its name."""
    copy.check()
    store = SQLiteFileStore if kind == "sqlite" else PostgresFileStore
    for statement in tables(store.blob, store.key):
        writer._execute(statement)
    found = writer._execute(
        "INSERT INTO rectify_files (sha256, size, media_type, stored_at) VALUES (?, ?, ?, ?) RETURNING file_id",
        (copy.sha256, copy.size, copy.media_type, copy.stored_at),
    ).fetchone()
    for seq, data in enumerate(copy.chunks):
        writer._execute(
            "INSERT INTO rectify_file_chunks (file_id, seq, data) VALUES (?, ?, ?)", (int(found[0]), seq, data)
        )
