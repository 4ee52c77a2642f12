"""A small program the concurrency and crash tests run in subprocesses.

Run it as ``python tests/appender.py MODE ARGS...``. Each mode opens a real
`EventStore` (WAL, ``synchronous=FULL``) on the database path it is given and
reports to the parent on stdout, one line per fact, flushed at once:

``race DB KEY GO_DIR NAME STREAM EXPECTED``
    Open the store, create ``GO_DIR/ready-NAME``, wait until ``GO_DIR/go``
    exists (the start barrier), then append one event to STREAM with
    ``expected_version=EXPECTED``. Prints ``won SEQ VERSION T0 T1`` and exits 0,
    or prints ``conflict EXPECTED ACTUAL T0 T1`` and exits with
    `ConcurrencyError.exit_code` (3). T0/T1 are ``time.monotonic_ns()`` around
    the ``append`` call (the clock is system wide on Linux, so the parent can
    compare the two processes' windows).

``many DB KEY GO_DIR NAME COUNT``
    Open the store, create ``GO_DIR/ready-NAME``, wait for ``GO_DIR/go``, then
    make COUNT single-event appends: even ``i`` to the process's own stream
    ``worker:NAME`` with the exact expected version (nobody else writes there),
    odd ``i`` to the shared stream ``shared:all`` with ``expected_version=None``.
    The payload is ``{"worker": NAME, "i": i}``. At the end prints one line
    ``times START END SLOWEST`` (``time.monotonic_ns()`` before the first and
    after the last append, and the longest single append in ns), then
    ``seqs S0 S1 ...`` (the seq each append returned, in order) and exits 0.

``batches DB KEY RUN BATCH_SIZE``
    Append batches of BATCH_SIZE events to stream ``crash:run-RUN`` forever
    (until killed), each event's payload ``{"run": RUN, "batch": B,
    "index": I}``. Prints ``ready`` once the store is open, then after each
    ``append`` has returned ``ack B FIRST_SEQ LAST_SEQ``.

``checkpoints DB KEY RUN``
    Loop forever: append one event to ``ckpt:run-RUN``, then call
    ``store.checkpoint()`` a few times. Prints ``ready`` once the store is open
    and ``ckpt SIZE`` after every checkpoint that returned.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from ra.events import ConcurrencyError, EventStore, NewEvent


def _open(db: str, key: str) -> EventStore:
    return EventStore(Path(db), key_path=Path(key))


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _barrier(go_dir: str, name: str) -> None:
    """Announce readiness, then spin until the parent creates ``go``."""
    folder = Path(go_dir)
    (folder / f"ready-{name}").touch()
    go = str(folder / "go")
    deadline = time.monotonic() + 60
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            _say("barrier timeout")
            raise SystemExit(10)
        time.sleep(0.0002)


def race(db: str, key: str, go_dir: str, name: str, stream: str, expected: str) -> int:
    store = _open(db, key)
    _barrier(go_dir, name)
    event = NewEvent("race.attempted", {"worker": name, "expected": int(expected)})
    t0 = time.monotonic_ns()
    try:
        [recorded] = store.append(stream, int(expected), [event])
    except ConcurrencyError as exc:
        t1 = time.monotonic_ns()
        _say(f"conflict {exc.expected} {exc.actual} {t0} {t1}")
        return exc.exit_code
    t1 = time.monotonic_ns()
    _say(f"won {recorded.seq} {recorded.stream_version} {t0} {t1}")
    store.close()
    return 0


def many(db: str, key: str, go_dir: str, name: str, count: str) -> int:
    store = _open(db, key)
    _barrier(go_dir, name)
    own = f"worker:{name}"
    seqs: list[int] = []
    slowest = 0
    started = time.monotonic_ns()
    for i in range(int(count)):
        event = NewEvent("load.appended", {"worker": name, "i": i})
        t0 = time.monotonic_ns()
        if i % 2 == 0:
            [recorded] = store.append(own, i // 2, [event])
        else:
            [recorded] = store.append("shared:all", None, [event])
        slowest = max(slowest, time.monotonic_ns() - t0)
        seqs.append(recorded.seq)
    _say(f"times {started} {time.monotonic_ns()} {slowest}")
    _say("seqs " + " ".join(map(str, seqs)))
    store.close()
    return 0


def batches(db: str, key: str, run: str, batch_size: str) -> int:
    store = _open(db, key)
    stream = f"crash:run-{run}"
    size = int(batch_size)
    _say("ready")
    batch = 0
    while True:
        events = [
            NewEvent("crash.appended", {"run": int(run), "batch": batch, "index": index})
            for index in range(size)
        ]
        recorded = store.append(stream, batch * size, events)
        _say(f"ack {batch} {recorded[0].seq} {recorded[-1].seq}")
        batch += 1


def checkpoints(db: str, key: str, run: str) -> int:
    store = _open(db, key)
    stream = f"ckpt:run-{run}"
    _say("ready")
    n = 0
    while True:
        store.append(stream, None, [NewEvent("ckpt.appended", {"run": int(run), "n": n})])
        n += 1
        for _ in range(3):
            checkpoint = store.checkpoint()
            _say(f"ckpt {checkpoint.tree_size}")


MODES = {"race": race, "many": many, "batches": batches, "checkpoints": checkpoints}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in MODES:
        _say(f"usage: appender.py {{{','.join(MODES)}}} ARGS...")
        return 2
    return MODES[argv[0]](*argv[1:])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
