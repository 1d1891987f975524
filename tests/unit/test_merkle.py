"""The Merkle tree against the RFC 6962 test tree's known vectors, and proofs of every shape up to 70 leaves.

The vectors are those of the RFC 6962 test tree as published with Certificate Transparency's reference
implementations (e.g. transparency-dev/merkle's testonly package and its proof generator): eight leaf
inputs, the tree head of each size, and a few audit paths.
"""

from __future__ import annotations

from hashlib import sha256

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rectify.integrity.merkle import (
    EMPTY_ROOT,
    Frontier,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    range_hash_over,
    root_of,
    verify_consistency,
    verify_inclusion,
)

LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")
]
ROOTS = {  # tree size → head
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
INCLUSION = [  # (leaf index, tree size, audit path)
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CONSISTENCY = [  # (old size, new size, proof)
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
LEAVES = [leaf_hash(data) for data in LEAF_INPUTS]


def hashes(texts: list[str]) -> list[bytes]:
    return [bytes.fromhex(t) for t in texts]


def flipped(value: bytes, bit: int = 0) -> bytes:
    return bytes([value[0] ^ (1 << bit)]) + value[1:]


def test_the_hashes_are_domain_separated_as_rfc_6962_says() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert leaf_hash(b"L123456").hex() == "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    assert node_hash(b"N123", b"N456").hex() == "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    assert leaf_hash(b"x") != sha256(b"x").digest()


@pytest.mark.parametrize("size", sorted(ROOTS))
def test_the_head_of_each_size_of_the_test_tree_is_the_published_one(size: int) -> None:
    assert root_of(LEAVES[:size]).hex() == ROOTS[size]
    grown = Frontier()
    grown.extend(LEAVES[:size])
    assert grown.root().hex() == ROOTS[size]
    assert Frontier.from_bytes(size, grown.to_bytes()) == grown


def test_the_empty_tree_has_the_hash_of_nothing_as_its_head() -> None:
    assert root_of([]) == EMPTY_ROOT == Frontier().root()


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_proofs_are_the_published_audit_paths_and_verify(index: int, size: int, path: list[str]) -> None:
    proof = inclusion_proof(index, size, range_hash_over(LEAVES))
    assert proof == hashes(path)
    verify_inclusion(index, size, LEAVES[index], proof, bytes.fromhex(ROOTS[size]))


@pytest.mark.parametrize(("first", "second", "path"), CONSISTENCY)
def test_consistency_proofs_are_the_published_ones_and_verify(first: int, second: int, path: list[str]) -> None:
    proof = consistency_proof(first, second, range_hash_over(LEAVES))
    assert proof == hashes(path)
    verify_consistency(first, second, bytes.fromhex(ROOTS[first]), bytes.fromhex(ROOTS[second]), proof)


@pytest.mark.parametrize(("index", "size", "path"), [v for v in INCLUSION if v[2]])
def test_an_inclusion_proof_fails_for_any_wrong_part(index: int, size: int, path: list[str]) -> None:
    proof, root, leaf = hashes(path), bytes.fromhex(ROOTS[size]), LEAVES[index]
    wrong = [
        (index, size, flipped(leaf), proof, root),  # another leaf
        (index ^ 1, size, leaf, proof, root),  # another index
        (index, size * 2, leaf, proof, root),  # another size
        (index, size, leaf, proof, flipped(root)),  # another head
        (index, size, leaf, proof[:-1], root),  # a hash missing
        (index, size, leaf, [*proof, proof[-1]], root),  # a hash too many
        (index, size, leaf, [flipped(proof[0]), *proof[1:]], root),  # a hash changed
        (index, size, leaf, [proof[0] + b"\x00", *proof[1:]], root),  # a hash too long
        (size, size, leaf, proof, root),  # past the end
    ]
    for case in wrong:
        with pytest.raises(ProofError):
            verify_inclusion(*case)


@pytest.mark.parametrize(("first", "second", "path"), [v for v in CONSISTENCY if v[2]])
def test_a_consistency_proof_fails_for_any_wrong_part(first: int, second: int, path: list[str]) -> None:
    proof = hashes(path)
    old, new = bytes.fromhex(ROOTS[first]), bytes.fromhex(ROOTS[second])
    wrong = [
        (first, second, flipped(old), new, proof),
        (first, second, old, flipped(new), proof),
        (first, second, new, old, proof),  # heads swapped
        (first + 1, second, old, new, proof),
        (first, second * 2, old, new, proof),
        (first, second // 2, old, new, proof),
        (first, second, old, new, proof[:-1]),
        (first, second, old, new, [*proof, proof[0]]),
        (first, second, old, new, [flipped(h) if i == len(proof) // 2 else h for i, h in enumerate(proof)]),
        (first, second, old, new, []),
        (second, first, new, old, proof),  # shrinking
    ]
    for case in wrong:
        with pytest.raises(ProofError):
            verify_consistency(*case)


def test_equal_sizes_and_the_empty_tree_are_the_edge_cases_rfc_9162_names() -> None:
    one = bytes.fromhex(ROOTS[1])
    verify_consistency(1, 1, one, one, [])
    verify_consistency(0, 5, EMPTY_ROOT, bytes.fromhex(ROOTS[5]), [])
    for case in [(1, 1, one, flipped(one), []), (1, 1, one, one, [one]), (0, 5, EMPTY_ROOT, one, [one])]:
        with pytest.raises(ProofError):
            verify_consistency(*case)


@given(st.integers(min_value=1, max_value=70), st.data())
def test_every_proof_of_trees_up_to_70_leaves_verifies_and_names_its_own_leaf_only(size: int, data) -> None:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    heads = [root_of(leaves[:n]) for n in range(size + 1)]
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    proof = inclusion_proof(index, size, range_hash_over(leaves))
    verify_inclusion(index, size, leaves[index], proof, heads[size])
    other = data.draw(
        st.integers(min_value=0, max_value=size - 1).filter(lambda i: i != index) if size > 1 else st.none()
    )
    if other is not None:
        with pytest.raises(ProofError):
            verify_inclusion(index, size, leaves[other], proof, heads[size])
    first = data.draw(st.integers(min_value=1, max_value=size))
    path = consistency_proof(first, size, range_hash_over(leaves))
    verify_consistency(first, size, heads[first], heads[size], path)
    if first < size:
        changed = [*leaves[: first - 1], leaf_hash(b"forged")]  # the old tree's last leaf rewritten
        with pytest.raises(ProofError):
            verify_consistency(first, size, root_of(changed), heads[size], path)
