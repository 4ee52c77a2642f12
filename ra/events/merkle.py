"""Merkle trees as defined by RFC 6962 (Certificate Transparency) and RFC 9162 §2.1.

Why a Merkle tree
-----------------
The event log is a list of entries that only ever grows. A Merkle tree condenses
such a list into one 32-byte *root hash*. Whoever holds a root can later be
convinced, with a handful of hashes and without seeing the whole log, that

* a given entry is in the log at a given position (an *inclusion proof*), and
* today's log still starts with exactly the entries it had when that root was
  taken, i.e. nothing was rewritten, only appended (a *consistency proof*).

The hashes
----------
Leaves and interior nodes are hashed with SHA-256 under different one-byte
prefixes, so a leaf can never be passed off as a node or the other way round::

    leaf hash:  SHA-256(0x00 || data)
    node hash:  SHA-256(0x01 || left || right)

The shape
---------
The Merkle Tree Hash (MTH) of a list ``D[n]`` of ``n`` leaves is::

    MTH({})    = SHA-256("")                      (the empty tree, EMPTY_ROOT)
    MTH({d0})  = SHA-256(0x00 || d0)              (one leaf: its leaf hash)
    MTH(D[n])  = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))

where ``k`` is the largest power of two strictly smaller than ``n``. The left
subtree is therefore always perfect (a power of two leaves) and the right one
holds the rest. Equivalently, pairing neighbours level by level, and lifting an
unpaired last node one level up unchanged, yields the same root; ``root`` does
it that way because it needs no recursion.

A tree of ``n`` leaves is also a sequence of perfect subtrees, one for each bit
set in ``n``, largest first (13 = 8 + 4 + 1). Their roots, the *frontier*, are
all one needs to keep in order to append further leaves and recompute the
root: see ``Frontier``.

Everything here works on leaf *hashes*, not leaf data: hash each entry once
with ``leaf_hash`` and pass the results around.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Frontier",
    "MerkleError",
    "ProofError",
    "consistency_proof",
    "inclusion_proof",
    "join_roots",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Length in bytes of every hash in the tree (SHA-256)."""

EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()
"""Root of the tree with no leaves: SHA-256 of the empty string."""

_sha256 = hashlib.sha256

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


class MerkleError(ValueError):
    """An argument cannot describe a valid Merkle tree (bad size, index or hash)."""


class ProofError(MerkleError):
    """A proof did not verify: the claim it was offered for is not established."""


# --------------------------------------------------------------------------- hashing


def leaf_hash(data: bytes) -> bytes:
    """Hash one log entry into a leaf: SHA-256(0x00 || data)."""
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash two child hashes into their parent: SHA-256(0x01 || left || right)."""
    _check_hash(left, "left")
    _check_hash(right, "right")
    return _sha256(_NODE_PREFIX + left + right).digest()


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return the Merkle Tree Hash of a list of leaf hashes.

    Raises ``MerkleError`` if any element is not a 32-byte hash: hashes of other
    lengths would make ``left || right`` ambiguous and the root meaningless.
    """
    _check_hashes(leaf_hashes, "leaf hash")
    return _root(leaf_hashes)


def _root(level: Sequence[bytes]) -> bytes:
    """``root`` without the input check: the hot loop used by every other function.

    Each pass hashes neighbouring pairs; an odd last node moves up unchanged.
    That reproduces RFC 6962's "split at the largest power of two" shape.
    """
    count = len(level)
    if count == 0:
        return EMPTY_ROOT
    sha256 = _sha256
    while count > 1:
        pairs = iter(level)  # zip(pairs, pairs) yields (0, 1), (2, 3), ... and drops an odd last
        upper = [
            sha256(b"\x01" + left + right).digest()
            for left, right in zip(pairs, pairs, strict=False)
        ]
        if count & 1:
            upper.append(level[-1])
        level = upper
        count = len(level)
    return level[0]


