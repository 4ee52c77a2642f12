"""Tests for ra.events.merkle: RFC 6962 vectors, a naive reference, and forged proofs."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ra.events.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    Frontier,
    MerkleError,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

# --------------------------------------------------------------------------- test data

# RFC 6962 test vectors, as published in Google's certificate-transparency and
# trillian test data.
VECTOR_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
VECTOR_HASHES = [leaf_hash(d) for d in VECTOR_LEAVES]
VECTOR_ROOTS = [
    bytes.fromhex(h)
    for h in (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]


def _hashes(*hexes: str) -> list[bytes]:
    return [bytes.fromhex(h) for h in hexes]


INCLUSION_VECTORS = [
    (
        0,
        _hashes(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        5,
        _hashes(
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
]

CONSISTENCY_VECTORS = [
    (1, 1, []),
    (
        1,
        8,
        _hashes(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        6,
        8,
        _hashes(
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (
        2,
        5,
        _hashes(
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
]

# Distinct, deterministic leaves for trees larger than the vectors.
LEAVES = [leaf_hash(i.to_bytes(4, "big")) for i in range(3000)]


# --------------------------------------------------------------------------- reference
# A deliberately naive transcription of the RFC 6962 §2.1 definitions, recursive
# and slow, used as an oracle independent of the module's iterative code.


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    if len(d) == 0:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], whole: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if whole else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return ref_subproof(m, d[:k], whole) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


def ref_proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


def flip(value: bytes, bit: int = 0) -> bytes:
    """Return ``value`` with one bit inverted."""
    out = bytearray(value)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


# --------------------------------------------------------------------------- hashing


def test_error_hierarchy() -> None:
    assert issubclass(ProofError, MerkleError)
    assert issubclass(MerkleError, ValueError)


def test_constants() -> None:
    assert HASH_SIZE == 32
    assert EMPTY_ROOT == VECTOR_ROOTS[0]


def test_leaf_hash_uses_zero_prefix() -> None:
    assert leaf_hash(b"") == VECTOR_ROOTS[1]
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()


def test_node_hash_uses_one_prefix() -> None:
    left, right = VECTOR_HASHES[0], VECTOR_HASHES[1]
    assert node_hash(left, right) == VECTOR_ROOTS[2]
    assert node_hash(right, left) != VECTOR_ROOTS[2]


@pytest.mark.parametrize(("left", "right"), [(b"\x00" * 31, b"\x00" * 32), (b"\x00" * 32, b"")])
def test_node_hash_rejects_wrong_length(left: bytes, right: bytes) -> None:
    with pytest.raises(MerkleError, match="32 bytes"):
        node_hash(left, right)


@pytest.mark.parametrize("size", range(len(VECTOR_ROOTS)))
def test_root_vectors(size: int) -> None:
    assert root(VECTOR_HASHES[:size]) == VECTOR_ROOTS[size]


@pytest.mark.parametrize("size", range(0, 300))
def test_root_matches_reference(size: int) -> None:
    assert root(LEAVES[:size]) == ref_mth(LEAVES[:size])


@given(st.lists(st.binary(max_size=20), max_size=70))
def test_root_matches_reference_on_arbitrary_data(data: list[bytes]) -> None:
    hashes = [leaf_hash(d) for d in data]
    assert root(hashes) == ref_mth(hashes)


def test_root_accepts_a_tuple() -> None:
    assert root(tuple(VECTOR_HASHES)) == VECTOR_ROOTS[8]


@pytest.mark.parametrize(
    "bad",
    [
        [b"\x00" * 31],
        [LEAVES[0], b"\x00" * 33],
        # 31 + 33 bytes concatenate like two honest hashes would: still refused.
        [LEAVES[0][:31], LEAVES[0][31:] + LEAVES[1]],
        [b"raw entry, not hashed"],
    ],
)
def test_root_rejects_wrong_length(bad: list[bytes]) -> None:
    with pytest.raises(MerkleError, match="must be 32 bytes"):
        root(bad)


# --------------------------------------------------------------------------- frontier


def test_frontier_agrees_with_root_and_round_trips_for_every_size() -> None:
    frontier = Frontier()
    for size in range(301):
        assert frontier.size == size
        assert frontier.root() == root(LEAVES[:size]), size
        data = frontier.to_bytes()
        assert len(data) == size.bit_count() * HASH_SIZE
        restored = Frontier.from_bytes(size, data)
        assert restored.size == size
        assert restored.root() == frontier.root()
        assert restored.to_bytes() == data
        # A restored frontier keeps growing like the original.
        restored.append(LEAVES[size])
        assert restored.root() == root(LEAVES[: size + 1])
        frontier.append(LEAVES[size])


@pytest.mark.parametrize("size", range(len(VECTOR_ROOTS)))
def test_frontier_vectors(size: int) -> None:
    frontier = Frontier()
    frontier.extend(VECTOR_HASHES[:size])
    assert frontier.root() == VECTOR_ROOTS[size]


def test_frontier_holds_one_hash_per_bit_largest_first() -> None:
    frontier = Frontier()
    frontier.extend(LEAVES[:13])  # 13 = 8 + 4 + 1
    assert frontier.to_bytes() == root(LEAVES[:8]) + root(LEAVES[8:12]) + LEAVES[12]


def test_frontier_extend_equals_append() -> None:
    one, other = Frontier(), Frontier()
    one.extend(iter(LEAVES[:77]))
    for h in LEAVES[:77]:
        other.append(h)
    assert one.size == other.size == 77
    assert one.to_bytes() == other.to_bytes()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=130), min_size=1, max_size=12))
def test_frontier_extend_in_runs_from_any_size_equals_the_tree(runs: list[int]) -> None:
    # Appends of any size, starting at any size: the frontier level by level
    # must equal leaf-by-leaf appends and the tree over all the leaves.
    chunked, single = Frontier(), Frontier()
    at = 0
    for count in runs:
        chunk = LEAVES[at:at + count]
        chunked.extend(chunk)
        for h in chunk:
            single.append(h)
        at += count
        assert chunked.size == single.size == at
        assert chunked.to_bytes() == single.to_bytes()
        assert chunked.root() == (root(LEAVES[:at]) if at else EMPTY_ROOT)


def test_frontier_copy_is_independent() -> None:
    original = Frontier()
    original.extend(LEAVES[:5])
    twin = original.copy()
    twin.append(LEAVES[5])
    assert original.size == 5
    assert original.root() == root(LEAVES[:5])
    assert twin.size == 6
    assert twin.root() == root(LEAVES[:6])


@pytest.mark.parametrize("bad", [b"", b"\x00" * 31, b"\x00" * 33, b"entry"])
def test_frontier_append_rejects_wrong_length(bad: bytes) -> None:
    frontier = Frontier()
    frontier.append(LEAVES[0])
    with pytest.raises(MerkleError, match="32 bytes"):
        frontier.append(bad)
    assert frontier.size == 1
    assert frontier.root() == LEAVES[0]


@pytest.mark.parametrize(
    ("size", "length"),
    [(0, 32), (1, 0), (1, 31), (1, 64), (3, 32), (3, 96), (8, 64), (255, 7 * 32), (-1, 0)],
)
def test_frontier_from_bytes_rejects_bad_lengths(size: int, length: int) -> None:
    with pytest.raises(MerkleError):
        Frontier.from_bytes(size, b"\x00" * length)


def test_frontier_from_bytes_message_names_the_expected_length() -> None:
    with pytest.raises(MerkleError, match=r"for 3 leaves is 64 bytes \(2 hashes\), got 32"):
        Frontier.from_bytes(3, b"\x00" * 32)


def test_frontier_repr_shows_size_and_root() -> None:
    frontier = Frontier()
    frontier.extend(VECTOR_HASHES)
    assert repr(frontier) == f"Frontier(size=8, root={VECTOR_ROOTS[8].hex()})"


# --------------------------------------------------------------------------- vectors


@pytest.mark.parametrize(("index", "expected"), INCLUSION_VECTORS)
def test_inclusion_vectors(index: int, expected: list[bytes]) -> None:
    assert inclusion_proof(index, VECTOR_HASHES) == expected
    verify_inclusion(index, 8, VECTOR_HASHES[index], expected, VECTOR_ROOTS[8])


@pytest.mark.parametrize(("old", "new", "expected"), CONSISTENCY_VECTORS)
def test_consistency_vectors(old: int, new: int, expected: list[bytes]) -> None:
    assert consistency_proof(old, VECTOR_HASHES[:new]) == expected
    verify_consistency(old, new, VECTOR_ROOTS[old], VECTOR_ROOTS[new], expected)


# --------------------------------------------------------------------------- round trips


def test_inclusion_all_positions_up_to_40() -> None:
    for size in range(1, 41):
        leaves = LEAVES[:size]
        tree_root = root(leaves)
        for index in range(size):
            proof = inclusion_proof(index, leaves)
            assert proof == ref_path(index, leaves), (index, size)
            verify_inclusion(index, size, leaves[index], proof, tree_root)


def test_consistency_all_pairs_up_to_40() -> None:
    for new in range(1, 41):
        leaves = LEAVES[:new]
        new_root = root(leaves)
        for old in range(1, new + 1):
            proof = consistency_proof(old, leaves)
            assert proof == ref_proof(old, leaves), (old, new)
            verify_consistency(old, new, root(leaves[:old]), new_root, proof)


@st.composite
def size_and_index(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(min_value=1, max_value=len(LEAVES)))
    return size, draw(st.integers(min_value=0, max_value=size - 1))


@st.composite
def two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    new = draw(st.integers(min_value=1, max_value=len(LEAVES)))
    return draw(st.integers(min_value=1, max_value=new)), new


@settings(max_examples=150)
@given(size_and_index())
def test_inclusion_random_large_trees(case: tuple[int, int]) -> None:
    size, index = case
    leaves = LEAVES[:size]
    proof = inclusion_proof(index, leaves)
    verify_inclusion(index, size, leaves[index], proof, root(leaves))


@settings(max_examples=150)
@given(two_sizes())
def test_consistency_random_large_trees(case: tuple[int, int]) -> None:
    old, new = case
    leaves = LEAVES[:new]
    proof = consistency_proof(old, leaves)
    verify_consistency(old, new, root(leaves[:old]), root(leaves), proof)


@settings(max_examples=100)
@given(two_sizes(), st.data())
def test_rewritten_history_is_detected(case: tuple[int, int], data: st.DataObject) -> None:
    """A log that changed one of its first ``old`` entries cannot prove consistency."""
    old, new = case
    honest_old_root = root(LEAVES[:old])
    victim = data.draw(st.integers(min_value=0, max_value=old - 1))
    rewritten = list(LEAVES[:new])
    rewritten[victim] = leaf_hash(b"forged")
    proof = consistency_proof(old, rewritten)
    with pytest.raises(ProofError):
        verify_consistency(old, new, honest_old_root, root(rewritten), proof)


def test_generators_are_not_quadratic() -> None:
    leaves = LEAVES * 100  # 300,000 leaves: a quadratic generator would not finish
    size = len(leaves)
    tree_root = root(leaves)
    proof = inclusion_proof(size // 3, leaves)
    verify_inclusion(size // 3, size, leaves[size // 3], proof, tree_root)
    proof = consistency_proof(size // 3, leaves)
    verify_consistency(size // 3, size, root(leaves[: size // 3]), tree_root, proof)


# --------------------------------------------------------------------------- generator input


@pytest.mark.parametrize("index", [-1, 8, 9])
def test_inclusion_proof_rejects_index_outside_tree(index: int) -> None:
    with pytest.raises(MerkleError, match=f"index {index} is outside a tree of 8"):
        inclusion_proof(index, VECTOR_HASHES)


@pytest.mark.parametrize("old", [-1, 0, 9])
def test_consistency_proof_rejects_bad_old_size(old: int) -> None:
    with pytest.raises(MerkleError, match="between 1 and the tree size 8"):
        consistency_proof(old, VECTOR_HASHES)


def test_proof_generators_reject_unhashed_leaves() -> None:
    leaves = [*VECTOR_HASHES[:3], b"not a hash"]
    with pytest.raises(MerkleError, match="leaf hash 3 must be 32 bytes"):
        inclusion_proof(0, leaves)
    with pytest.raises(MerkleError, match="leaf hash 3 must be 32 bytes"):
        consistency_proof(1, leaves)


# --------------------------------------------------------------------------- forged inclusion

# Leaf 5 of the 8-leaf vector tree: a proof with three hashes, mixed directions.
I_INDEX, I_SIZE = 5, 8
I_LEAF = VECTOR_HASHES[I_INDEX]
I_PROOF = INCLUSION_VECTORS[1][1]
I_ROOT = VECTOR_ROOTS[I_SIZE]

InclusionArgs = tuple[int, int, bytes, list[bytes], bytes]

FORGED_INCLUSION: dict[str, tuple[InclusionArgs, str]] = {
    "wrong index (neighbour)": ((4, 8, I_LEAF, I_PROOF, I_ROOT), "does not match"),
    "wrong index (other half)": ((1, 8, I_LEAF, I_PROOF, I_ROOT), "does not match"),
    "wrong size (smaller)": ((5, 6, I_LEAF, I_PROOF, I_ROOT), "proof has 3 hashes"),
    "wrong size (larger)": ((5, 9, I_LEAF, I_PROOF, I_ROOT), "proof has 3 hashes"),
    "index equals size": ((8, 8, I_LEAF, I_PROOF, I_ROOT), "index 8 is outside a tree of 8"),
    "index beyond size": ((9, 8, I_LEAF, I_PROOF, I_ROOT), "index 9 is outside a tree of 8"),
    "negative index": ((-1, 8, I_LEAF, I_PROOF, I_ROOT), "outside a tree of 8"),
    "empty tree": ((0, 0, I_LEAF, [], EMPTY_ROOT), "nothing to prove"),
    "flipped bit in leaf": ((5, 8, flip(I_LEAF), I_PROOF, I_ROOT), "does not match"),
    "flipped bit in root": ((5, 8, I_LEAF, I_PROOF, flip(I_ROOT, 255)), "does not match"),
    "flipped bit in proof": (
        (5, 8, I_LEAF, [I_PROOF[0], flip(I_PROOF[1], 77), I_PROOF[2]], I_ROOT),
        "does not match",
    ),
    "component appended": ((5, 8, I_LEAF, [*I_PROOF, I_ROOT], I_ROOT), "proof has 4 hashes"),
    "component removed": ((5, 8, I_LEAF, I_PROOF[:2], I_ROOT), "proof has 2 hashes"),
    "first component removed": ((5, 8, I_LEAF, I_PROOF[1:], I_ROOT), "proof has 2 hashes"),
    "components swapped": (
        (5, 8, I_LEAF, [I_PROOF[1], I_PROOF[0], I_PROOF[2]], I_ROOT),
        "does not match",
    ),
    "proof of another leaf": (
        (5, 8, I_LEAF, INCLUSION_VECTORS[0][1], I_ROOT),
        "does not match",
    ),
    "raw entry instead of leaf hash": (
        (5, 8, VECTOR_LEAVES[5], I_PROOF, I_ROOT),
        "leaf hash must be 32 bytes, got 4",
    ),
    "short proof hash": (
        (5, 8, I_LEAF, [I_PROOF[0], I_PROOF[1][:31], I_PROOF[2]], I_ROOT),
        "proof hash 1 must be 32 bytes, got 31",
    ),
    "long root": ((5, 8, I_LEAF, I_PROOF, I_ROOT + b"\x00"), "expected root must be 32 bytes"),
}


def test_inclusion_baseline_is_valid() -> None:
    """The forged cases below start from this proof; it must verify untouched."""
    verify_inclusion(I_INDEX, I_SIZE, I_LEAF, I_PROOF, I_ROOT)


@pytest.mark.parametrize(
    ("args", "message"), list(FORGED_INCLUSION.values()), ids=list(FORGED_INCLUSION)
)
def test_forged_inclusion_is_rejected(args: InclusionArgs, message: str) -> None:
    with pytest.raises(ProofError, match=message):
        verify_inclusion(*args)


def test_inclusion_messages_are_actionable() -> None:
    with pytest.raises(ProofError, match=r"^proof has 2 hashes, leaf 5 of a tree of 8 needs 3$"):
        verify_inclusion(5, 8, I_LEAF, I_PROOF[:2], I_ROOT)
    with pytest.raises(
        ProofError,
        match=rf"^computed root [0-9a-f]{{64}} does not match expected root {I_ROOT.hex()}",
    ):
        verify_inclusion(5, 8, flip(I_LEAF), I_PROOF, I_ROOT)


@pytest.mark.parametrize(("index", "size"), [(0, 1), (0, 2), (5, 8), (6, 7), (12, 13), (31, 33)])
def test_inclusion_every_single_bit_flip_is_rejected(index: int, size: int) -> None:
    leaves = LEAVES[:size]
    tree_root = root(leaves)
    proof = inclusion_proof(index, leaves)
    verify_inclusion(index, size, leaves[index], proof, tree_root)
    for bit in range(HASH_SIZE * 8):
        for position in range(len(proof)):
            forged = list(proof)
            forged[position] = flip(forged[position], bit)
            with pytest.raises(ProofError):
                verify_inclusion(index, size, leaves[index], forged, tree_root)
        with pytest.raises(ProofError):
            verify_inclusion(index, size, flip(leaves[index], bit), proof, tree_root)
        with pytest.raises(ProofError):
            verify_inclusion(index, size, leaves[index], proof, flip(tree_root, bit))


def test_inclusion_proof_does_not_verify_against_another_tree() -> None:
    """A proof for one tree fails against every other tree's true size and root."""
    for size in range(1, 21):
        for other in range(1, 21):
            if other == size:
                continue
            other_root = root(LEAVES[:other])
            for index in range(min(size, other)):
                proof = inclusion_proof(index, LEAVES[:size])
                with pytest.raises(ProofError):
                    verify_inclusion(index, other, LEAVES[index], proof, other_root)


