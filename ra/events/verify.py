"""Verification: recompute the log and check every signed statement about it.

`verify_log` reads every event once, in seq order, and checks that

1. seq runs 0, 1, 2, ... with no gap and no repeat;
2. each body hashes to the leaf hash its span holds for it (an edit by
   someone who did not also rewrite the hash is caught at its exact
   position);
3. each body ends with its own seq, and with the stream and version its
   span gives it (rows moved, swapped or inserted are caught where they
   stand), and the stream index agrees: the spans tile the log with no gap
   or overlap, and every stream's versions run 1, 2, 3, ... (`_Spans`);
4. the Merkle root recomputed from the bodies at each checkpoint's size
   equals the signed root (an attacker who rewrote bodies *and* hashes is
   caught by the first checkpoint after the change);
5. every checkpoint's Ed25519 signature holds, was made by this log's key,
   and covers no more events than the log has (a truncated tail is caught);
   every session receipt still matches the session's events (`receipts`);
6. the stored tree state (a copy of the frontier at some earlier size)
   matches the recomputed tree at its size, the append-only triggers and the
   stream index are in place, and the `audit_log` view is the one ra made.

Checkpoints given from files (kept off the machine) are checked the same way;
they catch a log that was rebuilt from scratch and re-signed with a new key.

The leaf hash covers the stored canonical bytes, so verification never
re-encodes JSON: it hashes what is on disk. The log is read in aligned
blocks of 4,096 events (large logs by one process per core, each taking a
run of blocks); each block's tree is built a level at a time, and the
blocks' subtree roots are folded into the roots at every checkpoint's size
(`merkle.join_roots`); `progress` hears of every block as it is checked, from
whichever worker checked it. The fast path takes seq to run 0, 1, 2, ... (it reads
`min(seq)` and `max(seq)`, and each block checks its own first and last
seq and its row count); if it does not, the slow path reads the log row by
row and names every gap.

Within a block, the rows of one span are checked as a run: their leaf
hashes against the span's in one comparison, and their seq, stream and
version text (check 3) by `_run_check`.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from ra.events.checkpoint import Checkpoint, public_bytes
from ra.events.errors import StoreError
from ra.events.merkle import EMPTY_ROOT, Frontier, MerkleError, join_roots
from ra.events.receipts import RECEIPT_TYPE, check_receipts
from ra.events.store import LEAF, EventStore

BLOCK = 1 << 12
PARALLEL_MIN = 1 << 18
#: How often the parent gathers its workers' block reports for `progress`.
PROGRESS_S = 0.1
_SEQ_KEY = b',"seq":'
_RECEIPT_TAIL = b'"type":"%s"}' % RECEIPT_TYPE.encode()
_TAIL = b',"seq":%d,"stream":"%s","stream_version":%d,"type":"'

_SELECT = (
    "SELECT seq, CAST(body AS BLOB), CAST(span_stream AS BLOB), span_last, "
    "CAST(span_leaves AS BLOB) FROM events"
)


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


@dataclass
class _Scan:
    """What one pass over a run of rows found."""

    problems: list[Problem] = field(default_factory=list)
    receipts: list[int] = field(default_factory=list)
    #: block index -> the block's subtree roots at its end (one hash when complete)
    blocks: dict[int, list[bytes]] = field(default_factory=dict)
    #: global size -> the subtree roots of its last, partial block at that size
    snapshots: dict[int, list[bytes]] = field(default_factory=dict)
    rows: int = 0
    #: stream -> (seq, first version) of its first span that starts in this range
    firsts: dict[bytes, tuple[int, int]] = field(default_factory=dict)
    #: stream -> the last version of its last span that starts in this range
    lasts: dict[bytes, int] = field(default_factory=dict)
    #: where the last span that starts in this range ends (seq after its last event)
    span_end: int = 0
    #: seq does not run lo, lo + 1, ... in this range: the scan stopped early
    gapped: bool = False


def verify_log(
    store: EventStore,
    external: Sequence[Checkpoint] = (),
    *,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> VerifyReport:
    """Check the whole log; never raises for tampering, reports it.

    Everything is read in one read transaction: one WAL snapshot, so appends
    committed meanwhile by other processes are neither seen nor confusing.
    """
    conn = store.conn
    conn.execute("BEGIN")
    try:
        return _verify(store, external, progress, workers)
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")


def _verify(
    store: EventStore,
    external: Sequence[Checkpoint],
    progress: Callable[[int, int], None] | None,
    workers: int | None,
) -> VerifyReport:
    report = VerifyReport()
    problems = report.problems
    stored = _stored_checkpoints(store, problems)
    # min and max apart: each is one look at an end of the table (together,
    # or with count, they would read it all). The scan counts the rows.
    (low,) = store.conn.execute("SELECT min(seq) FROM events").fetchone()
    (high,) = store.conn.execute("SELECT max(seq) FROM events").fetchone()
    count = 0 if high is None else high + 1
    state = _tree_state(store, problems)
    wanted = {c.tree_size for c in stored} | {c.tree_size for c in external} | {count}
    if state is not None:
        wanted.add(state.size)
    scanned = None
    if low in (None, 0):
        scanned = _scan_blocks(store, count, wanted, problems, progress, workers)
    if scanned is None:  # seq has gaps: the slow path names each one
        (rows,) = store.conn.execute("SELECT count(*) FROM events").fetchone()
        roots_at, size = _scan_with_gaps(store, wanted, problems, progress, rows)
        receipts = [seq for (seq,) in store.conn.execute(
            "SELECT seq FROM events WHERE json_extract(body, '$.type') = ?", (RECEIPT_TYPE,))]
    else:
        roots_at, receipts = scanned
        size = count
    report.size = size
    report.root = roots_at.get(size, EMPTY_ROOT)

    if state is not None:
        _check_tree_state(state, roots_at, report)
    public_key = public_bytes(store.signing_key)
    for index, checkpoint in enumerate(stored, start=1):
        _check_checkpoint(checkpoint, f"stored checkpoint #{index}", roots_at, report,
                          public_key, stored)
        report.checkpoints_checked += 1
    for index, checkpoint in enumerate(external, start=1):
        _check_checkpoint(checkpoint, f"external checkpoint #{index}", roots_at, report,
                          public_key, stored)
        report.external_checked += 1
    for seq, what in check_receipts(store, receipts):
        problems.append(Problem(seq, what))
    problems += [Problem(None, what) for what in store.schema_problems()]
    return report


# -- the fast path: seq is 0..n-1, read in aligned blocks --------------------------


def _scan_blocks(
    store: EventStore,
    count: int,
    wanted: set[int],
    problems: list[Problem],
    progress: Callable[[int, int], None] | None,
    workers: int | None,
) -> tuple[dict[int, bytes], list[int]] | None:
    """The roots at each wanted size and the receipts' seqs, or None if seq has gaps."""
    blocks = (count + BLOCK - 1) // BLOCK
    if workers is None:
        workers = min(os.cpu_count() or 1, 4) if count >= PARALLEL_MIN else 1
    workers = max(1, min(workers, blocks))
    scans: list[_Scan] = []
    if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
        # Each worker takes a contiguous run of blocks; rows below `count` never
        # change, so the workers' own snapshots agree with ours.
        cuts = [blocks * i // workers for i in range(workers + 1)]
        ranges = [(cuts[i] * BLOCK, min(cuts[i + 1] * BLOCK, count)) for i in range(workers)]
        context = multiprocessing.get_context("fork")
        # Each worker reports every block it has checked on `blocks_done`
        # (inherited at fork); the rows checked so far are their sum.
        blocks_done = context.SimpleQueue() if progress is not None else None
        checked = {lo: 0 for lo, _ in ranges}

        def take_reports() -> None:
            while blocks_done is not None and not blocks_done.empty():
                lo, rows = blocks_done.get()
                checked[lo] = rows
                if progress is not None:
                    progress(sum(checked.values()), count)

        with ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                 initializer=_report_blocks_to, initargs=(blocks_done,)) as pool:
            futures = [pool.submit(_scan_file, str(store.path), lo, hi, wanted)
                       for lo, hi in ranges]
            pending = set(futures)
            while pending:
                _, pending = wait(pending, timeout=PROGRESS_S)
                take_reports()
            scans += [future.result() for future in futures]
        take_reports()  # a worker reports each block before it returns its result
    else:
        scans.append(_scan_range(store.conn, 0, count, wanted, progress, count))
    if any(scan.gapped for scan in scans):
        return None
    merged = _Scan()
    versions: dict[bytes, int] = {}
    for scan in scans:
        merged.problems += scan.problems
        merged.receipts += scan.receipts
        merged.blocks.update(scan.blocks)
        merged.snapshots.update(scan.snapshots)
        for stream, (seq, first) in scan.firsts.items():
            _chain(versions.get(stream, 0), first, stream, seq, merged.problems)
        versions.update(scan.lasts)
    if scans and scans[-1].span_end > count:
        merged.problems.append(Problem(count, (
            f"the stream index says the log goes on to seq {scans[-1].span_end - 1}, but it "
            "ends here (events were removed)")))
    problems += merged.problems
    return _roots(merged, wanted), merged.receipts


