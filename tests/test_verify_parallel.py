"""Verification in aligned blocks, by one process per core, agrees with one pass.

The block size is shrunk so that a small log spans many blocks and workers;
checkpoints fall inside blocks, on block edges and at the end.
"""

from __future__ import annotations

import sqlite3

import pytest
from support import tamper

from ra.events import EventStore, NewEvent, merkle, verify_log
from ra.events import verify as verify_module
from ra.home import Home


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify_module, "BLOCK", 16)
    monkeypatch.setattr(verify_module, "PARALLEL_MIN", 64)


def build(home: Home, sizes: list[int]) -> list[bytes]:
    roots = []
    with EventStore.open(home) as store:
        for stream, target in enumerate(sizes):
            while store.size() < target:
                batch = min(7, target - store.size())
                version = store.stream_version(f"session:p{stream}")
                store.append(f"session:p{stream}", version, [
                    NewEvent("chat.message", {"i": store.size() + k}) for k in range(batch)])
            roots.append(store.checkpoint().root)
    return roots


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_blocks_and_workers_give_the_rfc6962_roots(
    home: Home, small_blocks: None, workers: int
) -> None:
    sizes = [5, 16, 33, 64, 100, 161]
    roots = build(home, sizes)
    with EventStore.open(home) as store:
        bodies = [e.body for e in store.iter_events()]
        report = verify_log(store, workers=workers)
    assert report.ok, report.problems
    assert report.size == 161 and report.checkpoints_checked == len(sizes)
    assert report.root == merkle.root([merkle.leaf_hash(b) for b in bodies])
    assert roots[-1] == report.root


@pytest.mark.parametrize("workers", [1, 2])
def test_an_edit_deep_in_a_later_worker_is_found_at_its_position(
    home: Home, small_blocks: None, workers: int
) -> None:
    build(home, [40, 150])
    db = sqlite3.connect(home.database)
    db.execute("DROP TRIGGER events_refuse_update")
    db.execute("UPDATE events SET body = replace(body, '\"i\":131', '\"i\":999') WHERE seq = 131")
    db.commit()
    db.close()
    with EventStore.open(home) as store:
        report = verify_log(store, workers=workers)
    assert not report.ok
    assert report.first_problem is not None and report.first_problem.position == 131
    assert "edited" in report.first_problem.what


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize(("gone", "said"), [
    (0, "deleted"), (16, "deleted"), (131, "deleted"), (149, "removed")])
def test_a_deleted_row_anywhere_sends_verify_to_the_slow_path_which_names_it(
    home: Home, small_blocks: None, workers: int, gone: int, said: str
) -> None:
    # The fast path reads only min(seq) and max(seq); each block checks its own
    # first and last seq and the scan its row count, so a hole anywhere (in a
    # later worker's range, at a block's first row, at seq 0) is still found.
    build(home, [40, 150])
    tamper(home.database, f"DELETE FROM events WHERE seq = {gone}")
    with EventStore.open(home) as store:
        report = verify_log(store, workers=workers)
    assert not report.ok
    assert report.first_problem is not None and report.first_problem.position == gone
    assert said in report.first_problem.what


def test_a_row_added_past_a_gap_at_the_end_is_found(home: Home, small_blocks: None) -> None:
    # max(seq) then says the log is longer than it is: the last block comes up short.
    build(home, [40, 150])
    tamper(home.database,
           "INSERT INTO events (seq, body) SELECT 160, body FROM events WHERE seq = 149")
    with EventStore.open(home) as store:
        report = verify_log(store, workers=2)
    assert not report.ok
    assert report.first_problem is not None and report.first_problem.position == 150