def test_inclusion_wrong_index_is_rejected_everywhere() -> None:
    for size in range(2, 21):
        leaves = LEAVES[:size]
        tree_root = root(leaves)
        for index in range(size):
            proof = inclusion_proof(index, leaves)
            for claimed in range(size):
                if claimed != index:
                    with pytest.raises(ProofError):
                        verify_inclusion(claimed, size, leaves[index], proof, tree_root)


# --------------------------------------------------------------------------- forged consistency

# From 6 to 8 leaves of the vector tree: old size not a power of two.
C_OLD, C_NEW = 6, 8
C_OLD_ROOT, C_NEW_ROOT = VECTOR_ROOTS[C_OLD], VECTOR_ROOTS[C_NEW]
C_PROOF = CONSISTENCY_VECTORS[2][2]

ConsistencyArgs = tuple[int, int, bytes, bytes, list[bytes]]

FORGED_CONSISTENCY: dict[str, tuple[ConsistencyArgs, str]] = {
    "swapped roots": ((6, 8, C_NEW_ROOT, C_OLD_ROOT, C_PROOF), "does not match"),
    "wrong old size (same length)": ((1, 8, C_OLD_ROOT, C_NEW_ROOT, C_PROOF), "does not match"),
    "wrong old size (other length)": ((5, 8, C_OLD_ROOT, C_NEW_ROOT, C_PROOF), "needs 4"),
    "wrong new size": ((6, 9, C_OLD_ROOT, C_NEW_ROOT, C_PROOF), "proof has 3 hashes"),
    "old size above new size": ((9, 8, C_OLD_ROOT, C_NEW_ROOT, C_PROOF), "cannot shrink"),
    "old size zero": ((0, 8, EMPTY_ROOT, C_NEW_ROOT, []), "at least 1"),
    "flipped bit in old root": ((6, 8, flip(C_OLD_ROOT, 9), C_NEW_ROOT, C_PROOF), "old root"),
    "flipped bit in new root": ((6, 8, C_OLD_ROOT, flip(C_NEW_ROOT, 9), C_PROOF), "new root"),
    "flipped bit in first proof hash": (
        (6, 8, C_OLD_ROOT, C_NEW_ROOT, [flip(C_PROOF[0], 100), *C_PROOF[1:]]),
        "does not match",
    ),
    "flipped bit in last proof hash": (
        (6, 8, C_OLD_ROOT, C_NEW_ROOT, [*C_PROOF[:2], flip(C_PROOF[2], 3)]),
        "does not match",
    ),
    "component appended": (
        (6, 8, C_OLD_ROOT, C_NEW_ROOT, [*C_PROOF, C_NEW_ROOT]),
        "proof has 4 hashes",
    ),
    "component removed": ((6, 8, C_OLD_ROOT, C_NEW_ROOT, C_PROOF[:2]), "proof has 2 hashes"),
    "first component removed": (
        (6, 8, C_OLD_ROOT, C_NEW_ROOT, C_PROOF[1:]),
        "proof has 2 hashes",
    ),
    "equal sizes, different roots": ((8, 8, C_OLD_ROOT, C_NEW_ROOT, []), "different roots"),
    "equal sizes, non-empty proof": (
        (8, 8, C_NEW_ROOT, C_NEW_ROOT, [C_PROOF[0]]),
        "proof has 1 hashes",
    ),
    "short proof hash": (
        (6, 8, C_OLD_ROOT, C_NEW_ROOT, [C_PROOF[0][:16], *C_PROOF[1:]]),
        "proof hash 0 must be 32 bytes",
    ),
    "short old root": ((6, 8, C_OLD_ROOT[:31], C_NEW_ROOT, C_PROOF), "old root must be 32"),
    "long new root": ((6, 8, C_OLD_ROOT, C_NEW_ROOT * 2, C_PROOF), "new root must be 32"),
}