#: In a worker process: where to report each block checked (None: nowhere).
_blocks_done: Any = None


def _report_blocks_to(queue: Any) -> None:
    """A worker's initializer: keep the queue it reports its blocks on."""
    global _blocks_done
    _blocks_done = queue


def _scan_file(path: str, lo: int, hi: int, wanted: set[int]) -> _Scan:
    """A worker: open the database read-only and scan seq lo..hi-1."""
    report = None
    if _blocks_done is not None:
        queue = _blocks_done

        def report(done: int, total: int) -> None:
            queue.put((lo, done - lo))

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    try:
        conn.execute("BEGIN")
        return _scan_range(conn, lo, hi, wanted, report, hi)
    finally:
        conn.close()


def _scan_range(
    conn: sqlite3.Connection,
    lo: int,
    hi: int,
    wanted: set[int],
    progress: Callable[[int, int], None] | None,
    total: int,
) -> _Scan:
    """Check rows lo..hi-1 (lo is block-aligned) and take their subtree roots.

    The rows are read a block at a time; a block whose seqs do not run on
    from the last one's, or a range short of rows, marks the scan `gapped`
    (the caller starts again on the slow path, which names every gap).
    """
    scan = _Scan()
    problems, receipts = scan.problems, scan.receipts
    spans = _Spans(conn, lo, scan)
    stream, version, leaves, at, end = spans.in_force
    sha256 = hashlib.sha256
    receipt_tail = _RECEIPT_TAIL
    block = lo // BLOCK
    cursor = conn.execute(f"{_SELECT} WHERE seq >= ? AND seq < ? ORDER BY seq", (lo, hi))
    while True:
        rows = cursor.fetchmany(BLOCK)
        if not rows:
            break
        base = block * BLOCK
        if rows[0][0] != base or rows[-1][0] != base + len(rows) - 1:
            scan.gapped = True
            return scan
        digests = [sha256(b"\x00" + row[1]).digest() for row in rows]
        count = len(rows)
        i = 0
        while i < count:
            seq, body, span_stream, span_last, span_leaves = rows[i]
            if span_last is not None:
                stream, version, leaves, at, end = spans.start(
                    seq, span_stream, span_last, span_leaves)
            if seq >= end:  # in no span: `spans` reports the run
                if not _names_seq(body, seq):
                    problems.append(_moved(seq))
                i += 1
                continue
            # The rows from here to the span's end (or to a span that starts
            # inside it: an overlap, which `spans.start` reports), at once.
            j = min(count, i + end - seq)
            j, bad = _run_check(rows, i, j, stream, version)
            size = j - i
            if b"".join(digests[i:j]) != leaves[at:at + LEAF * size]:
                problems += [Problem(rows[k][0], "its content does not match its recorded hash "
                                                 "(the event was edited)")
                             for k in range(i, j)
                             if not leaves.startswith(digests[k], at + LEAF * (k - i))]
            problems += [_misfiled(rows[k][0], rows[k][1], stream, version + k - i)
                         for k in bad]
            version += size
            at += LEAF * size
            i = j
        receipts += [row[0] for row in rows if row[1].endswith(receipt_tail)]
        _take_block(scan, block, digests, wanted)
        block += 1
        scan.rows += len(rows)
        if progress is not None:
            progress(lo + scan.rows, total)
    if scan.rows != hi - lo:
        scan.gapped = True
    spans.finish(hi)
    return scan


