"""Verification: recompute the log and check every signed statement about it.

`verify_log` reads every event once, in seq order, and checks that

1. seq runs 0, 1, 2, ... with no gap and no repeat;
2. each body hashes to the leaf hash stored beside it (an edit by someone who
   did not also rewrite the hash is caught at its exact position);
3. each body names its own seq (rows moved or swapped are caught where they
   stand);
4. the Merkle root recomputed from the bodies at each checkpoint's size
   equals the signed root (an attacker who rewrote bodies *and* hashes is
   caught by the first checkpoint after the change);
5. every checkpoint's Ed25519 signature holds, was made by this log's key,
   and covers no more events than the log has (a truncated tail is caught);
   every session receipt still matches the session's events (`receipts`);
6. the stored tree state matches the recomputed tree, and the append-only
   triggers are in place.

Checkpoints given from files (kept off the machine) are checked the same way;
they catch a log that was rebuilt from scratch and re-signed with a new key.

The leaf hash covers the stored canonical bytes, so verification never
re-encodes JSON: it hashes what is on disk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ra.events.checkpoint import Checkpoint, public_bytes
from ra.events.errors import StoreError
from ra.events.merkle import EMPTY_ROOT, Frontier, MerkleError
from ra.events.receipts import check_receipts
from ra.events.store import EventStore

_SEQ_KEY = b',"seq":'


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the log.

    `position` is the first seq it touches; `exact` says whether the problem
    was seen at that very event (a bad hash, a gap) or only bounds a range
    (a checkpoint whose root no longer matches: the change is at or after
    `position`).
    """

    position: int | None
    what: str
    exact: bool = True

    def __str__(self) -> str:
        where = "log" if self.position is None else f"seq {self.position}"
        return f"{where}: {self.what}"


@dataclass
class VerifyReport:
    size: int = 0
    root: bytes = EMPTY_ROOT
    checkpoints_checked: int = 0
    external_checked: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        """The earliest problem seen at an exact position, else the narrowest bound."""
        for exact in (True, False):
            placed = [p for p in self.problems if p.position is not None and p.exact == exact]
            if placed:
                return min(placed, key=lambda p: p.position or 0)
        return self.problems[0] if self.problems else None

    @property
    def other_problems(self) -> list[Problem]:
        first = self.first_problem
        return [p for p in self.problems if p is not first]

    def summary(self) -> str:
        if self.ok:
            return (
                f"log intact: {self.size} events, root {self.root.hex()}, "
                f"{self.checkpoints_checked} stored and {self.external_checked} "
                "external checkpoints verified"
            )
        first = self.first_problem
        return f"log TAMPERED: {first} ({len(self.problems)} problem(s) found)"


def verify_log(
    store: EventStore,
    external: Sequence[Checkpoint] = (),
    *,
    progress: Callable[[int, int], None] | None = None,
    batch: int = 20_000,
) -> VerifyReport:
    """Check the whole log; never raises for tampering, reports it.

    Everything is read in one read transaction: one WAL snapshot, so appends
    committed meanwhile by other processes are neither seen nor confusing.
    """
    conn = store.conn
    conn.execute("BEGIN")
    try:
        return _verify(store, external, progress, batch)
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")


