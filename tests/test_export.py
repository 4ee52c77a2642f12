"""`ra audit export` and `ra audit verify-export`: exports of sessions the real engine
recorded, compared with what happened; the filters; and every kind of edit to a
bundle caught by `verify-export` run where there is no ra database (a fresh RA_HOME).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from export_support import Happened, Recorder

from ra.events import canonical
from ra.events.checkpoint import public_bytes
from ra.exports import KINDS
from ra.exports.bundle import export
from ra.exports.check import check
from ra.exports.derive import Filters, csv_cells
from ra.fingerprint import key_fingerprint


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[tuple[Recorder, list[Happened]]]:
    """Four sessions: control used and refused input, view denied, control denied,
    control given back by the helper's button (a hostile name among them)."""
    recorder = Recorder(tmp_path / "home")
    happened = [
        recorder.session(0, rejected=2, injected=3),
        recorder.session(100, person="carol", helper="=HYPERLINK(\"http://x\")",
                         key="cd" * 32, view=False),
        recorder.session(200, control=False),
        recorder.session(300, release="button"),
    ]
    yield recorder, happened
    recorder.close()


def _ra(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RA_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "ra", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(), newline="")))


# -- exports compared with what happened ------------------------------------------


def test_export_rows_are_what_the_engine_did(recorded: tuple[Recorder, list[Happened]],
                                              tmp_path: Path) -> None:
    recorder, happened = recorded
    out = tmp_path / "bundle"
    result = export(recorder.store, KINDS, out, fmt="jsonl")
    consent = _jsonl(out / "consent.jsonl")
    expected = [(h.session, h.invitation, h.person, h.helper, h.key, a["scope"], a["answer"],
                 a["asked_at"], a["answered_at"], a["took_ms"], h.address)
                for h in happened for a in h.asked]
    assert [(r["session"], r["invitation"], r["person"], r["helper"], r["helper_key"],
             r["scope"], r["answer"], r["asked_at"], r["answered_at"], r["took_ms"],
             r["origin"]) for r in consent] == expected
    assert [r["reason"] for r in consent] == [None, None, "declined", None, "declined",
                                              None, None]
    control = _jsonl(out / "control.jsonl")
    assert [(r["session"], r["helper"], r["helper_key"], r["granted_at"], r["released_at"],
             r["released_by"], r["released_via"], r["duration_ms"], r["inputs_injected"],
             r["inputs_rejected"])
            for r in control] == [
        (h.session, h.helper, h.key, g["granted_at"], g["released_at"], g["released_by"],
         g["released_via"], g["duration_ms"], g["inputs_injected"], g["inputs_rejected"])
        for h in happened for g in h.grants]
    sessions = _jsonl(out / "sessions.jsonl")
    assert [(r["session"], r["person"], r["helper"], r["helper_address"], r["end_reason"])
            for r in sessions] == [
        (h.session, h.person, h.helper, h.address,
         "user" if h.asked[0]["answer"] == "granted" else "view consent denied")
        for h in happened]
    invitations = _jsonl(out / "invitations.jsonl")
    assert [(r["invitation"], r["person"], r["status"], r["session"]) for r in invitations] == [
        (h.invitation, h.person, "accepted", h.session) for h in happened]
    auth = _jsonl(out / "auth.jsonl")
    assert [(r["invitation"], r["result"], r["helper"], r["helper_key"]) for r in auth] == [
        (h.invitation, "accepted", h.helper, h.key) for h in happened]
    # every row names the events it is read from, and the bundle carries them all
    carried = {json.loads(line)["seq"] for line in (out / "events.jsonl").read_text().splitlines()}
    for name in KINDS:
        for row in _jsonl(out / f"{name}.jsonl"):
            assert {int(s) for s in row["seqs"].split(",")} <= carried
    assert result.rows == {"consent": 7, "control": 2, "sessions": 4, "invitations": 4,
                           "auth": 4}
    assert check(out).ok


def test_csv_keeps_a_hostile_name_as_text(recorded: tuple[Recorder, list[Happened]],
                                          tmp_path: Path) -> None:
    recorder, happened = recorded
    out = tmp_path / "bundle"
    export(recorder.store, ["consent"], out, fmt="csv")
    helpers = [row["helper"] for row in _csv(out / "consent.csv")]
    assert "'=HYPERLINK(\"http://x\")" in helpers  # not a formula to a spreadsheet
    assert check(out).ok


AUDIT_EXPORTS = Path(__file__).resolve().parents[1] / "audit" / "exports"


def _log_copy(recorder: Recorder, tmp: Path) -> Path:
    copy = tmp / "copy.db"
    recorder.store.conn.execute("VACUUM INTO ?", (str(copy),))
    return copy


