"""Concurrent writers in separate processes on one real SQLite file.

Every writer is a real OS process (``tests/appender.py``) with its own
`EventStore` connection to a database in ``tmp_path`` (WAL, synchronous=FULL,
the store's defaults). A file barrier releases the writers together: each
creates ``ready-NAME`` once its store is open, then spins until the parent
creates ``go``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from ra.events import ConcurrencyError, EventStore, NewEvent, verify_log

APPENDER = str(Path(__file__).with_name("appender.py"))
RACE_ROUNDS = 20
WORKERS = 4
APPENDS_PER_WORKER = 1000


def _store(tmp_path: Path) -> EventStore:
    return EventStore(tmp_path / "events.sqlite", key_path=tmp_path / "log-key.pem")


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, APPENDER, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _release(go_dir: Path, names: list[str], procs: list[subprocess.Popen[str]]) -> None:
    """Wait until every process is ready at the barrier, then let them all go."""
    deadline = time.monotonic() + 30
    while not all((go_dir / f"ready-{name}").exists() for name in names):
        for proc in procs:
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"a writer died before the barrier ({proc.returncode}): {out}{err}")
        if time.monotonic() > deadline:
            pytest.fail("the writers did not reach the barrier within 30 s")
        time.sleep(0.001)
    fd = os.open(go_dir / "go", os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)


def test_same_expected_version_race_has_exactly_one_winner(tmp_path: Path) -> None:
    stream = "race:one"
    with _store(tmp_path) as store:  # create the log (and key) before the race
        assert store.size() == 0
    db, key = str(tmp_path / "events.sqlite"), str(tmp_path / "log-key.pem")
    winners: Counter[str] = Counter()
    contended = 0  # rounds where the loser's append began before the winner's ended

    for version in range(RACE_ROUNDS):
        go_dir = tmp_path / f"round-{version}"
        go_dir.mkdir()
        names = ["p0", "p1"] if version % 2 == 0 else ["p1", "p0"]  # alternate spawn order
        procs = {
            name: _spawn("race", db, key, str(go_dir), name, stream, str(version))
            for name in names
        }
        _release(go_dir, names, list(procs.values()))
        results = {}
        for name, proc in procs.items():
            out, err = proc.communicate(timeout=60)
            results[name] = (proc.returncode, out.split(), err)

        codes = sorted(code for code, _, _ in results.values())
        assert codes == [0, ConcurrencyError.exit_code], f"round {version}: {results}"
        [winner] = [name for name, (code, _, _) in results.items() if code == 0]
        [loser] = [name for name in results if name != winner]
        _, won, won_err = results[winner]
        _, lost, lost_err = results[loser]
        assert won_err == "" and lost_err == "", f"round {version}: {results}"
        # The winner's event is the next in the log, at the next stream version.
        assert won[:3] == ["won", str(version), str(version + 1)], f"round {version}: {won}"
        # The loser was told which version the stream had moved to.
        assert lost[:3] == ["conflict", str(version), str(version + 1)], (
            f"round {version}: {lost}"
        )
        winners[winner] += 1
        if int(lost[3]) < int(won[4]):
            contended += 1

        with _store(tmp_path) as store:
            assert store.size() == version + 1
            assert store.stream_version(stream) == version + 1
            events = store.read_stream(stream)
            assert [e.stream_version for e in events] == list(range(1, version + 2))
            last = events[-1]
            assert last.seq == version
            assert last.payload == {"worker": winner, "expected": version}
            (at_version,) = store.conn.execute(
                "SELECT count(*) FROM audit_log WHERE stream = ? AND stream_version = ?",
                (stream, version + 1),
            ).fetchone()
            assert at_version == 1

    with _store(tmp_path) as store:
        report = verify_log(store)
        assert report.ok, report.problems
        assert report.size == RACE_ROUNDS
        # Nothing from a losing attempt was stored: one event per round, all winners'.
        assert Counter(e.payload["worker"] for e in store.iter_events()) == winners
    # The barrier made it a race: in some round the two appends overlapped in time.
    assert contended >= 1, f"no round had overlapping appends (winners {dict(winners)})"
    print(f"race: winners {dict(winners)}, {contended}/{RACE_ROUNDS} rounds overlapped")


def test_four_processes_append_concurrently(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        assert store.size() == 0
    db, key = str(tmp_path / "events.sqlite"), str(tmp_path / "log-key.pem")
    go_dir = tmp_path / "barrier"
    go_dir.mkdir()
    names = [f"w{n}" for n in range(WORKERS)]
    # The parent opens its store first: opening takes the write lock for a
    # moment, which under the writers' load can wait until they are done.
    parent = _store(tmp_path)
    started = time.monotonic()
    procs = {
        name: _spawn("many", db, key, str(go_dir), name, str(APPENDS_PER_WORKER))
        for name in names
    }
    _release(go_dir, names, list(procs.values()))

    # While they append, the parent signs checkpoints of the moving log.
    checkpoints = []
    with parent:
        while True:
            checkpoints.append(parent.checkpoint())
            if all(proc.poll() is not None for proc in procs.values()):
                break
            time.sleep(0.01)
    returned: dict[str, list[int]] = {}
    windows: dict[str, tuple[int, int, int]] = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{name} exited {proc.returncode}: {err}"
        assert err == ""
        times, seqs = out.splitlines()
        assert times.startswith("times ") and seqs.startswith("seqs ")
        start, end, slowest = (int(word) for word in times.split()[1:])
        windows[name] = (start, end, slowest)
        returned[name] = [int(word) for word in seqs.split()[1:]]
    elapsed = time.monotonic() - started
    total = WORKERS * APPENDS_PER_WORKER

    with _store(tmp_path) as store:
        assert store.size() == total
        events = list(store.iter_events())
        assert [e.seq for e in events] == list(range(total))
        assert len({e.event_id for e in events}) == total
        for name in names:
            mine = [e for e in events if e.payload["worker"] == name]
            # All of the process's appends are there, in the order it made them ...
            assert [e.payload["i"] for e in mine] == list(range(APPENDS_PER_WORKER))
            # ... at the seqs append() returned to it.
            assert [e.seq for e in mine] == returned[name]
            own = store.read_stream(f"worker:{name}")
            assert [e.stream_version for e in own] == list(range(1, APPENDS_PER_WORKER // 2 + 1))
            assert [e.payload["i"] for e in own] == list(range(0, APPENDS_PER_WORKER, 2))
        shared = store.read_stream("shared:all")
        assert [e.stream_version for e in shared] == list(range(1, total // 2 + 1))
        assert [e.seq for e in shared] == sorted(e.seq for e in shared)
        assert all(e.payload["i"] % 2 == 1 for e in shared)

        # The writers really ran at the same time: each one started appending
        # before any of them had finished. (Their events need not interleave
        # much: SQLite's busy handler lets one writer keep the lock while the
        # others back off, so this checks overlap in time, not in seq.)
        starts = [windows[name][0] for name in names]
        ends = [windows[name][1] for name in names]
        assert max(starts) < min(ends), f"append windows do not overlap: {windows}"

        report = verify_log(store, external=checkpoints)
        assert report.ok, report.problems
        assert report.size == total
        assert report.checkpoints_checked == report.external_checked == len(checkpoints)
        assert checkpoints[-1].tree_size == total
    switches = sum(1 for a, b in zip(events, events[1:], strict=False) if a.payload["worker"]
                   != b.payload["worker"])
    slowest = max(window[2] for window in windows.values()) / 1e6
    print(f"{total} appends by {WORKERS} processes in {elapsed:.2f} s, "
          f"{switches} writer switches, slowest append {slowest:.0f} ms, "
          f"{len(checkpoints)} checkpoints signed meanwhile")


def test_verify_log_while_another_process_appends(tmp_path: Path) -> None:
    """verify_log reads one snapshot: appends committed meanwhile raise no false alarm."""
    with _store(tmp_path) as store:
        store.append("seed:log", 0, [NewEvent("seed.appended", {"i": i}) for i in range(2000)])
    out_path = tmp_path / "writer.out"
    with out_path.open("wb") as out:
        writer = subprocess.Popen(
            [sys.executable, APPENDER, "batches", str(tmp_path / "events.sqlite"),
             str(tmp_path / "log-key.pem"), "0", "5"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while b"ack " not in out_path.read_bytes():  # the writer is appending
            if writer.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the writer did not start: {out_path.read_text()}")
            time.sleep(0.005)
        false_alarms = []
        runs = 0
        with _store(tmp_path) as store:
            stop = time.monotonic() + 1.5
            while time.monotonic() < stop:
                report = verify_log(store)
                runs += 1
                if not report.ok:
                    false_alarms.append(report.summary())
    finally:
        writer.kill()
        writer.wait()
    with _store(tmp_path) as store:  # the log itself is intact: the alarms were false
        final = verify_log(store)
    if not final.ok:
        raise RuntimeError(f"the log is really damaged: {final.problems}")
    print(f"verify: {len(false_alarms)} false alarms in {runs} runs")
    assert false_alarms == [], f"{len(false_alarms)} of {runs} runs: {false_alarms[0]}"