def _verify(
    store: EventStore,
    external: Sequence[Checkpoint],
    progress: Callable[[int, int], None] | None,
    batch: int,
) -> VerifyReport:
    report = VerifyReport()
    problems = report.problems
    stored = _stored_checkpoints(store, problems)
    wanted_sizes = {c.tree_size for c in stored} | {c.tree_size for c in external}
    roots_at: dict[int, bytes] = {}
    if 0 in wanted_sizes:
        roots_at[0] = EMPTY_ROOT

    frontier = Frontier()
    append = frontier.append
    sha256 = hashlib.sha256
    expected = 0
    total = store.size()
    cursor = store.conn.execute("SELECT seq, CAST(body AS BLOB), leaf FROM events ORDER BY seq")
    while True:
        rows = cursor.fetchmany(batch)
        if not rows:
            break
        for seq, body, leaf in rows:
            if seq != expected:
                if seq > expected:
                    what = (f"missing (the next stored event is seq {seq}): "
                            "events were deleted")
                    problems.append(Problem(expected, what))
                else:
                    problems.append(Problem(seq, "appears twice"))
                expected = seq
            digest = sha256(b"\x00" + body).digest()
            if digest != leaf:
                problems.append(Problem(seq, "its content does not match its recorded hash "
                                             "(the event was edited)"))
            at = body.rfind(_SEQ_KEY) + 7
            if not body.startswith(b"%d," % seq, at) and not body.startswith(b"%d}" % seq, at):
                problems.append(Problem(seq, "holds an event recorded at another position "
                                             "(rows were moved, swapped or inserted)"))
            append(digest)
            expected += 1
            if expected in wanted_sizes:
                roots_at[expected] = frontier.root()
        if progress is not None:
            progress(expected, total)
    report.size = frontier.size
    report.root = frontier.root() if frontier.size else EMPTY_ROOT

    _check_tree_state(store, report)
    public_key = public_bytes(store.signing_key)
    for index, checkpoint in enumerate(stored, start=1):
        _check_checkpoint(checkpoint, f"stored checkpoint #{index}", roots_at, report,
                          public_key, stored)
        report.checkpoints_checked += 1
    for index, checkpoint in enumerate(external, start=1):
        _check_checkpoint(checkpoint, f"external checkpoint #{index}", roots_at, report,
                          public_key, stored)
        report.external_checked += 1
    for seq, what in check_receipts(store):
        problems.append(Problem(seq, what))
    missing = store.missing_triggers()
    if missing:
        problems.append(Problem(None, "the append-only triggers were removed: "
                                      + ", ".join(missing)))
    return report


def _stored_checkpoints(store: EventStore, problems: list[Problem]) -> list[Checkpoint]:
    try:
        return store.checkpoints()
    except (StoreError, ValueError) as exc:
        problems.append(Problem(None, f"a stored checkpoint is unreadable: {exc}"))
        return []


def _check_tree_state(store: EventStore, report: VerifyReport) -> None:
    row = store.conn.execute("SELECT size, frontier FROM tree_state WHERE id = 1").fetchone()
    if row is None:
        report.problems.append(Problem(None, "the tree state record is missing"))
        return
    size, blob = int(row[0]), bytes(row[1])
    try:
        state = Frontier.from_bytes(size, blob)
        state_root = state.root() if size else EMPTY_ROOT
    except MerkleError:
        report.problems.append(Problem(None, "the stored tree state is damaged"))
        return
    if size != report.size or state_root != report.root:
        report.problems.append(Problem(
            None,
            f"the stored tree state ({size} events, root {state_root.hex()[:16]}…) does not "
            f"match the events ({report.size} events, root {report.root.hex()[:16]}…)",
        ))


def _check_checkpoint(
    checkpoint: Checkpoint,
    name: str,
    roots_at: dict[int, bytes],
    report: VerifyReport,
    public_key: bytes,
    stored: Sequence[Checkpoint],
) -> None:
    problems = report.problems
    if not checkpoint.signature_holds():
        problems.append(Problem(None, f"{name}: its signature does not hold"))
        return
    if checkpoint.public_key != public_key:
        problems.append(Problem(None, (
            f"{name} was signed by key {checkpoint.key_fingerprint[:16]}…, "
            f"not by this log's key {_fp(public_key)[:16]}…: the log or its key was replaced"
        )))
    size = checkpoint.tree_size
    if size > report.size:
        problems.append(Problem(report.size, (
            f"{name} (signed {checkpoint.time}) covers {size} events but the log has "
            f"{report.size}: the tail was truncated"
        )))
        return
    if roots_at.get(size) != checkpoint.root:
        low = max((c.tree_size for c in stored
                   if c.tree_size < size and roots_at.get(c.tree_size) == c.root),
                  default=0)
        problems.append(Problem(low, (
            f"{name} (signed {checkpoint.time}) does not match: the first {size} events "
            f"were changed (somewhere in seq {low}..{size - 1})"
        ), exact=False))


def _fp(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()