def _sqlite3_shell(copy: Path, name: str, filters: Filters) -> list[list[str]]:
    """Export `name` as its header tells an auditor: the sqlite3 shell, read-only, the
    parameters set (`filters`, no :size), shared.sql read, then the export's file."""
    script = ""
    for key, value in {"size": None, **filters.to_json()}.items():
        literal = "NULL" if value is None else "'" + value.replace("'", "''") + "'"
        argument = literal.replace("\\", "\\\\").replace('"', '\\"')  # one "..." argument
        script += f'.parameter set :{key} "{argument}"\n'
    shell = subprocess.run(
        ["sqlite3", "-readonly", "-csv", str(copy)], cwd=AUDIT_EXPORTS, text=True,
        input=f".parameter init\n{script}.read shared.sql\n.read {name}.sql\n",
        capture_output=True, timeout=60, check=True)
    assert shell.stderr == ""
    return list(csv.reader(io.StringIO(shell.stdout, newline="")))


def test_the_sql_is_in_audit_exports_and_reruns_with_sqlite(
        recorded: tuple[Recorder, list[Happened]], tmp_path: Path) -> None:
    """An auditor's rerun: the sqlite3 shell, read-only, on a copy of the log, reading
    shared.sql then each export's file as their headers say, makes the rows ra wrote."""
    recorder, _ = recorded
    out = tmp_path / "bundle"
    export(recorder.store, KINDS, out, fmt="csv")
    copy = _log_copy(recorder, tmp_path)
    for name in KINDS:
        text = (AUDIT_EXPORTS / f"{name}.sql").read_text()
        assert text.startswith("-- ") and ":size" in text and "seqs" in text
        assert ".read shared.sql" in text and f".read {name}.sql" in text
        rerun = _sqlite3_shell(copy, name, Filters())
        exported = _csv(out / f"{name}.csv")
        assert len(exported) == len(rerun) > 0
        assert [r[-1] for r in rerun] == [r["seqs"] for r in exported]


def test_each_filter_is_read_once_by_shared_sql_and_reruns_with_sqlite(
        recorded: tuple[Recorder, list[Happened]], tmp_path: Path) -> None:
    """Which rows the filters keep is said once, in shared.sql: no export's own file
    reads a parameter; and with each filter set, the sqlite3 shell run as the headers
    say makes exactly the rows ra wrote (cells as ra writes them to CSV)."""
    recorder, happened = recorded
    first, denied, _, last = happened
    for name in KINDS:
        code = "".join(line.split("--")[0] for line in
                       (AUDIT_EXPORTS / f"{name}.sql").read_text().splitlines(keepends=True))
        assert re.search(r"(?<![\w'])[:@$?]\w", code) is None, name  # no :name, @name, ...
    copy = _log_copy(recorder, tmp_path)
    filters = [Filters(since="2026-03-02T09:01:40.000000Z"),
               Filters(until="2026-03-02T09:05:00.000000Z"),
               Filters(session=f"session:{last.session}"), Filters(person="carol"),
               Filters(helper=denied.helper), Filters(helper=first.key),
               Filters(since="2026-03-02T09:00:00.000000Z", until="2026-03-02T09:01:00.000000Z",
                       session=f"session:{first.session}", person="alice", helper="bob"),
               Filters(person="nobody")]
    kept = 0
    for index, f in enumerate(filters):
        out = tmp_path / f"bundle{index}"
        export(recorder.store, KINDS, out, fmt="csv", filters=f)
        for name in KINDS:
            exported = list(csv.reader(io.StringIO((out / f"{name}.csv").read_text(),
                                                   newline="")))
            rerun = _sqlite3_shell(copy, name, f)
            assert [csv_cells(dict(enumerate(r)), list(range(len(r)))) for r in rerun] \
                == exported[1:], (name, f)
            kept += len(rerun)
    assert kept > 20


# -- the filters --------------------------------------------------------------------


def _rows(recorder: Recorder, tmp: Path, filters: Filters, what: str = "consent") -> list[Any]:
    out = tmp / f"f{len(list(tmp.iterdir()))}"
    export(recorder.store, KINDS, out, fmt="jsonl", filters=filters)
    assert check(out).ok, check(out).problems  # a filtered bundle verifies too
    return _jsonl(out / f"{what}.jsonl")


