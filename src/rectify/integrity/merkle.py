"""The RFC 6962 / RFC 9162 Merkle tree: hashes, tree heads, inclusion and consistency proofs. No I/O.

Leaf hash = SHA-256(0x00 ‖ leaf), node hash = SHA-256(0x01 ‖ left ‖ right); the tree of n leaves splits
at the largest power of two below n (RFC 6962 §2.1). Proofs are the RFC's audit paths, so anyone holding a
tree head can check them with any RFC 9162 implementation, not only this one.

Written here rather than taken from a library: the Python packages found either use a proof format of
their own that a third party's RFC 9162 verifier cannot read, or are not maintained. The module is tested
against the well-known vectors of the RFC 6962 test tree.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from hashlib import sha256

HASH_SIZE = 32
EMPTY_ROOT = sha256(b"").digest()  # MTH({}) = SHA-256() of nothing

#: MTH(D[start:end]): the root of the leaves from `start` (inclusive) to `end` (exclusive).
RangeHash = Callable[[int, int], bytes]


class ProofError(ValueError):
    """A proof that does not prove what it claims."""


def leaf_hash(leaf: bytes) -> bytes:
    return sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1): where RFC 6962 splits a tree of n leaves."""
    return 1 << ((n - 1).bit_length() - 1)


class Frontier:
    """The roots of the perfect subtrees a tree of `size` leaves decomposes into, left (largest) first.

    It is all that is needed to append a leaf and to give the tree head at any moment, in O(log n)
    hashes and space: the sealer keeps it between batches, and verification folds the whole log
    through it.
    """

    __slots__ = ("size", "roots")

    def __init__(self, size: int = 0, roots: Sequence[bytes] = ()) -> None:
        if len(roots) != size.bit_count():
            raise ValueError(f"a tree of {size} leaves has {size.bit_count()} subtree roots, not {len(roots)}")
        self.size = size
        self.roots = list(roots)

    def append(self, leaf_hash_: bytes) -> None:
        """Adds a leaf (its hash), merging the perfect subtrees it completes."""
        node, size, roots = leaf_hash_, self.size, self.roots
        while size & 1:
            node = node_hash(roots.pop(), node)
            size >>= 1
        roots.append(node)
        self.size += 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        for leaf in leaf_hashes:
            self.append(leaf)

    def root(self) -> bytes:
        """The tree head: the subtree roots folded from the right (RFC 6962's split, bottom up)."""
        if not self.roots:
            return EMPTY_ROOT
        node = self.roots[-1]
        for left in reversed(self.roots[:-1]):
            node = node_hash(left, node)
        return node

    def copy(self) -> Frontier:
        return Frontier(self.size, self.roots)

    def to_bytes(self) -> bytes:
        return b"".join(self.roots)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> Frontier:
        if len(data) % HASH_SIZE:
            raise ValueError("a frontier is a whole number of 32-byte hashes")
        return cls(size, [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Frontier) and (self.size, self.roots) == (other.size, other.roots)

    def __repr__(self) -> str:
        return f"Frontier(size={self.size}, root={self.root().hex()})"


def root_of(leaf_hashes: Iterable[bytes]) -> bytes:
    """MTH of these leaves (given as leaf hashes)."""
    frontier = Frontier()
    frontier.extend(leaf_hashes)
    return frontier.root()


def range_hash_over(leaf_hashes: Sequence[bytes]) -> RangeHash:
    """MTH of any range of a list of leaf hashes held in memory."""
    return lambda start, end: root_of(leaf_hashes[start:end])


class Subtrees:
    """MTH of any range of an append-only tree whose leaf hashes are read on demand, keeping the root of every
    aligned perfect subtree of `chunk` leaves or more once computed: those never change as the tree grows, so
    after the first proof over a tree of n leaves (n hashes) the next one costs O(log n) lookups and a few
    chunks of leaves. About 2n/chunk roots are kept (8,000 for a million leaves at the default 256)."""

    def __init__(self, chunk: int = 256) -> None:
        if chunk < 1 or chunk & (chunk - 1):
            raise ValueError("a chunk is a power of two")
        self.chunk = chunk
        self._roots: dict[tuple[int, int], bytes] = {}
        self._lock = threading.Lock()

    def range_hash(self, leaves: Callable[[int, int], Sequence[bytes]]) -> RangeHash:
        """A RangeHash over the leaf hashes `leaves(start, end)` gives."""

        def mth(start: int, end: int) -> bytes:
            n = end - start
            if n <= self.chunk and not (n == self.chunk and start % n == 0):
                return root_of(leaves(start, end))
            perfect = n & (n - 1) == 0 and start % n == 0
            if perfect:
                with self._lock:
                    kept = self._roots.get((start, n))
                if kept is not None:
                    return kept
                if n == self.chunk:
                    found = root_of(leaves(start, end))
                else:
                    half = n // 2
                    found = node_hash(mth(start, start + half), mth(start + half, end))
                with self._lock:
                    self._roots[(start, n)] = found
                return found
            k = _split(n)
            return node_hash(mth(start, start + k), mth(start + k, end))

        return mth

    def __len__(self) -> int:
        return len(self._roots)


# -- proofs --------------------------------------------------------------------------------------


def inclusion_proof(index: int, size: int, range_hash: RangeHash) -> list[bytes]:
    """PATH(index, D[size]) of RFC 6962 §2.1.1: the sibling hashes from the leaf up to the root."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index - start < k:
            path.append(range_hash(start + k, end))
            end = start + k
        else:
            path.append(range_hash(start, start + k))
            start += k
    path.reverse()  # collected top down; the RFC's path runs from the leaf up
    return path


def consistency_proof(first: int, second: int, range_hash: RangeHash) -> list[bytes]:
    """PROOF(first, D[second]) of RFC 6962 §2.1.2: that the tree of `first` leaves is a prefix of the
    tree of `second` leaves."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from a tree of {first} leaves to one of {second}")
    if first in (0, second):
        return []
    path: list[bytes] = []
    start, end, whole = 0, second, True  # SUBPROOF(m, D[start:end], whole)
    m = first
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            path.append(range_hash(start + k, end))
            end = start + k
        else:
            path.append(range_hash(start, start + k))
            start, m, whole = start + k, m - k, False
    if not whole:
        path.append(range_hash(start, end))
    path.reverse()
    return path