def test_consistency_baseline_is_valid() -> None:
    """The forged cases below start from this proof; it must verify untouched."""
    verify_consistency(C_OLD, C_NEW, C_OLD_ROOT, C_NEW_ROOT, C_PROOF)


@pytest.mark.parametrize(
    ("args", "message"), list(FORGED_CONSISTENCY.values()), ids=list(FORGED_CONSISTENCY)
)
def test_forged_consistency_is_rejected(args: ConsistencyArgs, message: str) -> None:
    with pytest.raises(ProofError, match=message):
        verify_consistency(*args)


def test_consistency_power_of_two_old_size_rejects_forgery() -> None:
    """When the old root is implied (old size 2**k) it still has to be the right one."""
    old, new = 4, 8
    proof = consistency_proof(old, VECTOR_HASHES)
    verify_consistency(old, new, VECTOR_ROOTS[old], VECTOR_ROOTS[new], proof)
    # The proof leaves the old root out, so a wrong one surfaces in the new root.
    with pytest.raises(ProofError, match="computed new root"):
        verify_consistency(old, new, VECTOR_ROOTS[3], VECTOR_ROOTS[new], proof)
    with pytest.raises(ProofError):
        verify_consistency(old, new, VECTOR_ROOTS[old], VECTOR_ROOTS[new], [VECTOR_ROOTS[4]])