# --------------------------------------------------------------------------- frontier


class Frontier:
    """The compact state of a growing tree: enough to append leaves and take its root.

    It holds the roots of the perfect subtrees that make up the tree, largest
    first, one per bit set in ``size``. Appending a leaf works like adding one
    to a binary counter: while the lowest subtree has the same height as the
    new one, the two merge into their parent. That costs one hash per append
    on average and the frontier never holds more than ``log2(size) + 1`` hashes.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self) -> None:
        """Start an empty tree."""
        self._hashes: list[bytes] = []
        self._size = 0

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def append(self, leaf_hash: bytes) -> None:
        """Add one leaf hash at the right edge of the tree."""
        self.extend((leaf_hash,))

    def extend(self, hashes: Iterable[bytes]) -> None:
        """Append each leaf hash in order.

        Like adding one to a binary counter per leaf: each trailing 1 bit of
        the size is a subtree as tall as the new node, and the two merge.
        """
        stack = self._hashes
        size = self._size
        sha256 = hashlib.sha256
        for node in hashes:
            if len(node) != HASH_SIZE:
                raise MerkleError(
                    f"a leaf hash must be {HASH_SIZE} bytes, got {len(node)}"
                    " (hash the entry with leaf_hash() first)"
                )
            carry = size
            while carry & 1:
                node = sha256(b"\x01" + stack.pop() + node).digest()
                carry >>= 1
            stack.append(node)
            size += 1
            self._size = size

    def root(self) -> bytes:
        """Return the root of all leaves appended so far (equals ``root()`` of them).

        The subtrees are folded right to left, smallest first, which is the
        RFC 6962 shape: the largest perfect subtree is always the left child.
        """
        hashes = self._hashes
        if not hashes:
            return EMPTY_ROOT
        acc = hashes[-1]
        for left in reversed(hashes[:-1]):
            acc = _sha256(b"\x01" + left + acc).digest()
        return acc

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The roots of the perfect subtrees, largest first."""
        return tuple(self._hashes)

    def to_bytes(self) -> bytes:
        """Serialise the subtree roots, largest first; store ``size`` alongside."""
        return b"".join(self._hashes)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> Frontier:
        """Rebuild a frontier from ``size`` and the output of ``to_bytes``.

        Raises ``MerkleError`` unless ``data`` holds exactly one hash per bit set
        in ``size``.
        """
        if size < 0:
            raise MerkleError(f"a tree cannot have a negative size ({size})")
        expected = size.bit_count() * HASH_SIZE
        if len(data) != expected:
            raise MerkleError(
                f"a frontier for {size} leaves is {expected} bytes"
                f" ({size.bit_count()} hashes), got {len(data)}"
            )
        data = bytes(data)
        frontier = cls()
        frontier._hashes = [data[i : i + HASH_SIZE] for i in range(0, expected, HASH_SIZE)]
        frontier._size = size
        return frontier

    def copy(self) -> Frontier:
        """Return an independent copy; appending to one leaves the other alone."""
        twin = Frontier()
        twin._hashes = list(self._hashes)
        twin._size = self._size
        return twin

    def __repr__(self) -> str:
        return f"Frontier(size={self._size}, root={self.root().hex()})"


def join_roots(hashes: Sequence[bytes]) -> bytes:
    """The root of a tree given its perfect subtrees' roots, largest first.

    A frontier's hashes may be joined with a smaller frontier's (the subtrees of
    a later, aligned range) and joined together: that is how verification
    combines roots computed in parallel.
    """
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for left in reversed(hashes[:-1]):
        acc = hashlib.sha256(b"\x01" + left + acc).digest()
    return acc


