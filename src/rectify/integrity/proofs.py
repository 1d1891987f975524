"""Inclusion and consistency proofs of the log, as one JSON document anyone can check offline with the public key.

A proof document (format `rectify-proof/1`) holds:

- `head`: the signed tree head it proves against (the note text of `keys.note`: the head, then the signature);
- `leaf`: an event's leaf, as its position, index and leaf input (hex; `leaves.leaf_input`), or null;
- `inclusion`: the audit path (RFC 9162 §2.1.3) from that leaf to `head`;
- `from`: an earlier signed head (a notice's), or null; `consistency`: the proof (RFC 9162 §2.1.4) that the
  tree of `from` is a prefix of the tree of `head`: the log has only grown since;
- `notice`: for a notice's proof, its id, digest, position and template version.

What a proof reveals. The hashes on an audit path are leaf hashes and subtree roots of other events, internal
ones among them. A leaf hash is SHA-256 over an input holding the digest of the event's stored bytes, whose
record time (to the microsecond) and random ids cannot be guessed, so a hash tells nothing of its event. A
tree size or leaf index tells how many events came before, which the position a caller is shown already
tells. The leaf input itself (aggregate id, version, event type, record time) is given only for an event the
caller may see (`rectify.queries` decides, by the read policy), never for another.

Proofs are computed from the stored leaf hashes through the sealer's kept subtree roots (`merkle.Subtrees`):
the first proof over n leaves reads and hashes them all, later ones a few chunks (docs/benchmarks.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any

from rectify.domain.errors import RectifyError
from rectify.integrity import keys
from rectify.integrity.leaves import LEAF_HEAD, Undecodable, leaf_input, record_facts
from rectify.integrity.merkle import (
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from rectify.integrity.sealer import Sealer

FORMAT = "rectify-proof/1"


class ProofUnavailable(RectifyError):
    """No proof can be made: the position is not sealed, or the stored leaves do not give the head."""


@dataclass(frozen=True)
class NoticeRef:
    notice_id: str
    sha256: str
    position: int
    template_version: str


@dataclass(frozen=True)
class Proof:
    """A proof document (see the module's doc); `document()` is its JSON form."""

    head: keys.Checkpoint
    leaf_position: int | None
    leaf_index: int | None
    leaf_input: bytes | None
    inclusion: tuple[bytes, ...]
    first: keys.Checkpoint | None
    consistency: tuple[bytes, ...]
    notice: NoticeRef | None = None

    # What GraphQL reads (rectify.graphql.types.Proof).
    @property
    def head_note(self) -> str:
        return keys.note(self.head)

    @property
    def size(self) -> int:
        return self.head.head.size

    @property
    def leaf_input_hex(self) -> str | None:
        return None if self.leaf_input is None else self.leaf_input.hex()

    @property
    def inclusion_hex(self) -> list[str]:
        return [h.hex() for h in self.inclusion]

    @property
    def from_note(self) -> str | None:
        return None if self.first is None else keys.note(self.first)

    @property
    def consistency_hex(self) -> list[str]:
        return [h.hex() for h in self.consistency]

    @property
    def document(self) -> dict[str, Any]:
        leaf = None
        if self.leaf_input is not None:
            leaf = {
                "position": self.leaf_position,
                "index": self.leaf_index,
                "input": self.leaf_input.hex(),
                "hash": leaf_hash(self.leaf_input).hex(),
            }
        return {
            "format": FORMAT,
            "origin": self.head.head.origin,
            "head": keys.note(self.head),
            "leaf": leaf,
            "inclusion": [h.hex() for h in self.inclusion],
            "from": keys.note(self.first) if self.first is not None else None,
            "consistency": [h.hex() for h in self.consistency],
            "notice": None if self.notice is None else vars(self.notice),
        }


def make_proof(
    sealer: Sealer,
    *,
    target: int,
    leaf_at: int | None = None,
    first: keys.Checkpoint | None = None,
    first_at: int | None = None,
    notice: NoticeRef | None = None,
) -> Proof:
    """Proofs against the signed head at position `target` (written now if none was at its size): of the leaf
    of the event at `leaf_at`, and of consistency from `first` (or from the head at `first_at`) to it.

    Raises ProofUnavailable when there is no sealed event at `leaf_at`, or the stored leaves do not give the
    heads (a damaged log: `rectify verify` says where)."""
    head = sealer.head_at(target)
    if first is None and first_at is not None:
        first = sealer.head_at(first_at)
    size = head.head.size
    with sealer.store.snapshot() as reader:
        index: int | None = None
        stored_input: bytes | None = None
        if leaf_at is not None:
            index = reader.first_leaf_at_or_after(leaf_at, size)
            leaf = reader.leaf(index) if index < size else None
            event = reader.event_at(leaf_at)
            if leaf is None or leaf.position != leaf_at or event is None:
                raise ProofUnavailable(f"position {leaf_at} holds no sealed event")
            try:  # the leaf as the event stands now: an edit since it was sealed shows here
                recorded_at, _ = record_facts(event.state)
            except Undecodable as error:
                raise ProofUnavailable(
                    f"the log is damaged at position {leaf_at} ({error}): run `rectify verify`"
                ) from None
            stored_input = leaf_input(
                leaf.position, event.aggregate_id, event.version, recorded_at, event.topic, sha256(event.state).digest()
            )
            if leaf_hash(stored_input) != leaf.hash:
                raise ProofUnavailable(f"the log is damaged at position {leaf_at}: run `rectify verify`")
        range_hash = sealer.subtrees.range_hash(reader.leaf_hash_range)
        if size and range_hash(0, size) != head.head.root:
            raise ProofUnavailable(f"the stored leaves do not give the tree head of size {size}: run `rectify verify`")
        path = tuple(inclusion_proof(index, size, range_hash)) if index is not None else ()
        consistency: tuple[bytes, ...] = ()
        if first is not None:
            if first.head.size > size:
                raise ProofUnavailable(f"the head of size {first.head.size} is later than the head proved against")
            if first.head.size and first.head.root != range_hash(0, first.head.size):
                raise ProofUnavailable(
                    f"the stored leaves do not give the tree head of size {first.head.size}: run `rectify verify`"
                )
            consistency = tuple(consistency_proof(first.head.size, size, range_hash))
    return Proof(head, leaf_at if index is not None else None, index, stored_input, path, first, consistency, notice)


# -- checking, with only the public key -----------------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    """What a proof document was found to prove."""

    lines: tuple[str, ...]


def _hashes(values: Any, name: str) -> list[bytes]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ProofError(f"{name}: a list of hex hashes")
    try:
        return [bytes.fromhex(v) for v in values]
    except ValueError:
        raise ProofError(f"{name}: not hex") from None


def _signed(text: Any, name: str, key: keys.PublicKey) -> keys.Checkpoint:
    if not isinstance(text, str):
        raise ProofError(f"{name}: a signed tree head (text)")
    try:
        checkpoint = keys.parse_note(text)
    except keys.NoteProblem as error:
        raise ProofError(f"{name}: {error}") from None
    if not checkpoint.signed:
        raise ProofError(f"{name}: the tree head is not signed, so nothing vouches for it")
    if checkpoint.key_fingerprint != key.fingerprint:
        raise ProofError(f"{name}: signed by {checkpoint.key_fingerprint}, not by the key given ({key.fingerprint})")
    if not key.verifies(checkpoint):
        raise ProofError(f"{name}: the signature does not verify with {key.fingerprint}")
    return checkpoint


def check_document(document: Any, key: keys.PublicKey, *, notice_text: str | None = None) -> Checked:
    """Checks a proof document with the public key alone; raises ProofError naming what does not hold.

    With `notice_text` (a notice's Markdown), also that it is the notice the proof names (its SHA-256) and
    that the head it prints is the proof's `from`."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ProofError(f"not a proof document ({FORMAT})")
    head = _signed(document.get("head"), "head", key).head
    lines = [
        f"tree head of size {head.size} (position {head.position}, {head.signed_at}): "
        f"signature good ({key.fingerprint})"
    ]
    leaf = document.get("leaf")
    if leaf is not None:
        if (
            not isinstance(leaf, dict)
            or not isinstance(leaf.get("index"), int)
            or not isinstance(leaf.get("input"), str)
        ):
            raise ProofError("leaf: an object with index, position and input")
        try:
            given = bytes.fromhex(leaf["input"])
        except ValueError:
            raise ProofError("leaf: the input is not hex") from None
        if len(given) < LEAF_HEAD.size + 32 or LEAF_HEAD.unpack_from(given)[1] != leaf.get("position"):
            raise ProofError("leaf: the input does not hold the position given")
        verify_inclusion(
            leaf["index"], head.size, leaf_hash(given), _hashes(document.get("inclusion"), "inclusion"), head.root
        )
        lines.append(f"the event at position {leaf['position']} (leaf {leaf['index']}) is in that tree")
    first_text = document.get("from")
    if first_text is not None:
        first = _signed(first_text, "from", key).head
        if first.origin != head.origin:
            raise ProofError(f"from: a head of another log ({first.origin!r})")
        verify_consistency(
            first.size, head.size, first.root, head.root, _hashes(document.get("consistency"), "consistency")
        )
        lines.append(
            f"the tree of size {first.size} (position {first.position}) is a prefix of it: the log has only grown since"
        )
    if notice_text is not None:
        notice = document.get("notice")
        if not isinstance(notice, dict):
            raise ProofError("the proof names no notice")
        if sha256(notice_text.encode("utf-8")).hexdigest() != notice.get("sha256"):
            raise ProofError(f"the notice text is not notice {notice.get('notice_id')} (its SHA-256 differs)")
        if not isinstance(first_text, str) or first_text.strip("\n") not in notice_text:
            raise ProofError("the notice does not print the tree head the proof starts from")
        lines.append(f"the notice text is notice {notice.get('notice_id')} and prints that earlier head")
    if leaf is None and first_text is None:
        raise ProofError("the document proves nothing: it has neither a leaf nor an earlier head")
    return Checked(tuple(lines))


def read_document(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ProofError(f"{path}: cannot read it ({error.strerror})") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise ProofError(f"{path}: not JSON ({error})") from None
