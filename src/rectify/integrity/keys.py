"""Ed25519 keys (through `cryptography`) and the signed tree head they sign: the log's checkpoints.

A checkpoint's signed text has the shape of a transparency log checkpoint (origin, size, base64 root,
then extension lines), so that it reads the same to a person, to `rectify verify` and to a third party:

    rectify log 5b0e…            ← origin: this log's name, made once when it is first sealed
    1000000                      ← tree size (leaves)
    XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=
    position 1000571             ← the log position of the last leaf
    time 2026-03-12T08:00:00.000000+00:00

The private key lives in a file named by RECTIFY_SIGNING_KEY (PKCS#8 PEM, mode 0600); the public key is
written beside it (`.pub`) as one line, `ed25519 <base64>`, and identified by its fingerprint,
`SHA256:<base64 of the SHA-256 of the 32 key bytes>`.
"""

from __future__ import annotations

import base64
import logging
import os
import stat
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from rectify.domain.errors import RectifyError

log = logging.getLogger(__name__)

PUBLIC_PREFIX = "ed25519 "


class KeyProblem(RectifyError):
    """A key file or key text rectify cannot use."""


@dataclass(frozen=True)
class TreeHead:
    """The head of the log's tree at one size: what a checkpoint signs."""

    origin: str
    size: int
    position: int  # of the last leaf; 0 for the empty tree
    root: bytes
    signed_at: str  # ISO 8601, UTC

    def text(self) -> str:
        return (
            f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"
            f"position {self.position}\ntime {self.signed_at}\n"
        )

    def body(self) -> bytes:
        return self.text().encode("utf-8")


@dataclass(frozen=True)
class Checkpoint:
    """A tree head, signed or not (signed when a key was configured)."""

    head: TreeHead
    key_fingerprint: str | None = None
    signature: bytes | None = None

    @property
    def signed(self) -> bool:
        return self.signature is not None


class NoteProblem(RectifyError):
    """Text that is not a tree head as rectify signs and prints it."""


UNSIGNED = "— (unsigned)"


def note(checkpoint: Checkpoint) -> str:
    """A checkpoint as one text: the signed head, a blank line, and `— <key fingerprint> <base64 signature>`
    (the shape of a transparency log's signed note). Notices print it; `parse_note` reads it back."""
    if checkpoint.signature is None:
        return checkpoint.head.text() + "\n" + UNSIGNED
    signature = base64.b64encode(checkpoint.signature).decode()
    return f"{checkpoint.head.text()}\n— {checkpoint.key_fingerprint} {signature}"


def parse_head(text: str) -> TreeHead:
    lines = text.split("\n")
    if len(lines) != 6 or lines[5] != "" or not lines[3].startswith("position ") or not lines[4].startswith("time "):
        raise NoteProblem("a tree head is five lines: origin, size, base64 root, `position N`, `time T`")
    try:
        size, position = int(lines[1]), int(lines[3].removeprefix("position "))
        root = base64.b64decode(lines[2], validate=True)
    except ValueError:
        raise NoteProblem("a tree head's size and position are whole numbers and its root is base64") from None
    if len(root) != 32 or size < 0 or position < 0:
        raise NoteProblem("a tree head's root is 32 bytes, its size and position 0 or more")
    head = TreeHead(origin=lines[0], size=size, position=position, root=root, signed_at=lines[4].removeprefix("time "))
    if head.text() != text:
        raise NoteProblem("the tree head is not written as rectify writes it")
    return head


def parse_note(text: str) -> Checkpoint:
    """A checkpoint from `note`'s text (surrounding blank lines and a trailing newline are ignored)."""
    body, found, signature = text.strip("\n").rpartition("\n\n— ")
    if not found:
        raise NoteProblem("a tree head ends with a blank line and a `— ` signature line")
    head = parse_head(body + "\n")
    if "— " + signature == UNSIGNED:
        return Checkpoint(head)
    fingerprint, _, encoded = signature.partition(" ")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except ValueError:
        raise NoteProblem("the signature is not base64") from None
    if not fingerprint.startswith("SHA256:") or len(raw) != 64:
        raise NoteProblem("the signature line is `— SHA256:<fingerprint> <64 bytes of signature in base64>`")
    return Checkpoint(head, fingerprint, raw)


