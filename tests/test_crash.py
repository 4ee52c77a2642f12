"""SIGKILL a writer at random moments; the log must hold what was acknowledged.

A child process (``tests/appender.py``) appends to a real SQLite file in
``tmp_path`` (WAL, synchronous=FULL) and prints ``ack BATCH FIRST LAST`` after
each ``append`` returned. The parent kills it with SIGKILL at a random moment,
reopens the database and checks that the store kept its promises: every
acknowledged batch is there in full, no batch is there in part, the stored
tree state matches the events (`verify_log`), and the log takes new appends.
All kills in a test hit the same database, so the crashes accumulate.

The random seed is printed and can be fixed with ``RA_CRASH_SEED``.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

from ra.events import EventStore, NewEvent, RecordedEvent, verify_log

APPENDER = str(Path(__file__).with_name("appender.py"))
BATCH = 50
KILLS = 25
CHECKPOINT_KILLS = 10
MAX_DELAY = 0.3  # seconds after the child said "ready"


def _seed() -> int:
    return int(os.environ.get("RA_CRASH_SEED") or random.SystemRandom().randrange(2**32))


class Child:
    """A tests/appender.py process whose stdout lines are collected as they come."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, APPENDER, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.lines: list[bytes] = []
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line == b"ready\n":
                self._ready.set()
            self.lines.append(line)
        self._ready.set()  # EOF: do not keep the parent waiting

    def wait_ready(self) -> None:
        assert self._ready.wait(30), "the child did not start within 30 s"
        assert self.proc.poll() is None, f"the child exited early: {self.finish()}"

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)

    def finish(self) -> tuple[int, list[str], str]:
        """Wait for the child; its exit code, complete stdout lines, stderr."""
        self.proc.wait(30)
        self._reader.join(30)
        assert self.proc.stderr is not None
        err = self.proc.stderr.read().decode(errors="replace")
        self.proc.stderr.close()
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        # A line cut off by the kill (no newline) was not acknowledged.
        whole = [line.decode().rstrip("\n") for line in self.lines if line.endswith(b"\n")]
        return self.proc.returncode, whole, err


def _killed(child: Child, delay: float, context: str) -> list[str]:
    """SIGKILL `child` `delay` seconds after it is ready; the lines it printed."""
    child.wait_ready()
    time.sleep(delay)
    child.kill()
    code, lines, err = child.finish()
    # It died of the SIGKILL, not of an error of its own.
    assert code == -signal.SIGKILL, f"{context}: exit {code}, stderr {err}"
    assert err == "", f"{context}: {err}"
    assert lines[0] == "ready", f"{context}: {lines[:3]}"
    return lines


def _open(tmp_path: Path) -> EventStore:
    return EventStore(tmp_path / "events.sqlite", key_path=tmp_path / "log-key.pem")


def _check_run(
    store: EventStore, run: int, acks: list[tuple[int, int, int]], context: str
) -> int:
    """Check one killed run's batches; return how many batches it stored."""
    events = store.read_stream(f"crash:run-{run}")
    by_batch: dict[int, list[RecordedEvent]] = defaultdict(list)
    for event in events:
        assert event.payload["run"] == run, context
        by_batch[event.payload["batch"]].append(event)
    stored = sorted(by_batch)
    # The child appends batch 0, 1, 2, ... one after another: no batch is skipped.
    assert stored == list(range(len(stored))), f"{context}: batches {stored}"
    # (b) no partial batch: each present batch has all its events, in one run of seqs.
    for batch, members in by_batch.items():
        assert [e.payload["index"] for e in members] == list(range(BATCH)), (
            f"{context}: batch {batch} holds indexes {[e.payload['index'] for e in members]}"
        )
        first = members[0].seq
        assert [e.seq for e in members] == list(range(first, first + BATCH)), (
            f"{context}: batch {batch} is not contiguous"
        )
        assert [e.stream_version for e in members] == list(
            range(batch * BATCH + 1, (batch + 1) * BATCH + 1)
        ), f"{context}: batch {batch} has the wrong stream versions"
    # (a) every acknowledged batch is there in full, where append() said it was.
    assert [b for b, _, _ in acks] == list(range(len(acks))), f"{context}: acks {acks}"
    for batch, first, last in acks:
        assert batch in by_batch, f"{context}: acknowledged batch {batch} is missing"
        members = by_batch[batch]
        assert (members[0].seq, members[-1].seq) == (first, last), (
            f"{context}: batch {batch} acknowledged at {first}..{last}, "
            f"stored at {members[0].seq}..{members[-1].seq}"
        )
    # At most the one batch in flight at the kill may be stored without its ack.
    assert len(acks) <= len(stored) <= len(acks) + 1, (
        f"{context}: {len(acks)} acknowledged, {len(stored)} stored"
    )
    return len(stored)


