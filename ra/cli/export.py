"""`ra audit export` and `ra audit verify-export`: signed compliance exports.

Registered on the `ra audit` group by `register`; the export modules are
imported inside each command (the command tree is built on every start).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ra.cli.common import (
    HomeOption,
    JsonOption,
    QuietOption,
    UsageError,
    emit_json,
    format_option,
    helper_option,
    log_problem,
    open_existing_store,
    out_option,
    parse_since,
    person_option,
    say,
    time_option,
    warn,
)
from ra.cli.render import progress
from ra.errors import RaError

WHAT = ("consent", "control", "sessions", "invitations", "auth")


class LogAltered(RaError):
    """`ra audit export` was asked of a log that does not verify: it signs nothing."""


class ExportNotVerified(RaError):
    """`ra audit verify-export` found the bundle altered."""

    exit_code = 1


def export(
    out: Annotated[Path, out_option("the bundle here: a new folder, or a file ending in .zip")],
    what: Annotated[
        str,
        typer.Option("--what", "-w",
                     help="consent, control, sessions, invitations, auth or all "
                          "(several: comma separated)."),
    ] = "all",
    fmt: Annotated[str, format_option("csv or jsonl")] = "csv",
    since: Annotated[str | None, time_option("--since", "Rows at or after this time")] = None,
    until: Annotated[str | None, time_option("--until", "Rows before this time")] = None,
    session: Annotated[
        str | None,
        typer.Option("--session", help="Only this session (its id, or session:<id>)."),
    ] = None,
    person: Annotated[str | None, person_option("is this (the invitation's name)")] = None,
    helper: Annotated[str | None, helper_option("is this (the name it gave)", "is it")] = None,
    json_out: JsonOption = False,
    quiet: QuietOption = False,
    home: HomeOption = None,
) -> None:
    """Export consent, control, sessions, invitations or authentication as a signed bundle.

    The bundle (a folder, or one .zip) holds the rows, the SQL that made them
    (audit/exports/), every event a row is read from with one proof that they
    are in the log, and a manifest signed with the log's key, cut at a
    checkpoint signed first. Anyone can check it with `ra audit verify-export`.
    The log is verified first: a log that does not verify is refused (exit 1),
    and nothing is signed.

    Example:

    \b
        ra audit export --what consent --since 30d --format csv --out consent.zip
        ra audit export --what all --helper bob --format jsonl --out bob-export
    """
    from ra.events.model import format_time
    from ra.exports import KINDS
    from ra.exports.bundle import export as write_bundle
    from ra.exports.derive import FORMATS, Filters

    kinds = _kinds(what, KINDS)
    if fmt not in FORMATS:
        raise UsageError(f"--format must be csv or jsonl, not {fmt!r}")
    if session is not None:
        session = session.strip()
        if not session.startswith("session:"):
            session = f"session:{session}"
    filters = Filters(
        since=None if since is None else format_time(parse_since(since)),
        until=None if until is None else format_time(parse_since(until)),
        session=session, person=person, helper=helper,
    )
    if filters.since and filters.until and filters.until <= filters.since:
        raise UsageError("--until must be later than --since")
    with open_existing_store(home) as store, \
            progress("exporting", show=not quiet and not json_out) as step:
        problem = log_problem(store)
        if problem is not None:  # its key would vouch for what an attacker wrote
            raise LogAltered(f"the log does not verify ({problem}); nothing was exported: "
                             "`ra audit verify` says more")
        result = write_bundle(store, kinds, out, fmt=fmt, filters=filters, progress=step)
    if json_out:
        emit_json({"out": str(result.out), "rows": result.rows, "events": result.events,
                   "tree_size": result.tree_size, "root": result.root,
                   "key_fingerprint": result.key_fingerprint})
        return
    rows = ", ".join(f"{n} {name}" for name, n in result.rows.items())
    say(f"exported {rows} rows ({result.events} events proven) to {result.out}")
    say(f"cut at the checkpoint of {result.tree_size} events, root {result.root}; "
        f"signed by key {result.key_fingerprint}")


def _kinds(what: str, known: tuple[str, ...]) -> list[str]:
    asked = [part.strip() for part in what.split(",") if part.strip()]
    if not asked:
        raise UsageError(f"--what needs one of: {', '.join(known)}, all")
    if "all" in asked:
        return list(known)
    unknown = [part for part in asked if part not in known]
    if unknown:
        raise UsageError(f"--what {unknown[0]!r} is not one of: {', '.join(known)}, all")
    return [kind for kind in known if kind in asked]


def verify_export(
    path: Annotated[Path, typer.Argument(help="The export: its folder or its .zip.")],
    key: Annotated[
        str | None,
        typer.Option("--key", "-k",
                     help="The fingerprint of the log key that must have signed it "
                          "(from `ra audit checkpoint`)."),
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Check an export bundle offline: no database needed.

    Checks the manifest's signature (and with --key who made it), that the
    checkpoint is signed by the same key, that every event is in the log the
    checkpoint signed, that every row is the one its events make (the first
    bad row is named), and every file's SHA-256. Exit 0 if all hold, 1 if not.

    Example:

    \b
        ra audit verify-export consent.zip --key 3f2a19c08b7e55d1
    """
    from ra.exports.check import check

    if key is not None and len("".join(c for c in key if c.isalnum())) < 16:
        raise UsageError("--key needs the key's fingerprint: at least its first 16 hex digits")
    report = check(path, key=key)
    if json_out:
        emit_json({"ok": report.ok, "problems": report.problems, "rows": report.rows,
                   "events": report.events, "tree_size": report.tree_size,
                   "root": report.root, "key_fingerprint": report.key_fingerprint})
        if not report.ok:
            raise typer.Exit(ExportNotVerified.exit_code)
        return
    if report.ok:
        say(report.summary())
        if key is None:
            say("(no --key given: check that this key is your installation's)")
        return
    for problem in report.problems[1:6]:
        warn(f"  also: {problem}")
    raise ExportNotVerified(report.summary())


def register(app: typer.Typer) -> None:
    """Add `export` and `verify-export` to the `ra audit` group."""
    app.command("export")(export)
    app.command("verify-export")(verify_export)