def _run_check(rows: list[Any], i: int, j: int, stream: bytes,
               version: int) -> tuple[int, list[int]]:
    """For rows i..j-1 of one span, row i at `version`: the first row after i
    that starts a span of its own (else j), and the rows before it whose body
    does not name its seq, the stream and its version (`_TAIL` at its last
    ``,"seq":``)."""
    stop = next((k for k in range(i + 1, j) if rows[k][3] is not None), j)
    return stop, [k for k in range(i, stop)
                  if not rows[k][1].startswith(_TAIL % (rows[k][0], stream, version + k - i),
                                               rows[k][1].rfind(_SEQ_KEY))]


def _take_block(scan: _Scan, block: int, digests: list[bytes], wanted: set[int]) -> None:
    """Keep the subtree roots of a block of leaf hashes, and of each wanted size in it.

    The tree over the block is built a level at a time (each level the
    hashes of the pairs of the one below; an odd one out, only in a range's
    last block, stays a subtree root), which costs less than pushing leaves
    one by one. The subtree
    roots of its first k leaves are then read off the levels: one node for
    each bit set in k, the largest first.
    """
    sha256 = hashlib.sha256
    levels = [digests]
    level = digests
    while len(level) > 1:
        pairs = iter(level)
        level = [sha256(b"\x01" + left + right).digest()
                 for left, right in zip(pairs, pairs, strict=False)]
        levels.append(level)
    base = block * BLOCK
    scan.blocks[block] = _subtrees(levels, len(digests))
    for size in wanted:  # a size at a block's end has the block's root
        if base < size <= base + len(digests) and size - base < BLOCK:
            scan.snapshots[size] = _subtrees(levels, size - base)


