"""Appends of every size keep the RFC 6962 tree, in memory and on disk; a
failure while the frontier is extended appends nothing."""

from __future__ import annotations

import pytest

from ra.events import EventStore, NewEvent, merkle, verify_log
from ra.events.merkle import Frontier, MerkleError
from ra.events.store import INSERT_ROWS, TREE_STATE_EVERY
from ra.home import Home


def _batch(n: int, start: int = 0) -> list[NewEvent]:
    return [NewEvent("chat.message", {"i": start + k}) for k in range(n)]


def test_appends_of_every_size_keep_the_rfc6962_tree(home: Home) -> None:
    # Around the tree state's interval and the INSERT's row limit too.
    sizes = [16, 1, 40, 15, 100, 3, 64, TREE_STATE_EVERY - 239, INSERT_ROWS + 7, 2]
    with EventStore.open(home) as store:
        version = 0
        for n in sizes:
            store.append("session:big", version, _batch(n, version))
            version += n
        bodies = [e.body for e in store.iter_events()]
        assert store.size() == sum(sizes)
        assert store.root() == merkle.root([merkle.leaf_hash(b) for b in bodies])
        assert verify_log(store).ok
    with EventStore.open(home) as again:  # a new store reads the same tree from disk
        assert again.root() == merkle.root([merkle.leaf_hash(b) for b in bodies])


def test_a_failure_extending_the_frontier_appends_nothing(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Frontier.extend

    def broken(self: Frontier, hashes: object) -> None:
        raise MerkleError("broken on purpose")

    with EventStore.open(home) as store:
        store.append("session:a", 0, _batch(3))
        monkeypatch.setattr(Frontier, "extend", broken)
        with pytest.raises(MerkleError, match="broken on purpose"):
            store.append("session:a", 3, _batch(30, 3))
        monkeypatch.setattr(Frontier, "extend", real)
        assert store.size() == 3 and store.stream_version("session:a") == 3
        store.append("session:a", 3, _batch(20, 3))
        bodies = [e.body for e in store.iter_events()]
        assert store.root() == merkle.root([merkle.leaf_hash(b) for b in bodies])
        assert verify_log(store).ok