def _check_hashes(*hashes: bytes) -> None:
    for value in hashes:
        if len(value) != HASH_SIZE:
            raise ProofError(f"a hash is {HASH_SIZE} bytes, not {len(value)}")


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root a leaf hash and its audit path lead to (RFC 9162 §2.1.3.2)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size} leaves")
    _check_hashes(leaf, *proof)
    fn, sn, node = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            raise ProofError("the proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            node = node_hash(sibling, node)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            node = node_hash(node, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the proof is shorter than the path to the root")
    return node


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Raises ProofError unless `leaf` is leaf `index` of the tree of `size` leaves whose head is `root`."""
    _check_hashes(root)
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise ProofError(f"the proof does not lead from leaf {index} to the head of the tree of {size} leaves")


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> None:
    """Raises ProofError unless the tree of `first` leaves (head `first_root`) is a prefix of the tree of
    `second` leaves (head `second_root`), by RFC 9162 §2.1.4.2."""
    _check_hashes(first_root, second_root, *proof)
    if first > second:
        raise ProofError(f"a tree of {second} leaves cannot extend one of {first}")
    if first == second:
        if proof:
            raise ProofError("trees of the same size need an empty proof")
        if first_root != second_root:
            raise ProofError("two heads of the same size differ")
        return
    if first == 0:
        if proof:
            raise ProofError("every tree extends the empty tree: the proof must be empty")
        return
    if not proof:
        raise ProofError("the proof is empty")
    path = list(proof)
    if first & (first - 1) == 0:  # the old tree is a perfect subtree of the new: its head starts the path
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for node in path[1:]:
        if sn == 0:
            raise ProofError("the proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr = node_hash(node, fr)
            sr = node_hash(node, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, node)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the proof is shorter than the path to the root")
    if fr != first_root:
        raise ProofError(f"the proof does not lead to the head of the tree of {first} leaves")
    if sr != second_root:
        raise ProofError(f"the proof does not lead to the head of the tree of {second} leaves")
