"""Check an export bundle with nothing but the bundle (and, better, the key to expect).

The checks, in order; every problem is kept, the first is the headline:

1. The manifest is an ra export manifest and its signature holds for the
   public key it names; with ``--key``, that key is the one expected.
2. The checkpoint in the manifest is signed by that same key (a manifest
   re-signed with another key cannot re-sign the log's checkpoint).
3. ``events.jsonl`` holds ra events in seq order, inside the checkpoint's
   tree, and they with ``proof.json`` lead to the checkpoint's signed root
   (`ra.exports.multiproof`): each event is in the log as it stands there.
4. Each data file's rows are the rows its SQL makes from those events under
   the manifest's filters: the check loads the events into an in-memory log
   and runs the SQL shipped with this ra (which must be the bundle's own,
   byte for byte), then compares row by row. The first row that differs is
   named: edited (which column), dropped (a row its events make is missing)
   or added (a row no event makes).
5. Every file has the SHA-256, size and row count the manifest gives it, and
   the bundle holds no file the manifest does not name.

What the bundle says is shown inert (`ra.inert`): it may come from anyone.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ra.errors import InputError
from ra.events import canonical, merkle
from ra.events.checkpoint import Checkpoint, CheckpointError
from ra.events.model import RecordedEvent
from ra.events.signed import statement_signature_holds
from ra.exports import KINDS, derive, multiproof
from ra.exports import sql as export_sql
from ra.exports.bundle import EVENTS_FILE, FORMAT, MANIFEST_FILE, PROOF_FILE, VERSION
from ra.fingerprint import key_fingerprint
from ra.inert import inert

#: The most a manifest may weigh (it names a few files).
MAX_MANIFEST = 1 << 20
#: How much of a cell a problem quotes.
SHOWN = 60


class BundleError(InputError):
    """The path is not an export bundle at all (nothing to check)."""


@dataclass
class CheckReport:
    problems: list[str] = field(default_factory=list)
    key_fingerprint: str = ""
    tree_size: int = 0
    root: str = ""
    rows: dict[str, int] = field(default_factory=dict)
    events: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.ok:
            rows = ", ".join(f"{n} {name} rows" for name, n in self.rows.items()) or "no rows"
            return (f"export verified: {rows} from {self.events} events, all in the log of "
                    f"{self.tree_size} events with root {self.root}, signed by key "
                    f"{self.key_fingerprint}")
        return f"export NOT verified: {self.problems[0]}"


class _Bundle:
    """The files of a folder or a zip, by their names in the bundle."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        if path.is_dir():
            self.names = sorted(p.relative_to(path).as_posix()
                                for p in path.rglob("*") if p.is_file() or p.is_symlink())
        elif path.is_file():
            try:
                self._zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError):
                raise BundleError(f"{path} is neither an export folder nor a zip of one") from None
            self.names = sorted(i.filename for i in self._zip.infolist() if not i.is_dir())
        else:
            raise BundleError(f"no export at {path}")

    def size(self, name: str) -> int:
        if self._zip is not None:
            return self._zip.getinfo(name).file_size
        return (self.path / name).lstat().st_size

    def read(self, name: str, limit: int | None = None) -> bytes:
        """The file's bytes; `name` must be one the bundle lists (never a path outside it)."""
        if name not in self.names:
            raise KeyError(name)
        if limit is not None and self.size(name) > limit:
            raise ValueError(f"{name} is larger than {limit} bytes")
        if self._zip is not None:
            return self._zip.read(name)
        target = self.path / name
        if target.is_symlink():
            raise ValueError(f"{name} is a symbolic link")
        return target.read_bytes()

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def check(path: Path, *, key: str | None = None) -> CheckReport:
    """Check the bundle at `path` (folder or .zip); `key`: the fingerprint to expect."""
    bundle = _Bundle(path)
    try:
        return _check(bundle, key)
    finally:
        bundle.close()


def _check(bundle: _Bundle, key: str | None) -> CheckReport:
    report = CheckReport()
    problems = report.problems
    manifest, signature = _manifest(bundle)
    public = _public_key(manifest)
    report.key_fingerprint = key_fingerprint(public)
    if not statement_signature_holds(public, manifest, signature):
        problems.append("the manifest's signature does not hold for the key it names "
                        "(the manifest was altered)")
    if key is not None and not _same_key(key, report.key_fingerprint):
        problems.append(f"the manifest is signed by key {report.key_fingerprint}, "
                        f"not the expected {inert(key, 80)}")
    checkpoint = _checkpoint(manifest)
    report.tree_size, report.root = checkpoint.tree_size, checkpoint.root.hex()
    if not checkpoint.signature_holds():
        problems.append("the checkpoint's signature does not hold")
    if checkpoint.public_key != public:
        problems.append(f"the checkpoint is signed by key {checkpoint.key_fingerprint}, the "
                        f"manifest by key {report.key_fingerprint}: the manifest was re-signed")
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(
            isinstance(k, str) and isinstance(v, dict) for k, v in files.items()):
        raise BundleError("the manifest does not list its files")
    bodies = _events(bundle, checkpoint, problems)
    report.events = len(bodies)
    _rows(bundle, manifest, files, bodies, checkpoint.tree_size, report)
    _hashes(bundle, files, problems)
    return report