def fingerprint_of(raw_public: bytes) -> str:
    return "SHA256:" + base64.b64encode(sha256(raw_public).digest()).decode().rstrip("=")


class PublicKey:
    """Checks checkpoints' signatures: all a verifier holds."""

    def __init__(self, key: Ed25519PublicKey) -> None:
        self.key = key
        self.raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.fingerprint = fingerprint_of(self.raw)

    def text(self) -> str:
        return PUBLIC_PREFIX + base64.b64encode(self.raw).decode()

    def verifies(self, checkpoint: Checkpoint) -> bool:
        if checkpoint.signature is None:
            return False
        try:
            self.key.verify(checkpoint.signature, checkpoint.head.body())
        except InvalidSignature:
            return False
        return True

    @classmethod
    def parse(cls, text: str, *, source: str = "the public key") -> PublicKey:
        """`ed25519 <base64>` (as `rectify keygen` prints it) or a PEM public key."""
        text = text.strip()
        if text.startswith("-----BEGIN"):
            try:
                key = serialization.load_pem_public_key(text.encode())
            except ValueError as error:
                raise KeyProblem(f"{source}: not a PEM public key ({error})") from None
            if not isinstance(key, Ed25519PublicKey):
                raise KeyProblem(f"{source}: not an Ed25519 key")
            return cls(key)
        if not text.startswith(PUBLIC_PREFIX):
            raise KeyProblem(f"{source}: expected `ed25519 <base64>` or a PEM public key")
        try:
            raw = base64.b64decode(text[len(PUBLIC_PREFIX) :].strip(), validate=True)
            return cls(Ed25519PublicKey.from_public_bytes(raw))
        except ValueError:
            raise KeyProblem(f"{source}: not 32 bytes of Ed25519 public key in base64") from None

    @classmethod
    def load(cls, given: str) -> PublicKey:
        """From a file (`.pub`, PEM, or the private key file itself) or the key's own text."""
        path = Path(given)
        if given.strip().startswith(PUBLIC_PREFIX) or not path.exists():
            return cls.parse(given, source="the public key given")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise KeyProblem(f"{given}: cannot read the public key ({error})") from None
        if "PRIVATE KEY" in text:
            return SigningKey.load(path).public
        return cls.parse(text, source=given)


class SigningKey:
    """Signs tree heads; held only by the process that seals."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self.key = key
        self.public = PublicKey(key.public_key())

    def sign(self, head: TreeHead) -> Checkpoint:
        return Checkpoint(head, self.public.fingerprint, self.key.sign(head.body()))

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        try:
            data = path.read_bytes()
            mode = path.stat().st_mode
        except OSError as error:
            raise KeyProblem(f"RECTIFY_SIGNING_KEY: cannot read {path} ({error.strerror})") from None
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as error:
            raise KeyProblem(f"RECTIFY_SIGNING_KEY: {path} is not an unencrypted PEM private key ({error})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyProblem(f"RECTIFY_SIGNING_KEY: {path} is not an Ed25519 key (make one with `rectify keygen`)")
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("the signing key %s can be read by others (mode %o): chmod 600 it", path, mode & 0o777)
        return cls(key)


def generate(path: Path) -> SigningKey:
    """Writes a new private key to `path` (mode 0600, never over an existing file) and its public key to
    `path` + `.pub`."""
    public_path = path.with_name(path.name + ".pub")
    for existing in (path, public_path):
        if existing.exists():
            raise KeyProblem(f"{existing} exists: rectify never overwrites a key (move it away first)")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
        os.chmod(path, 0o600)  # whatever the umask made of it
        signing = SigningKey(key)
        public_path.write_text(signing.public.text() + "\n", encoding="utf-8")
    except OSError as error:
        raise KeyProblem(f"cannot write the key to {path} ({error.strerror})") from None
    return signing
