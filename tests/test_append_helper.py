"""Large appends extend the Merkle frontier on the store's helper thread while
their COMMIT waits for the disk; the log they leave is the same."""

from __future__ import annotations

import threading

import pytest

from ra.events import EventStore, NewEvent, merkle, verify_log
from ra.events import store as store_module
from ra.events.merkle import Frontier, MerkleError
from ra.home import Home


def _batch(n: int, start: int = 0) -> list[NewEvent]:
    return [NewEvent("chat.message", {"i": start + k}) for k in range(n)]


def _helpers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "ra-frontier"]


def test_large_appends_use_the_helper_and_keep_the_rfc6962_tree(home: Home) -> None:
    before = set(_helpers())
    sizes = [store_module.BESIDE_COMMIT, 1, 40, store_module.BESIDE_COMMIT - 1, 100, 3, 64]
    with EventStore.open(home) as store:
        version = 0
        for n in sizes:
            store.append("session:big", version, _batch(n, version))
            version += n
        made = set(_helpers()) - before
        assert len(made) == 1  # one helper per store, made on first use
        bodies = [e.body for e in store.iter_events()]
        assert store.size() == sum(sizes)
        assert store.root() == merkle.root([merkle.leaf_hash(b) for b in bodies])
        assert verify_log(store).ok
    # a new store reads the same tree from disk
    with EventStore.open(home) as again:
        assert again.root() == merkle.root([merkle.leaf_hash(b) for b in bodies])
    # close() ends the helper
    for thread in made:
        thread.join(timeout=5)
        assert not thread.is_alive()


def test_a_failure_on_the_helper_reaches_the_caller_and_the_store_recovers(
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
        # The events were committed (the helper runs beside COMMIT); the store
        # forgot its frontier and catches up from the stored leaf hashes.
        assert store.size() == 33
        store.append("session:a", 33, _batch(20, 33))
        bodies = [e.body for e in store.iter_events()]
        assert store.root() == merkle.root([merkle.leaf_hash(b) for b in bodies])
        assert verify_log(store).ok


def test_a_helper_from_another_process_or_interrupted_is_replaced(home: Home) -> None:
    with EventStore.open(home) as store:
        store.append("session:b", 0, _batch(20))
        first = store._beside
        assert first is not None
        first.pid = -1  # as a forked child sees its parent's helper: not running there
        store.append("session:b", 20, _batch(20, 20))
        second = store._beside
        assert second is not None and second is not first
        second.broken = True  # as after an interrupted wait
        store.append("session:b", 40, _batch(20, 40))
        assert store._beside is not second
        assert verify_log(store).ok
