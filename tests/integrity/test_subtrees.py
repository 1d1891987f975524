"""Kept subtree roots give the same range hashes and proofs as the tree computed from all its leaves."""

from __future__ import annotations

import random
from hashlib import sha256

from rectify.integrity.merkle import Subtrees, consistency_proof, inclusion_proof, leaf_hash, range_hash_over


def test_kept_subtree_roots_give_the_same_proofs_as_all_the_leaves_and_read_less_the_second_time() -> None:
    hashes = [leaf_hash(sha256(str(i).encode()).digest()) for i in range(3000)]
    reads: list[int] = []

    def leaves(start: int, end: int) -> list[bytes]:
        reads.append(end - start)
        return hashes[start:end]

    subtrees = Subtrees(chunk=16)
    kept, whole = subtrees.range_hash(leaves), range_hash_over(hashes)
    picked = random.Random(7)
    for _ in range(60):
        size = picked.randint(1, len(hashes))
        first = picked.randint(0, size)
        index = picked.randrange(size)
        assert kept(0, size) == whole(0, size)
        assert inclusion_proof(index, size, kept) == inclusion_proof(index, size, whole)
        assert consistency_proof(first, size, kept) == consistency_proof(first, size, whole)
    assert len(subtrees) > 0
    reads.clear()
    inclusion_proof(1500, 3000, kept)
    consistency_proof(1000, 3000, kept)
    assert sum(reads) < 4 * 16  # a few chunks of leaves, not the tree