def test_sigkill_during_appends_loses_nothing_acknowledged(tmp_path: Path) -> None:
    seed = _seed()
    rng = random.Random(seed)
    print(f"crash seed {seed} (set RA_CRASH_SEED to replay)")
    db, key = str(tmp_path / "events.sqlite"), str(tmp_path / "log-key.pem")
    with _open(tmp_path) as store:
        expected_size = store.size()
    started = time.monotonic()
    unacked_stored = 0  # kills that landed between a commit and its ack
    no_ack = 0  # kills before the first append returned
    acked_total = 0

    for run in range(KILLS):
        delay = rng.uniform(0, MAX_DELAY)
        context = f"seed {seed}, run {run}, killed {delay * 1000:.0f} ms after ready"
        lines = _killed(Child("batches", db, key, str(run), str(BATCH)), delay, context)
        acks = []
        for line in lines[1:]:
            word, batch, first, last = line.split()
            assert word == "ack", f"{context}: {line!r}"
            acks.append((int(batch), int(first), int(last)))

        with _open(tmp_path) as store:
            batches = _check_run(store, run, acks, context)
            # Nothing but whole batches was added to the log by this run ...
            expected_size += batches * BATCH
            assert store.size() == expected_size, context
            # ... and the acknowledged seqs follow on from what was there before.
            if acks:
                assert acks[0][1] == expected_size - batches * BATCH, context
            # (c) the tree state matches the events, every checkpoint holds.
            report = verify_log(store)
            assert report.ok, f"{context}: {report.problems}"
            assert report.size == expected_size, context
            # (d) the log takes appends (and signs checkpoints) after the crash.
            [after] = store.append("crash:parent", run, [NewEvent("crash.survived", {"run": run})])
            assert after.seq == expected_size, context
            expected_size += 1
            checkpoint = store.checkpoint()
            assert checkpoint.tree_size == expected_size, context
            assert store.event(after.seq) == after, context

        unacked_stored += batches - len(acks)
        no_ack += not acks
        acked_total += len(acks)

    with _open(tmp_path) as store:
        report = verify_log(store)
        assert report.ok, report.problems
        assert report.size == store.size() == expected_size
        assert report.checkpoints_checked == KILLS
        assert store.stream_version("crash:parent") == KILLS
    print(
        f"{KILLS} kills in {time.monotonic() - started:.1f} s: {acked_total} batches "
        f"acknowledged, {expected_size} events in the end; {unacked_stored} kills landed "
        f"between a commit and its ack, {no_ack} before the first ack"
    )


def test_sigkill_during_checkpoint_loop(tmp_path: Path) -> None:
    seed = _seed()
    rng = random.Random(seed)
    print(f"crash seed {seed} (set RA_CRASH_SEED to replay)")
    db, key = str(tmp_path / "events.sqlite"), str(tmp_path / "log-key.pem")
    with _open(tmp_path) as store:
        # Some history first, so each checkpoint signs a real tree.
        store.append("seed:log", 0, [NewEvent("seed.appended", {"i": i}) for i in range(100)])
    stored_before = 0
    started = time.monotonic()

    for run in range(CHECKPOINT_KILLS):
        delay = rng.uniform(0.01, MAX_DELAY)
        context = f"seed {seed}, run {run}, killed {delay * 1000:.0f} ms after ready"
        lines = _killed(Child("checkpoints", db, key, str(run)), delay, context)
        assert all(line.startswith("ckpt ") for line in lines[1:]), f"{context}: {lines}"
        acked = [int(line.split()[1]) for line in lines[1:]]

        with _open(tmp_path) as store:
            report = verify_log(store)
            assert report.ok, f"{context}: {report.problems}"
            checkpoints = store.checkpoints()
            new = [c.tree_size for c in checkpoints[stored_before:]]
            # Every checkpoint the child was told about was stored, in order;
            # at most the one in flight is stored without having been reported.
            assert new[: len(acked)] == acked, f"{context}: acked {acked}, stored {new}"
            assert len(acked) <= len(new) <= len(acked) + 1, context
            assert report.checkpoints_checked == len(checkpoints)
            assert all(c.tree_size <= report.size for c in checkpoints), context
            # The log still takes appends and checkpoints after the crash.
            size = store.size()
            [after] = store.append("ckpt:parent", run, [NewEvent("ckpt.survived", {"run": run})])
            assert after.seq == size, context
            assert store.checkpoint().tree_size == size + 1, context
            stored_before = len(checkpoints) + 1

    with _open(tmp_path) as store:
        report = verify_log(store)
        assert report.ok, report.problems
        assert report.checkpoints_checked == stored_before >= CHECKPOINT_KILLS
    print(
        f"{CHECKPOINT_KILLS} checkpoint-loop kills in {time.monotonic() - started:.1f} s, "
        f"{stored_before} checkpoints verified"
    )