# --------------------------------------------------------------------------- proofs


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Return the audit path PATH(index, D[n]) for the tree over ``leaf_hashes``.

    The path lists the sibling subtree roots from the leaf up to the root:
    hashing the leaf with each of them in turn rebuilds the tree's root.
    """
    size = len(leaf_hashes)
    if not 0 <= index < size:
        raise MerkleError(f"index {index} is outside a tree of {size}")
    _check_hashes(leaf_hashes, "leaf hash")
    siblings: list[bytes] = []  # collected from the root downwards
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            siblings.append(_root(leaf_hashes[mid:hi]))
            hi = mid
        else:
            siblings.append(_root(leaf_hashes[lo:mid]))
            lo = mid
    siblings.reverse()
    return siblings


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Return PROOF(old_size, D[n]): evidence that the first ``old_size`` leaves are a prefix.

    The proof is empty when ``old_size`` equals the tree size. ``old_size`` must
    be at least 1: every tree trivially extends the empty one, so there is
    nothing to prove.
    """
    size = len(leaf_hashes)
    if not 0 < old_size <= size:
        raise MerkleError(f"old_size must be between 1 and the tree size {size}, got {old_size}")
    _check_hashes(leaf_hashes, "leaf hash")
    siblings: list[bytes] = []  # collected from the root downwards
    lo, hi, wanted = 0, size, old_size
    whole = True  # is the old tree still the left edge of the current subtree?
    while hi - lo != wanted:
        split = _split(hi - lo)
        mid = lo + split
        if wanted <= split:
            siblings.append(_root(leaf_hashes[mid:hi]))
            hi = mid
        else:
            siblings.append(_root(leaf_hashes[lo:mid]))
            lo = mid
            wanted -= split
            whole = False
    siblings.reverse()
    if whole:
        # The old tree is a perfect subtree on the left edge; the verifier
        # already knows its root, so it is left out of the proof.
        return siblings
    return [_root(leaf_hashes[lo:hi]), *siblings]


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes
) -> None:
    """Check that ``leaf`` sits at ``index`` in the tree of ``size`` leaves with ``expected_root``.

    ``leaf`` is the leaf *hash* (``leaf_hash(data)``), not the entry itself.
    Follows RFC 9162 §2.1.3.2. Returns None on success; raises ``ProofError``
    saying what is wrong otherwise.

    The proof ties the leaf to ``expected_root``; ``size`` only fixes the shape
    of the path. Two sizes that give the leaf the same path (leaf 0 of 7 or of
    8 leaves, say) cannot be told apart by hashing, so trust a root only
    together with the size it was published (or signed) with.
    """
    if size < 1:
        raise ProofError(f"a tree of {size} leaves contains nothing to prove")
    if not 0 <= index < size:
        raise ProofError(f"index {index} is outside a tree of {size}")
    _check_proof_hash(leaf, "leaf hash", "hash the entry with leaf_hash() first")
    _check_proof_hash(expected_root, "expected root")
    _check_proof_path(proof, _inclusion_length(index, size), f"leaf {index} of a tree of {size}")

    node = leaf
    for sibling, on_left in _walk(index, size - 1, proof, "the path from the leaf to the root"):
        node = _node(sibling, node) if on_left else _node(node, sibling)
    if node != expected_root:
        raise ProofError(
            f"computed root {node.hex()} does not match expected root {expected_root.hex()}"
            f" for leaf {index} of a tree of {size}"
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of ``new_size`` leaves extends the tree of ``old_size``.

    Follows RFC 9162 §2.1.4.2. Equal sizes need an empty proof and equal roots.
    Returns None on success; raises ``ProofError`` saying what is wrong otherwise.
    As with ``verify_inclusion``, each root must come with its own size.
    """
    if old_size < 1:
        raise ProofError(
            f"old_size must be at least 1, got {old_size}: every tree extends the empty one"
        )
    if old_size > new_size:
        raise ProofError(
            f"old_size {old_size} is larger than new_size {new_size}: a log cannot shrink"
        )
    _check_proof_hash(old_root, "old root")
    _check_proof_hash(new_root, "new root")
    _check_proof_path(proof, _consistency_length(old_size, new_size),
                      f"going from a tree of {old_size} to a tree of {new_size}")
    if old_size == new_size:
        if old_root != new_root:
            raise ProofError(
                f"trees of the same size {old_size} have different roots"
                f" {old_root.hex()} and {new_root.hex()}"
            )
        return

    path = list(proof)
    if old_size & (old_size - 1) == 0:
        # The old tree is a perfect subtree on the left edge; its root is the
        # starting point and was left out of the proof.
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    old_node = new_node = path[0]
    for sibling, on_left in _walk(fn, sn, path[1:], "the path to the new root"):
        if on_left:
            old_node = _node(sibling, old_node)
            new_node = _node(sibling, new_node)
        else:
            new_node = _node(new_node, sibling)
    if old_node != old_root:
        raise ProofError(
            f"computed old root {old_node.hex()} does not match old root {old_root.hex()}"
            f" of the tree of {old_size}"
        )
    if new_node != new_root:
        raise ProofError(
            f"computed new root {new_node.hex()} does not match new root {new_root.hex()}"
            f" of the tree of {new_size}"
        )


# --------------------------------------------------------------------------- helpers


def _walk(fn: int, sn: int, proof: Sequence[bytes], path: str) -> Iterator[tuple[bytes, bool]]:
    """RFC 9162's climb from node `fn` of a last node `sn`: each proof hash, and whether it
    goes on the left (we are a right child, or the last node of a level with no right
    sibling). `ProofError` if the proof is longer or shorter than `path`."""
    for sibling in proof:
        if sn == 0:
            raise ProofError(f"proof is longer than {path}")
        on_left = bool(fn & 1) or fn == sn
        yield sibling, on_left
        if on_left:
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"proof is shorter than {path}")


def _node(left: bytes, right: bytes) -> bytes:
    """``node_hash`` for inputs already known to be 32 bytes."""
    return _sha256(b"\x01" + left + right).digest()


def _split(count: int) -> int:
    """Largest power of two strictly below ``count`` (which must be at least 2)."""
    return 1 << ((count - 1).bit_length() - 1)


def _inclusion_length(index: int, size: int) -> int:
    """How many hashes PATH(index, D[size]) has: one per level walked down."""
    length = 0
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            hi = mid
        else:
            lo = mid
        length += 1
    return length


def _consistency_length(old_size: int, new_size: int) -> int:
    """How many hashes PROOF(old_size, D[new_size]) has."""
    length = 0
    count, wanted = new_size, old_size
    whole = True
    while count != wanted:
        split = _split(count)
        if wanted <= split:
            count = split
        else:
            count -= split
            wanted -= split
            whole = False
        length += 1
    return length if whole else length + 1


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise MerkleError(f"{what} must be {HASH_SIZE} bytes, got {len(value)}")


def _check_hashes(values: Sequence[bytes], what: str) -> None:
    """Reject any element that is not 32 bytes long (one C-speed pass)."""
    if set(map(len, values)) - {HASH_SIZE}:
        position, bad = next((i, v) for i, v in enumerate(values) if len(v) != HASH_SIZE)
        raise MerkleError(f"{what} {position} must be {HASH_SIZE} bytes, got {len(bad)}")


def _check_proof_hash(value: bytes, what: str, hint: str = "") -> None:
    if len(value) != HASH_SIZE:
        suffix = f" ({hint})" if hint else ""
        raise ProofError(f"{what} must be {HASH_SIZE} bytes, got {len(value)}{suffix}")


def _check_proof_path(proof: Sequence[bytes], needed: int, what: str) -> None:
    """Each hash of `proof` is a hash, and there are as many as `what` `needed`."""
    for position, value in enumerate(proof):
        if len(value) != HASH_SIZE:
            raise ProofError(f"proof hash {position} must be {HASH_SIZE} bytes, got {len(value)}")
    if len(proof) != needed:
        raise ProofError(f"proof has {len(proof)} hashes, {what} needs {needed}")