def test_filters(recorded: tuple[Recorder, list[Happened]], tmp_path: Path) -> None:
    recorder, happened = recorded
    first, denied, _, last = happened
    work = tmp_path / "filtered"
    work.mkdir()
    # --since / --until: the second and third sessions (100 s to 300 s after the start)
    rows = _rows(recorder, work, Filters(since="2026-03-02T09:01:40.000000Z",
                                         until="2026-03-02T09:05:00.000000Z"))
    assert {r["session"] for r in rows} == {happened[1].session, happened[2].session}
    rows = _rows(recorder, work, Filters(session=f"session:{last.session}"), "control")
    assert [r["session"] for r in rows] == [last.session]
    rows = _rows(recorder, work, Filters(person="carol"), "sessions")
    assert [r["session"] for r in rows] == [denied.session]
    rows = _rows(recorder, work, Filters(helper=denied.helper))
    assert [r["session"] for r in rows] == [denied.session]
    rows = _rows(recorder, work, Filters(helper=first.key), "auth")  # a key names a helper too
    assert {r["invitation"] for r in rows} == {first.invitation, happened[2].invitation,
                                               last.invitation}
    rows = _rows(recorder, work, Filters(person="nobody"))
    assert rows == []


def test_cli_filters_and_formats(recorded: tuple[Recorder, list[Happened]],
                                 tmp_path: Path) -> None:
    recorder, happened = recorded
    home = recorder.home.root
    out = tmp_path / "one.zip"
    result = _ra("audit", "export", "--what", "consent,control", "--format", "csv",
                 "--session", happened[0].session[:8] + happened[0].session[8:],
                 "--since", "2026-03-02T09:00:00Z", "--out", str(out), "--json", home=home)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["rows"] == {"consent": 2, "control": 1}
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == [
            "consent.csv", "control.csv", "events.jsonl", "manifest.json", "proof.json",
            "sql/consent.sql", "sql/control.sql", "sql/shared.sql"]
    bad = _ra("audit", "export", "--what", "grants", "--out", str(tmp_path / "x"), home=home)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "grants" in bad.stderr
    again = _ra("audit", "export", "--out", str(out), home=home)
    assert again.returncode == 2 and "already exists" in again.stderr


# -- every edit caught, with no database --------------------------------------------


@pytest.fixture
def bundle(recorded: tuple[Recorder, list[Happened]], tmp_path: Path) -> tuple[Path, str]:
    recorder, _ = recorded
    out = tmp_path / "bundle"
    result = export(recorder.store, KINDS, out, fmt="csv")
    return out, result.key_fingerprint