def _subtrees(levels: list[list[bytes]], count: int) -> list[bytes]:
    """The roots of the perfect subtrees over the first `count` leaves, largest first."""
    roots: list[bytes] = []
    start = 0
    for height in range(len(levels) - 1, -1, -1):
        if count >> height & 1:
            roots.append(levels[height][start >> height])
            start += 1 << height
    return roots


#: What `_Spans` hands the scan: the span's stream, the version and the
#: offset in its leaf hashes of the next event, the hashes, and where it ends.
_InForce = tuple[bytes, int, bytes, int, int]


class _Spans:
    """The stream index, checked beside the events as the scan reads them.

    The first event of each append carries that append's span: its stream,
    the stream's version after it (``span_last``) and the leaf hashes of its
    events (so their number, n: they are the next n seqs, versions
    span_last - n + 1 to span_last). `start` is called at each such event:
    it checks the spans leave no gap and do not overlap, and that the
    stream's versions continue from its previous span (within this range;
    `_chain` joins the ranges), and hands the scan the span to check each
    event against.
    """

    def __init__(self, conn: sqlite3.Connection, lo: int, scan: _Scan) -> None:
        self.scan = scan
        self.problems = scan.problems
        self.firsts = scan.firsts
        self.lasts = scan.lasts
        self.end = lo  # where the span in force ends
        self.in_force: _InForce = (b"", 0, b"", 0, lo)
        if lo > 0:  # a range may begin inside a span that began before it
            row = conn.execute(
                "SELECT seq, CAST(span_stream AS BLOB), span_last, CAST(span_leaves AS BLOB) "
                "FROM events "
                "WHERE seq < ? AND span_last IS NOT NULL ORDER BY seq DESC LIMIT 1", (lo,)
            ).fetchone()
            if row is not None:
                first_seq, stream, last, leaves = row
                leaves = bytes(leaves or b"")
                size = len(leaves) // LEAF
                if (first_seq + size > lo and stream is not None and type(last) is int
                        and not len(leaves) % LEAF):
                    self.end = scan.span_end = first_seq + size
                    skip = lo - first_seq
                    self.in_force = (stream, last - size + 1 + skip, leaves, skip * LEAF,
                                     self.end)

    def start(self, seq: int, stream: bytes | None, last: int,
              leaves: bytes | None) -> _InForce:
        if self.end != seq:
            what = (f"events {self.end} to {seq - 1} are in no span of the stream index"
                    if self.end < seq else
                    f"its span overlaps the span before it (which ends at seq {self.end - 1})")
            self.problems.append(Problem(min(self.end, seq), what))
        hashes = b"" if leaves is None else bytes(leaves)
        size, odd = divmod(len(hashes), LEAF)
        if size < 1 or odd or stream is None or type(last) is not int:
            self.problems.append(Problem(seq, (
                f"its span in the stream index is damaged ({len(hashes)} bytes of leaf "
                f"hashes, stream {stream!r}, last version {last!r})")))
            self.end = self.scan.span_end = seq  # its events read as in no span
            return (b"", 0, b"", 0, seq)
        first = last - size + 1
        if stream in self.lasts:
            _chain(self.lasts[stream], first, stream, seq, self.problems)
        else:
            self.firsts[stream] = (seq, first)
        self.lasts[stream] = last
        self.end = self.scan.span_end = seq + size
        return (stream, first, hashes, 0, self.end)

    def finish(self, hi: int) -> None:
        if self.end < hi:
            self.problems.append(Problem(self.end, (
                f"events {self.end} to {hi - 1} are in no span of the stream index")))