def test_consistency_messages_are_actionable() -> None:
    with pytest.raises(
        ProofError, match=r"^proof has 2 hashes, going from a tree of 6 to a tree of 8 needs 3$"
    ):
        verify_consistency(6, 8, C_OLD_ROOT, C_NEW_ROOT, C_PROOF[:2])
    with pytest.raises(ProofError, match=r"^old_size 9 is larger than new_size 8"):
        verify_consistency(9, 8, C_OLD_ROOT, C_NEW_ROOT, C_PROOF)


@pytest.mark.parametrize(("old", "new"), [(1, 2), (2, 5), (3, 7), (4, 8), (6, 8), (13, 40)])
def test_consistency_every_single_bit_flip_is_rejected(old: int, new: int) -> None:
    leaves = LEAVES[:new]
    old_root, new_root = root(leaves[:old]), root(leaves)
    proof = consistency_proof(old, leaves)
    verify_consistency(old, new, old_root, new_root, proof)
    for bit in range(HASH_SIZE * 8):
        for position in range(len(proof)):
            forged = list(proof)
            forged[position] = flip(forged[position], bit)
            with pytest.raises(ProofError):
                verify_consistency(old, new, old_root, new_root, forged)
        with pytest.raises(ProofError):
            verify_consistency(old, new, flip(old_root, bit), new_root, proof)
        with pytest.raises(ProofError):
            verify_consistency(old, new, old_root, flip(new_root, bit), proof)


def test_consistency_proof_does_not_verify_between_other_trees() -> None:
    """A proof for (old, new) fails for any other pair given their true roots."""
    roots = [root(LEAVES[:n]) for n in range(17)]
    proofs = {
        (old, new): consistency_proof(old, LEAVES[:new])
        for new in range(1, 17)
        for old in range(1, new + 1)
    }
    for (old, new), proof in proofs.items():
        for (other_old, other_new), other_proof in proofs.items():
            if (other_old, other_new) == (old, new):
                continue
            args = (other_old, other_new, roots[other_old], roots[other_new], proof)
            if proof == other_proof:
                verify_consistency(*args)  # the same hashes prove both (e.g. both empty)
            else:
                with pytest.raises(ProofError):
                    verify_consistency(*args)