def _verify(path: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    fresh = tmp / "fresh-home"  # no ra database: it must not be needed, nor made
    result = _ra("audit", "verify-export", str(path), *args, home=fresh)
    assert not fresh.exists()
    return result


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def test_an_intact_bundle_verifies_with_its_key(bundle: tuple[Path, str],
                                                tmp_path: Path) -> None:
    out, key = bundle
    result = _verify(out, tmp_path, "--key", key)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("export verified: 4 auth rows, 7 consent rows")


def test_an_edited_row_is_named(bundle: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = bundle
    lines = _lines(out / "consent.csv")
    assert ",denied,declined," in lines[3]
    lines[3] = lines[3].replace(",denied,declined,", ",granted,,")
    (out / "consent.csv").write_text("".join(lines))
    result = _verify(out, tmp_path)
    assert result.returncode == 1
    assert "consent.csv row 3" in result.stderr and "was edited: answer is granted" in \
        result.stderr, result.stderr
    assert "its events say denied" in result.stderr


def test_a_dropped_row_is_named(bundle: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = bundle
    lines = _lines(out / "control.csv")
    (out / "control.csv").write_text("".join(lines[:1] + lines[2:]))
    result = _verify(out, tmp_path)
    assert result.returncode == 1
    assert "control.csv row 1: a row its events make is missing" in result.stderr, result.stderr
    assert "a row was dropped" in result.stderr


def test_an_added_row_is_named(bundle: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = bundle
    lines = _lines(out / "sessions.csv")
    (out / "sessions.csv").write_text("".join(lines[:3] + [lines[2]] + lines[3:]))
    result = _verify(out, tmp_path)
    assert result.returncode == 1
    assert "sessions.csv row 3" in result.stderr and "a row was added" in result.stderr, \
        result.stderr


def test_a_dropped_row_with_its_events_and_fixed_hashes_is_caught(
        bundle: tuple[Path, str], tmp_path: Path) -> None:
    """Drop a row and the events only it cites, and mend the manifest's hashes: the
    signature no longer holds (and re-signing needs the log's key)."""
    out, _ = bundle
    lines = _lines(out / "auth.csv")
    (out / "auth.csv").write_text("".join(lines[:-1]))
    _rewrite_manifest(out, None)
    result = _verify(out, tmp_path)
    assert result.returncode == 1
    assert "export NOT verified: the manifest's signature does not hold" in result.stderr
    assert "auth.csv row 4: a row its events make is missing" in result.stderr


def test_a_swapped_file_is_caught(bundle: tuple[Path, str], recorded: Any,
                                  tmp_path: Path) -> None:
    out, _ = bundle
    recorder, _ = recorded
    other = tmp_path / "other"
    export(recorder.store, ["consent"], other, fmt="csv",
           filters=Filters(person="carol"))
    shutil.copy(other / "consent.csv", out / "consent.csv")
    result = _verify(out, tmp_path)
    assert result.returncode == 1
    assert "consent.csv row 1" in result.stderr
    assert "consent.csv is not the file the manifest names" in result.stderr


def test_an_edited_event_is_caught(bundle: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = bundle
    text = (out / "events.jsonl").read_text()
    assert '"reason":"declined"' in text
    (out / "events.jsonl").write_text(text.replace('"reason":"declined"', '"reason":"timeout"',
                                                   1))
    result = _verify(out, tmp_path)
    assert result.returncode == 1
    assert "are not those of the log the checkpoint signed" in result.stderr, result.stderr


def test_an_extra_file_is_caught(bundle: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = bundle
    (out / "notes.txt").write_text("trust me\n")
    result = _verify(out, tmp_path)
    assert result.returncode == 1
    assert "notes.txt is in the bundle but not in the manifest" in result.stderr


def _rewrite_manifest(out: Path, key: Ed25519PrivateKey | None) -> None:
    """Mend the manifest's hashes after an edit; sign it with `key` (None: keep the
    old signature)."""
    import hashlib

    doc = json.loads((out / "manifest.json").read_text())
    manifest = doc["manifest"]
    for name, entry in manifest["files"].items():
        data = (out / name).read_bytes()
        entry["sha256"] = hashlib.sha256(data).hexdigest()
        entry["bytes"] = len(data)
    if key is not None:
        public = public_bytes(key)
        manifest["public_key"] = base64.b64encode(public).decode()
        manifest["key_fingerprint"] = key_fingerprint(public)
        doc["signature"] = base64.b64encode(key.sign(canonical.encode(manifest))).decode()
    (out / "manifest.json").write_bytes(canonical.encode(doc) + b"\n")


def test_shared_sql_of_another_version_is_named(bundle: tuple[Path, str],
                                               recorded: tuple[Recorder, list[Happened]],
                                               tmp_path: Path) -> None:
    """Signed by the log's own key, but read with other shared SQL: said so, not rerun."""
    out, key = bundle
    recorder, _ = recorded
    shared = out / "sql" / "shared.sql"
    shared.write_text(shared.read_text().replace("CREATE TEMP TABLE export_events (",
                                                 "-- changed\nCREATE TEMP TABLE export_events ("))
    _rewrite_manifest(out, recorder.store.signing_key)
    result = _verify(out, tmp_path, "--key", key)
    assert result.returncode != 0
    assert "sql/shared.sql is not the SQL this ra reads the log with" in result.stderr, \
        result.stderr


def test_a_manifest_resigned_with_another_key_is_caught(bundle: tuple[Path, str],
                                                        tmp_path: Path) -> None:
    out, key = bundle
    lines = _lines(out / "consent.csv")
    (out / "consent.csv").write_text("".join(lines[:-1]))  # drop the last consent row
    lines = _lines(out / "events.jsonl")
    _rewrite_manifest(out, Ed25519PrivateKey.generate())
    with_key = _verify(out, tmp_path, "--key", key)
    assert with_key.returncode == 1
    assert f"not the expected {key}" in with_key.stderr, with_key.stderr
    without = _verify(out, tmp_path)
    assert without.returncode == 1
    assert "export NOT verified: the checkpoint is signed by key" in without.stderr
    assert "the manifest was re-signed" in without.stderr
    assert "consent.csv row 7: a row its events make is missing" in without.stderr


def test_a_zip_bundle_verifies_and_an_edit_inside_is_caught(
        recorded: tuple[Recorder, list[Happened]], tmp_path: Path) -> None:
    recorder, _ = recorded
    out = tmp_path / "export.zip"
    export(recorder.store, ["control"], out, fmt="jsonl")
    ok = _verify(out, tmp_path)
    assert ok.returncode == 0, ok.stderr
    edited = tmp_path / "edited.zip"
    with zipfile.ZipFile(out) as source, zipfile.ZipFile(edited, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "control.jsonl":
                data = data.replace(b'"inputs_rejected":2', b'"inputs_rejected":0')
            target.writestr(name, data)
    bad = _verify(edited, tmp_path)
    assert bad.returncode == 1
    assert "control.jsonl row 1" in bad.stderr and "inputs_rejected is 0" in bad.stderr


def test_verify_export_usage_errors(tmp_path: Path) -> None:
    missing = _verify(tmp_path / "nothing-here", tmp_path)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    junk = _verify(tmp_path / "junk.zip", tmp_path)
    assert junk.returncode == 2 and "neither an export folder nor a zip" in junk.stderr
