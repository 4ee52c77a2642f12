"""Write an export bundle: rows, the events they are read from, a proof, a signed manifest.

A bundle is a folder (or one ``.zip`` holding the same files)::

    consent.csv ...        the rows, one file per export (csv or jsonl)
    sql/consent.sql ...    the SQL each file was made with (ra.exports), and
    sql/shared.sql         the SQL they all read after (it reads the log once, and
                           says which rows the filters keep)
    events.jsonl           the canonical body of every event a row is read from, by seq
    proof.json             one inclusion proof for all of them (`ra.exports.multiproof`)
                           against the root the checkpoint signed
    manifest.json          what the bundle holds, signed with the log's key

The export is cut at a checkpoint it signs first (`EventStore.checkpoint`):
the SQL reads only the events that checkpoint covers (``:size``), so every
row rests on events the signed root holds. The manifest names each file with
its SHA-256, size and row count, the filters, the checkpoint (statement and
signature) and the public key; ``signature`` is Ed25519 over the canonical
bytes of ``manifest`` by the same key that signs the log's checkpoints.

Memory stays flat in the number of rows: rows go to their file as the
query returns them, the events to cite are marked in a byte per event, and
only those are read back from the log, by seq. The proof is one multiproof
for all of them, made in one walk over the leaf hashes.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ra.errors import InputError
from ra.events import canonical
from ra.events.checkpoint import public_bytes
from ra.events.model import format_time, utc_now
from ra.events.signed import sign_statement
from ra.events.store import EventStore
from ra.exports import KINDS, derive, multiproof
from ra.exports import sql as export_sql
from ra.fingerprint import key_fingerprint

FORMAT = "ra-export"
VERSION = 1
EVENTS_FILE = "events.jsonl"
PROOF_FILE = "proof.json"
MANIFEST_FILE = "manifest.json"
#: How many cited events are read from the log at a time (by seq).
CHUNK = 500
#: A fixed time for the zip's entries: the same bundle makes the same zip.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)

Progress = Callable[[int, int | None], None]


class ExportError(InputError):
    """The export cannot be written where it was asked to go."""


@dataclass(frozen=True)
class ExportResult:
    out: Path
    rows: dict[str, int]
    events: int
    tree_size: int
    root: str
    key_fingerprint: str


def _nothing(done: int, total: int | None) -> None:
    return None


def export(
    store: EventStore,
    what: Sequence[str],
    out: Path,
    *,
    fmt: str = "csv",
    filters: derive.Filters | None = None,
    progress: Progress = _nothing,
) -> ExportResult:
    """Write a bundle of exports `what` (names from `KINDS`) to `out` (a new folder or .zip)."""
    filters = filters or derive.Filters()
    if fmt not in derive.FORMATS:
        raise ExportError(f"the format must be csv or jsonl, not {fmt!r}")
    unknown = [name for name in what if name not in KINDS]
    if unknown or not what:
        raise ExportError(f"no export {', '.join(unknown) or '(none)'}; "
                          f"the exports are: {', '.join(KINDS)}")
    as_zip = out.name.lower().endswith(".zip")
    if out.exists() or out.is_symlink():
        raise ExportError(f"{out} already exists; give a new folder or .zip")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise ExportError(f"cannot write {out}: the folder {parent} does not exist")
    try:
        work = Path(tempfile.mkdtemp(prefix=".ra-export-", dir=parent))
    except OSError as exc:
        raise ExportError(f"cannot write in {parent}: {exc.strerror}") from None
    try:
        result = _write(store, list(what), work, fmt, filters, progress)
        if as_zip:
            _zip(work, out)
        else:
            os.chmod(work, 0o755 & ~_umask())
            os.rename(work, out)
    except OSError as exc:
        raise ExportError(f"cannot write {out}: {exc.strerror}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ExportResult(out, result[0], result[1], result[2], result[3], result[4])


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write(store: EventStore, what: list[str], folder: Path, fmt: str,
           filters: derive.Filters, progress: Progress
           ) -> tuple[dict[str, int], int, int, str, str]:
    checkpoint = store.checkpoint()
    size = checkpoint.tree_size
    cited = bytearray(size)
    files: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    total = size * (len(what) + 1)
    conn = store.conn
    conn.execute("BEGIN")  # one snapshot for every query (events after `size` are not read)
    try:
        derive.share(conn, size, filters)
        files.update(_sql_file(folder, derive.SHARED))
        for index, name in enumerate(what):
            file_name = f"{name}.{fmt}"
            count = 0
            with _Hashed(folder / file_name) as sink:
                cols, found = derive.run(conn, name)
                if fmt == "csv":
                    sink.write(derive.csv_line(cols))
                for row in found:
                    seqs = derive.seqs_of(row)
                    for seq in seqs:
                        cited[seq] = 1
                    sink.write(derive.csv_line(derive.csv_cells(row, cols)) if fmt == "csv"
                               else derive.jsonl_line(row))
                    count += 1
                    if count % 256 == 0 and seqs:
                        progress(index * size + seqs[0], total)
            counts[name] = count
            files[file_name] = {**sink.entry(), "rows": count, "export": name,
                                "sql": f"sql/{name}.sql"}
            files.update(_sql_file(folder, name))
        done = len(what) * size
        seqs_cited = list(itertools.compress(range(size), cited))
        with _Hashed(folder / EVENTS_FILE) as sink:
            for start in range(0, len(seqs_cited), CHUNK):
                chunk = seqs_cited[start:start + CHUNK]
                marks = ",".join("?" * len(chunk))
                for _, body in conn.execute(
                        f"SELECT seq, body FROM events WHERE seq IN ({marks}) ORDER BY seq",
                        chunk):
                    text = body if isinstance(body, str) else bytes(body).decode("utf-8")
                    sink.write(text + "\n")
                progress(done + chunk[-1], total)
        files[EVENTS_FILE] = {**sink.entry(), "events": len(seqs_cited)}
        leaves = store.leaf_hashes(size)
    finally:
        derive.unshare(conn)
        conn.execute("COMMIT")
    hashes = multiproof.prove(seqs_cited, leaves)
    del leaves
    proof = {"format": multiproof.FORMAT, "tree_size": size, "root": checkpoint.root.hex(),
             "hashes": [h.hex() for h in hashes]}
    with _Hashed(folder / PROOF_FILE) as sink:
        sink.write(canonical.dumps(proof) + "\n")
    files[PROOF_FILE] = sink.entry()
    progress(total, total)
    key = store.signing_key
    public = public_bytes(key)
    manifest = {
        "created_at": format_time(utc_now()),
        "what": what,
        "row_format": fmt,
        "filters": filters.to_json(),
        "checkpoint": {"statement": checkpoint.statement(),
                       "signature": base64.b64encode(checkpoint.signature).decode("ascii")},
        "files": files,
        "public_key": base64.b64encode(public).decode("ascii"),
        "key_fingerprint": key_fingerprint(public),
    }
    signature = sign_statement(key, manifest)
    doc = {"format": FORMAT, "version": VERSION, "manifest": manifest,
           "signature": base64.b64encode(signature).decode("ascii")}
    (folder / MANIFEST_FILE).write_bytes(canonical.encode(doc) + b"\n")
    return counts, len(seqs_cited), size, checkpoint.root.hex(), key_fingerprint(public)


def _sql_file(folder: Path, name: str) -> dict[str, dict[str, Any]]:
    """Write ``sql/<name>.sql``; its manifest entry."""
    sql_name = f"sql/{name}.sql"
    (folder / "sql").mkdir(exist_ok=True)
    with _Hashed(folder / sql_name) as sink:
        sink.write(export_sql(name))
    return {sql_name: sink.entry()}


class _Hashed:
    """A text file written as UTF-8, with its SHA-256 and size kept as it goes."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "wb")  # noqa: SIM115 - closed by __exit__
        self._hash = hashlib.sha256()
        self._bytes = 0
        self._pending: list[bytes] = []
        self._pending_size = 0

    def write(self, text: str) -> None:
        data = text.encode("utf-8")
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= 1 << 20:
            self._flush()

    def _flush(self) -> None:
        data = b"".join(self._pending)
        self._hash.update(data)
        self._file.write(data)
        self._bytes += len(data)
        self._pending, self._pending_size = [], 0

    def entry(self) -> dict[str, Any]:
        return {"sha256": self._hash.hexdigest(), "bytes": self._bytes}

    def __enter__(self) -> _Hashed:
        return self

    def __exit__(self, *exc: object) -> None:
        self._flush()
        self._file.close()


def _zip(folder: Path, out: Path) -> None:
    partial = out.with_name(out.name + ".partial")
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                with path.open("rb") as source, archive.open(info, "w") as target:
                    shutil.copyfileobj(source, target, 1 << 20)
        os.replace(partial, out)
    finally:
        if partial.exists():
            partial.unlink()


__all__ = ["EVENTS_FILE", "FORMAT", "MANIFEST_FILE", "PROOF_FILE", "ExportError",
           "ExportResult", "export"]