def _manifest(bundle: _Bundle) -> tuple[dict[str, Any], bytes]:
    try:
        data = bundle.read(MANIFEST_FILE, MAX_MANIFEST)
    except KeyError:
        raise BundleError(f"{bundle.path} has no {MANIFEST_FILE}: it is not an ra export") from None
    except (OSError, ValueError) as exc:
        raise BundleError(f"cannot read the manifest: {exc}") from None
    try:
        doc = canonical.strict_loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BundleError("the manifest is not JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise BundleError("the manifest is not an ra export manifest")
    if doc.get("version") != VERSION:
        raise BundleError(f"the manifest is export format {inert(doc.get('version'), 20)}; "
                          f"this ra reads {VERSION}")
    manifest = doc.get("manifest")
    if not isinstance(manifest, dict):
        raise BundleError("the manifest has no manifest")
    try:
        signature = base64.b64decode(str(doc.get("signature", "")), validate=True)
    except ValueError:
        raise BundleError("the manifest's signature is not base64") from None
    return manifest, signature


def _public_key(manifest: dict[str, Any]) -> bytes:
    try:
        public = base64.b64decode(str(manifest.get("public_key", "")), validate=True)
    except ValueError:
        public = b""
    if len(public) != 32:
        raise BundleError("the manifest does not name an Ed25519 public key")
    return public


def _same_key(expected: str, actual: str) -> bool:
    """Whether `expected` (a fingerprint, whole or its first 16+ hex digits, grouped or
    not) names `actual`."""
    compact = "".join(ch for ch in expected.lower() if ch not in " :-…")
    return len(compact) >= 16 and actual.startswith(compact)


def _checkpoint(manifest: dict[str, Any]) -> Checkpoint:
    raw = manifest.get("checkpoint")
    try:
        if not isinstance(raw, dict):
            raise CheckpointError("missing")
        return Checkpoint.from_statement(
            raw.get("statement"), base64.b64decode(str(raw.get("signature", "")), validate=True))
    except (CheckpointError, ValueError):
        raise BundleError("the manifest does not hold a well-formed checkpoint") from None


def _events(bundle: _Bundle, checkpoint: Checkpoint,
            problems: list[str]) -> list[tuple[int, str]]:
    """The bundle's events (seq, body), checked against the checkpoint's root."""
    try:
        data = bundle.read(EVENTS_FILE)
    except KeyError:
        problems.append(f"the bundle has no {EVENTS_FILE}")
        return []
    bodies: list[tuple[int, str]] = []
    seqs: list[int] = []
    leaves: list[bytes] = []
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line:
            continue
        try:
            event = RecordedEvent.from_body(line)
            seq = event.seq
            if type(seq) is not int:
                raise TypeError(seq)
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
            problems.append(f"{EVENTS_FILE} line {number} is not an ra event")
            return []
        if seqs and seq <= seqs[-1]:
            problems.append(f"{EVENTS_FILE} line {number}: seq {seq} is out of order")
            return []
        if not 0 <= seq < checkpoint.tree_size:
            problems.append(f"{EVENTS_FILE} line {number}: seq {seq} is outside the "
                            f"checkpoint's {checkpoint.tree_size} events")
            return []
        seqs.append(seq)
        leaves.append(merkle.leaf_hash(line))
        bodies.append((seq, line.decode("utf-8")))
    try:
        proof = canonical.strict_loads(bundle.read(PROOF_FILE).decode("utf-8"))
        if not isinstance(proof, dict) or proof.get("format") != multiproof.FORMAT:
            raise ValueError("format")
        if proof.get("tree_size") != checkpoint.tree_size:
            raise ValueError("size")
        hashes = [bytes.fromhex(h) for h in proof["hashes"]]
    except KeyError:
        problems.append(f"the bundle has no {PROOF_FILE}")
        return bodies
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError):
        problems.append(f"{PROOF_FILE} is not a proof for this checkpoint")
        return bodies
    try:
        found = multiproof.root_from(seqs, leaves, checkpoint.tree_size, hashes)
    except multiproof.MultiproofError as exc:
        problems.append(f"the events are not proven in the log: {exc}")
        return bodies
    if found != checkpoint.root:
        problems.append(f"the events in {EVENTS_FILE} are not those of the log the checkpoint "
                        "signed (an event was altered, added or removed)")
    return bodies