def _chain(before: int, first: int, stream: bytes, seq: int, problems: list[Problem]) -> None:
    if first != before + 1:
        problems.append(Problem(seq, (
            f"{_name(stream)} goes from version {before} to {first} here "
            "(a stream's versions run 1, 2, 3, ...)")))


def _name(stream: bytes) -> str:
    return stream.decode("utf-8", "replace")


def _roots(scan: _Scan, wanted: set[int]) -> dict[int, bytes]:
    """The root at each wanted size, from block roots and partial-block snapshots."""
    roots: dict[int, bytes] = {}
    complete = Frontier()
    for size in sorted(wanted):
        whole, rest = divmod(size, BLOCK)
        while complete.size < whole and complete.size in scan.blocks:
            complete.append(scan.blocks[complete.size][0])
        if complete.size < whole:
            break  # beyond the log: reported by the checkpoint checks
        partial = scan.snapshots.get(size, []) if rest else []
        if rest and not partial:
            continue
        roots[size] = join_roots([*complete.hashes, *partial])
    return roots


def _names_seq(body: bytes, seq: int) -> bool:
    at = body.rfind(_SEQ_KEY) + len(_SEQ_KEY)
    return body.startswith(b"%d," % seq, at) or body.startswith(b"%d}" % seq, at)


def _moved(seq: int) -> Problem:
    return Problem(seq, "holds an event recorded at another position "
                        "(rows were moved, swapped or inserted)")


def _misfiled(seq: int, body: bytes, stream: bytes, version: int) -> Problem:
    if not _names_seq(body, seq):
        return _moved(seq)
    return Problem(seq, f"the stream index says it is {_name(stream)} version {version}, "
                        "but its content says otherwise (the index was altered)")


# -- the slow path: seq has gaps or repeats ------------------------------------------


