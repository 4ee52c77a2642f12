"""The command line: help everywhere, README coverage, JSON output, clear errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer
from support import fill

from ra.cli.app import app
from ra.events import EventStore
from ra.home import Home

README = (Path(__file__).parents[1] / "README.md").read_text()


def _commands() -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []

    def walk(command: object, path: tuple[str, ...]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(sub, (*path, name))
        else:
            found.append(path)

    walk(typer.main.get_command(app), ())
    return found


COMMANDS = _commands()


def test_the_command_tree_is_what_we_document() -> None:
    assert ("audit", "verify") in COMMANDS and ("demo",) in COMMANDS


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_has_help_and_is_in_the_readme(ra, path: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    result = ra(*path, "--help")
    assert result.returncode == 0
    assert "Usage:" in result.stdout
    assert len(result.stdout.splitlines()) > 4
    assert f"ra {' '.join(path)}" in README


def test_log_jsonl_is_one_object_a_line_and_json_one_document(ra, home: Home) -> None:  # type: ignore[no-untyped-def]
    with EventStore.open(home) as store:
        fill(store)
    result = ra("audit", "log", "--jsonl", "--type", "control.*", check=True)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    document = ra("audit", "log", "--json", "--type", "control.*", check=True).stdout
    assert json.loads(document) == lines
    assert json.loads(ra("audit", "log", "--json", "--type", "none.*", check=True).stdout) == []
    both = ra("audit", "log", "--json", "--jsonl")
    assert both.returncode == 2 and len(both.stderr.splitlines()) == 1
    assert [e["type"] for e in lines] == ["control.granted", "control.released"] * 3
    for event in lines:
        assert {"seq", "stream", "type", "occurred_at", "actor", "outcome", "payload"} <= set(event)
    text = ra("audit", "log", "--stream", "session:s1", check=True)
    assert len(text.stdout.splitlines()) == 4 and "session:s1" in text.stdout


def test_prove_and_check_a_proof_offline(ra, home: Home, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with EventStore.open(home) as store:
        fill(store)
    kept = tmp_path / "kept.checkpoint"
    ra("audit", "checkpoint", "--out", str(kept), check=True)
    proof = tmp_path / "proof.json"
    ra("audit", "prove", "5", "--checkpoint", str(kept), "--out", str(proof), check=True)
    ok = ra("audit", "check-proof", str(proof), env={"RA_HOME": str(tmp_path / "elsewhere")})
    assert ok.returncode == 0, ok.stderr
    assert "event seq 5 is in the log of 12 events" in ok.stdout

    doc = json.loads(proof.read_text())
    doc["event"] = doc["event"].replace('"n":1', '"n":2')
    proof.write_text(json.dumps(doc))
    bad = ra("audit", "check-proof", str(proof))
    assert bad.returncode == 1 and "does not hold" in bad.stderr

    with EventStore.open(home) as store:
        fill(store, streams=2, per_stream=3, prefix="more")  # the log grows
    consistency = tmp_path / "consistency.json"
    ra("audit", "consistency", "--from", str(kept), "--out", str(consistency), check=True)
    ok = ra("audit", "check-proof", str(consistency), "--json", check=True)
    assert json.loads(ok.stdout) == {"ok": True, "kind": "consistency", "tree_size": 18}


@pytest.mark.parametrize("args, message", [
    (("audit", "prove", "99"), "no log in"),
    (("audit", "log", "--since", "yesterday-ish"), "neither a time"),
    (("audit", "verify", "--checkpoint", "/nonexistent/file"), "cannot read"),
    (("audit", "check-proof", "/nonexistent/proof"), "cannot read"),
])
def test_bad_input_is_one_clear_line(ra, args: tuple[str, ...], message: str) -> None:  # type: ignore[no-untyped-def]
    result = ra(*args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_the_log_demo_runs_and_catches_both_attacks(ra) -> None:  # type: ignore[no-untyped-def]
    result = ra("demo", "--log-only", check=True)
    out = result.stdout
    assert out.count("[OK ]") == 2 and out.count("[BAD]") == 2
    [released] = re.findall(r"seq +(\d+) +control\.released +by person:", out)
    assert f"seq {released}: its content does not match" in out
    assert "not by this log's key" in out


def test_compliance_reports_export_as_json_and_csv(ra, home: Home) -> None:  # type: ignore[no-untyped-def]
    with EventStore.open(home) as store:
        fill(store)
    listing = ra("audit", "report", check=True).stdout
    assert "consent-and-control-grants" in listing and "session-timeline" in listing
    rows = json.loads(ra("audit", "report", "consent-and-control-grants", "--format", "json",
                         check=True).stdout)
    lines = [json.loads(line) for line in ra("audit", "report", "consent-and-control-grants",
                                              "--format", "jsonl", check=True).stdout.splitlines()]
    assert lines == rows
    assert [r["decision"] for r in rows] == ["consent.granted", "control.granted",
                                             "control.released"] * 3
    assert rows[0]["decided_by"] == "person:alice"
    csv_out = ra("audit", "report", "session_timeline", "--format", "csv", check=True).stdout
    assert csv_out.splitlines()[0].startswith("session,started_at")
    assert len(csv_out.splitlines()) == 4
    bad = ra("audit", "report", "nope")
    assert bad.returncode == 2 and "the reports are" in bad.stderr