def _rows(bundle: _Bundle, manifest: dict[str, Any], files: dict[str, dict[str, Any]],
          bodies: list[tuple[int, str]], size: int, report: CheckReport) -> None:
    problems = report.problems
    fmt = manifest.get("row_format")
    if fmt not in derive.FORMATS:
        problems.append("the manifest names no row format (csv or jsonl)")
        return
    try:
        filters = derive.Filters.from_json(manifest.get("filters"))
    except ValueError:
        problems.append("the manifest's filters are malformed")
        return
    if not _same_sql(bundle, derive.SHARED, problems):
        return
    conn = derive.event_database(bodies)
    try:
        derive.share(conn, size, filters)
        for file_name, entry in files.items():
            name = entry.get("export")
            if name is None:
                continue
            if name not in KINDS or file_name != f"{name}.{fmt}":
                problems.append(f"the manifest lists {inert(file_name, SHOWN)} as an export "
                                "this ra does not know")
                continue
            if not _same_sql(bundle, name, problems):
                continue
            try:
                data = bundle.read(file_name)
            except KeyError:
                problems.append(f"the bundle has no {file_name}")
                continue
            cols, rows = derive.run(conn, name)
            derived = list(rows)
            found = _parse(data, fmt, cols, file_name, problems)
            if found is None:
                continue
            report.rows[name] = len(found)
            expected = [derive.csv_cells(r, cols) if fmt == "csv" else r for r in derived]
            problem = _first_difference(file_name, cols, found, expected)
            if problem:
                problems.append(problem)
    finally:
        conn.close()


def _same_sql(bundle: _Bundle, name: str, problems: list[str]) -> bool:
    """Whether the bundle's ``sql/<name>.sql`` is the one this ra runs (else say so)."""
    sql_name = f"sql/{name}.sql"
    try:
        shipped = bundle.read(sql_name)
    except (KeyError, OSError, ValueError):
        shipped = b""
    if shipped != export_sql(name).encode("utf-8"):
        what = "reads the log with" if name == derive.SHARED else f"makes {name} rows with"
        problems.append(f"{sql_name} is not the SQL this ra {what} "
                        "(exported by another version?)")
        return False
    return True


def _parse(data: bytes, fmt: str, cols: list[str], file_name: str,
           problems: list[str]) -> list[Any] | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        problems.append(f"{file_name} is not UTF-8 text")
        return None
    if fmt == "csv":
        try:
            lines = list(csv.reader(io.StringIO(text, newline="")))
        except csv.Error:
            problems.append(f"{file_name} is not CSV")
            return None
        if not lines or lines[0] != cols:
            problems.append(f"{file_name}: the header is not the columns of its export")
            return None
        return lines[1:]
    found = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line:
            continue
        try:
            found.append(json.loads(line))
        except ValueError:
            problems.append(f"{file_name} row {number} is not JSON")
            return None
    return found


def _describe(row: Any, cols: list[str]) -> str:
    values = dict(zip(cols, row, strict=False)) if isinstance(row, list) else row
    if not isinstance(values, dict):
        return ""
    seqs = values.get("seqs")
    first = values.get(cols[0]) if cols else None
    return f" ({cols[0]} {inert(first, SHOWN)}, events {inert(seqs, SHOWN)})"


def _first_difference(file_name: str, cols: list[str], found: list[Any],
                      expected: list[Any]) -> str | None:
    """The first row where the file and the rows its events make part ways, in words."""
    for index in range(max(len(found), len(expected))):
        have = found[index] if index < len(found) else None
        want = expected[index] if index < len(expected) else None
        if have == want:
            continue
        number = index + 1
        if have is None or (index + 1 < len(expected) and have == expected[index + 1]):
            return (f"{file_name} row {number}: a row its events make is missing"
                    f"{_describe(want, cols)}: a row was dropped")
        if want is None or (index + 1 < len(found) and found[index + 1] == want):
            return (f"{file_name} row {number}{_describe(have, cols)} is made by none of the "
                    "bundle's events: a row was added")
        return f"{file_name} row {number}{_describe(want, cols)} was edited: " + _column(
            cols, have, want)
    return None


def _column(cols: list[str], have: Any, want: Any) -> str:
    for position, col in enumerate(cols):
        if isinstance(have, list):
            got = have[position] if position < len(have) else None
            said = want[position]
        else:
            got = have.get(col) if isinstance(have, dict) else None
            said = want.get(col)
        if got != said:
            return (f"{col} is {inert(got, SHOWN)!s}, its events say "
                    f"{inert(said, SHOWN)!s}")
    return "it has other columns than its export"


def _hashes(bundle: _Bundle, files: dict[str, dict[str, Any]], problems: list[str]) -> None:
    for name, entry in files.items():
        if PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name).parts:
            problems.append(f"the manifest names a file outside the bundle: {inert(name, SHOWN)}")
            continue
        try:
            data = bundle.read(name)
        except KeyError:
            problems.append(f"{inert(name, SHOWN)} is missing")
            continue
        except (OSError, ValueError) as exc:
            problems.append(f"cannot read {inert(name, SHOWN)}: {exc}")
            continue
        if hashlib.sha256(data).hexdigest() != entry.get("sha256") or \
                len(data) != entry.get("bytes"):
            problems.append(f"{inert(name, SHOWN)} is not the file the manifest names "
                            "(its SHA-256 differs)")
    for name in bundle.names:
        if name != MANIFEST_FILE and name not in files:
            problems.append(f"{inert(name, SHOWN)} is in the bundle but not in the manifest")


__all__ = ["BundleError", "CheckReport", "check"]
