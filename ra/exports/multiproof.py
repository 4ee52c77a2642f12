"""One inclusion proof for many events: the RFC 6962 tree with some leaves known.

An export cites many events (every event one of its rows is read from) and
must prove each is in the log whose root a signed checkpoint names. One RFC
6962 audit path per event costs about log2(n) hashes each, most of them
shared: 20 hashes for each of a million events. A *multiproof* sends each
needed hash once: walk the tree from the root, splitting as RFC 6962 splits
(the left subtree holds the largest power of two below the size); a subtree
that holds none of the cited leaves is sent as its one hash, a subtree that
holds cited leaves is split further, and a leaf that is cited is computed
from the event itself. The hashes are listed in that walk's order (left
before right). The verifier walks the same tree with the same cited seqs,
takes the next hash from the list for each subtree without a cited leaf,
hashes each cited event, and must arrive at the signed root having used
every hash exactly once. It proves exactly what one audit path per event
proves (each cited event sits at its seq in that tree) and is never larger.

Its size is at most (cited events) x log2(n) hashes and is none at all when
every event is cited.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from ra.events import merkle

FORMAT = "ra-multiproof"


class MultiproofError(ValueError):
    """The cited leaves and the proof's hashes do not lead to the root."""


def _split(count: int) -> int:
    return 1 << ((count - 1).bit_length() - 1)


def prove(cited: Sequence[int], leaves: Sequence[bytes]) -> list[bytes]:
    """The hashes that, with the leaves at the sorted seqs `cited`, give the root of `leaves`."""
    size = len(leaves)
    if cited and not (0 <= cited[0] and cited[-1] < size):
        raise MultiproofError(f"a cited seq lies outside the tree of {size} events")
    hashes: list[bytes] = []

    def walk(lo: int, hi: int, first: int, last: int) -> None:
        # cited[first:last] are the cited seqs in [lo, hi)
        if first == last:
            hashes.append(merkle.root(leaves[lo:hi]))
            return
        if last - first == hi - lo:  # every leaf here is cited: the verifier computes it
            return
        mid = lo + _split(hi - lo)
        middle = bisect_left(cited, mid, first, last)
        walk(lo, mid, first, middle)
        walk(mid, hi, middle, last)

    if size:
        walk(0, size, 0, len(cited))
    return hashes


def root_from(cited: Sequence[int], cited_leaves: Sequence[bytes], size: int,
              hashes: Sequence[bytes]) -> bytes:
    """The root that the cited leaves (at sorted, distinct seqs) and `hashes` give.

    Raises `MultiproofError` if the seqs are not sorted and inside the tree,
    or the hashes are too few or too many for them.
    """
    if len(cited) != len(cited_leaves):
        raise MultiproofError("each cited seq needs its leaf")
    for before, after in zip(cited, cited[1:], strict=False):
        if after <= before:
            raise MultiproofError(f"the cited seqs are not in order (seq {after} after {before})")
    if cited and not (0 <= cited[0] and cited[-1] < size):
        raise MultiproofError(f"a cited seq lies outside the tree of {size} events")
    if size == 0:
        if hashes:
            raise MultiproofError("the proof has hashes for an empty tree")
        return merkle.EMPTY_ROOT
    used = 0

    def walk(lo: int, hi: int, first: int, last: int) -> bytes:
        nonlocal used
        if first == last:
            if used >= len(hashes):
                raise MultiproofError("the proof has too few hashes")
            used += 1
            return hashes[used - 1]
        if last - first == hi - lo:
            return merkle.root(cited_leaves[first:last])
        mid = lo + _split(hi - lo)
        middle = bisect_left(cited, mid, first, last)
        left = walk(lo, mid, first, middle)
        right = walk(mid, hi, middle, last)
        return merkle.node_hash(left, right)

    try:
        found = walk(0, size, 0, len(cited))
    except merkle.MerkleError as exc:
        raise MultiproofError(f"the proof holds a malformed hash ({exc})") from None
    if used != len(hashes):
        raise MultiproofError("the proof has more hashes than the cited events need")
    return found


__all__ = ["FORMAT", "MultiproofError", "prove", "root_from"]