def _scan_with_gaps(
    store: EventStore,
    wanted: set[int],
    problems: list[Problem],
    progress: Callable[[int, int], None] | None,
    total: int,
) -> tuple[dict[int, bytes], int]:
    """Rows in seq order, one by one, reporting every gap and repeat.

    Each event is still checked against the span that covers it, but not the
    spans' tiling: with events missing or repeated the log is already
    reported, and the spans would only say so again.
    """
    roots_at: dict[int, bytes] = {0: EMPTY_ROOT}
    frontier = Frontier()
    sha256 = hashlib.sha256
    expected = 0
    stream, version, leaves, first, end = b"", 0, b"", 0, 0
    cursor = store.conn.execute(f"{_SELECT} ORDER BY seq")
    while True:
        rows = cursor.fetchmany(20_000)
        if not rows:
            break
        for seq, body, span_stream, span_last, span_leaves in rows:
            if seq != expected:
                if seq > expected:
                    problems.append(Problem(expected, (
                        f"missing (the next stored event is seq {seq}): events were deleted")))
                else:
                    problems.append(Problem(seq, "appears twice"))
                expected = seq
            digest = sha256(b"\x00" + body).digest()
            if type(span_last) is int and span_stream is not None and span_leaves:
                stream, leaves, first = span_stream, bytes(span_leaves), seq
                end = seq + len(leaves) // LEAF
                version = span_last - (end - seq) + 1
            if seq < end:
                skip = seq - first
                if not leaves.startswith(digest, skip * LEAF):
                    problems.append(Problem(seq, "its content does not match its recorded "
                                                 "hash (the event was edited)"))
                if not body.startswith(_TAIL % (seq, stream, version + skip),
                                       body.rfind(_SEQ_KEY)):
                    problems.append(_misfiled(seq, body, stream, version + skip))
            elif not _names_seq(body, seq):
                problems.append(_moved(seq))
            frontier.append(digest)
            expected += 1
            if frontier.size in wanted:
                roots_at[frontier.size] = frontier.root()
        if progress is not None:
            progress(frontier.size, total)
    roots_at[frontier.size] = frontier.root()
    return roots_at, frontier.size


# -- checkpoints and the tree state --------------------------------------------------


def _stored_checkpoints(store: EventStore, problems: list[Problem]) -> list[Checkpoint]:
    try:
        return store.checkpoints()
    except (StoreError, ValueError) as exc:
        problems.append(Problem(None, f"a stored checkpoint is unreadable: {exc}"))
        return []


def _tree_state(store: EventStore, problems: list[Problem]) -> Frontier | None:
    row = store.conn.execute("SELECT size, frontier FROM tree_state WHERE id = 1").fetchone()
    if row is None:
        problems.append(Problem(None, "the tree state record is missing"))
        return None
    try:
        return Frontier.from_bytes(int(row[0]), bytes(row[1]))
    except (MerkleError, TypeError, ValueError):
        problems.append(Problem(None, "the stored tree state is damaged"))
        return None


def _check_tree_state(state: Frontier, roots_at: dict[int, bytes], report: VerifyReport) -> None:
    size = state.size
    state_root = state.root() if size else EMPTY_ROOT
    if size > report.size:
        report.problems.append(Problem(None, (
            f"the stored tree state covers {size} events but the log has {report.size}: "
            "the tail was truncated"
        )))
    elif roots_at.get(size) != state_root:
        report.problems.append(Problem(None, (
            f"the stored tree state ({size} events, root {state_root.hex()[:16]}…) does not "
            f"match the events' tree at that size"
        ), exact=False))


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
    if roots_at.get(size, EMPTY_ROOT if size == 0 else None) != checkpoint.root:
        low = max((c.tree_size for c in stored
                   if c.tree_size < size and roots_at.get(c.tree_size) == c.root),
                  default=0)
        problems.append(Problem(low, (
            f"{name} (signed {checkpoint.time}) does not match: the first {size} events "
            f"were changed (somewhere in seq {low}..{size - 1})"
        ), exact=False))


def _fp(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()
