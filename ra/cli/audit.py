"""`ra audit`: verify the log, sign and export checkpoints, prove, list events.

The log's modules are imported inside each command (the command tree is built
on every start of `ra`, `--help` included).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ra.cli import forget as forget_command
from ra.cli.common import (
    HomeOption,
    JsonArray,
    JsonlOption,
    JsonOption,
    QuietOption,
    SessionArg,
    UsageError,
    emit_json,
    format_option,
    group,
    helper_option,
    home_of,
    json_mode,
    log_problem,
    no_browser_option,
    open_existing_store,
    open_store,
    out_option,
    parse_since,
    person_option,
    say,
    time_option,
    warn,
    warn_altered,
)
from ra.cli.render import Progress, local_time, local_time_text, print_table, progress
from ra.errors import RaError
from ra.inert import inert

if TYPE_CHECKING:
    from ra.events import EventStore
    from ra.events.proofs import ProofDocument


#: The longest cell a report table shows (a name, a key, an address fit).
CELL_SHOWN = 200
#: ``--out`` of `prove` and `consistency`.
ProofOutOption = Annotated[Path | None, out_option("the proof here")]
#: ``--size`` of `prove` and `consistency`: the log as it was at that size.
SizeOption = Annotated[int | None, typer.Option(
    "--size", help="Prove against the log as it was at this many events (default: all of it).")]
#: ``--until`` of `sessions` and of `report --html`: the sessions that began before it.
StartedBeforeOption = Annotated[
    str | None, time_option("--until", "Only sessions that started before this time")
]


def checkpoint_option(what: str) -> Any:
    """``--checkpoint``/``-c``: a checkpoint file (`ra audit checkpoint --out`), for `what`."""
    return typer.Option("--checkpoint", "-c", help=f"A checkpoint file {what}.")


app = group("Check and export the tamper-evident log.")
app.command("forget")(forget_command.forget)


class TamperedError(RaError):
    """`ra audit verify` found the log altered."""

    exit_code = 1


@app.command()
def verify(
    checkpoint: Annotated[list[Path] | None, checkpoint_option(
        "kept elsewhere to check the log against (repeatable)")] = None,
    json_out: JsonOption = False,
    quiet: QuietOption = False,
    home: HomeOption = None,
) -> None:
    """Recompute every event's hash and the Merkle root; check every checkpoint.

    Every recorded screen chunk is checked against the event that vouches for
    it (present, same size and SHA-256).

    Exit 0 with a one-line summary when the log is intact; exit 1 with the
    first bad position and what is wrong when it is not.

    Example:

    \b
        ra audit verify
        ra audit verify --checkpoint /media/usb/ra.checkpoint
    """
    from ra.events import Checkpoint, LogStateError, Problem, verify_log
    from ra.recording.store import check_recordings

    external = [Checkpoint.load(path) for path in checkpoint or []]
    shown = not quiet and not json_out
    with open_existing_store(home) as store, progress("verifying", show=shown) as step:
        report = verify_log(store, external, progress=step)
        try:
            report.problems += [Problem(seq, what)
                                for seq, what in check_recordings(store.path.parent, store)]
        except LogStateError:
            # An event body that is not an event: its hash no longer matches, so
            # verify_log has reported it; the chunks it vouches for cannot be read.
            if report.ok:
                raise
    if json_out:
        first = report.first_problem
        emit_json({
            "ok": report.ok,
            "size": report.size,
            "root": report.root.hex(),
            "checkpoints_checked": report.checkpoints_checked,
            "external_checked": report.external_checked,
            "first_bad_position": None if first is None else first.position,
            "problems": [{"position": p.position, "what": p.what} for p in report.problems],
        })
        if not report.ok:
            raise typer.Exit(TamperedError.exit_code)
        return
    if report.ok:
        say(report.summary())
        return
    for problem in report.other_problems[:5]:
        warn(f"  also: {problem}")
    raise TamperedError(report.summary())


@app.command("checkpoint")
def checkpoint_cmd(
    out: Annotated[Path | None, out_option("the signed checkpoint to this file too")] = None,
    json_out: JsonOption = False,
    home: HomeOption = None,
) -> None:
    """Sign the log's current size and root; store it, and optionally save it to a file.

    Keep the file somewhere the machine cannot rewrite: later, `ra audit
    verify --checkpoint FILE` proves the log still holds everything it held.

    Example:

    \b
        ra audit checkpoint --out /media/usb/ra.checkpoint
    """
    with open_store(home) as store:
        signed = store.checkpoint()
    if out is not None:
        _write_new(out, signed.to_file_bytes())
    if json_out:
        emit_json({**signed.statement(), "file": str(out) if out else None,
                   "key_fingerprint": signed.key_fingerprint})
        return
    say(f"checkpoint: {signed.tree_size} events, root {signed.root.hex()}")
    say(f"signed by key {signed.key_fingerprint} at {local_time_text(signed.time)} "
        f"(sync {signed.sync_mode})")
    if out is not None:
        say(f"written to {out}")


@app.command()
def prove(
    seq: Annotated[int, typer.Argument(help="The event's seq (its leaf index).", min=0)],
    size: SizeOption = None,
    against: Annotated[Path | None, checkpoint_option("whose tree to prove against")] = None,
    out: ProofOutOption = None,
    home: HomeOption = None,
) -> None:
    """Print an inclusion proof that event SEQ is in the log (JSON).

    The proof carries the event itself, so `ra audit check-proof` can check
    it anywhere, without the database.

    Example:

    \b
        ra audit prove 42 --out event42.proof.json
        ra audit prove 42 --checkpoint /media/usb/ra.checkpoint
    """
    from ra.events import Checkpoint
    from ra.events.proofs import inclusion_document, verify_document

    checkpoint = Checkpoint.load(against) if against is not None else None
    if checkpoint is not None:
        size = checkpoint.tree_size
    with open_existing_store(home) as store:
        doc = inclusion_document(store, seq, size=size, checkpoint=checkpoint)
    verify_document(doc)
    _output(doc, out)


@app.command()
def consistency(
    old: Annotated[Path, typer.Option("--from", help="An earlier checkpoint file.")],
    new_size: SizeOption = None,
    out: ProofOutOption = None,
    home: HomeOption = None,
) -> None:
    """Print a consistency proof: today's log extends the one in an old checkpoint.

    Example:

    \b
        ra audit consistency --from /media/usb/ra.checkpoint --out grown.proof.json
    """
    from ra.events import Checkpoint
    from ra.events.proofs import consistency_document, verify_document

    checkpoint = Checkpoint.load(old)
    with open_existing_store(home) as store:
        doc = consistency_document(store, checkpoint, new_size=new_size)
    verify_document(doc)
    _output(doc, out)


@app.command("check-proof")
def check_proof(
    proof: Annotated[
        Path, typer.Argument(help="A proof written by `ra audit prove` or `consistency`.")
    ],
    json_out: JsonOption = False,
) -> None:
    """Check an inclusion or consistency proof offline: no database needed.

    Example:

    \b
        ra audit check-proof event42.proof.json
    """
    from ra.events.proofs import ProofDocument, verify_document

    try:
        data = json.loads(proof.read_bytes())
    except OSError as exc:
        raise UsageError(f"cannot read {proof}: {exc.strerror}") from None
    except ValueError:
        raise UsageError(f"{proof} is not a proof file (not JSON)") from None
    doc = ProofDocument.from_json(data)
    verify_document(doc)
    if json_out:
        emit_json({"ok": True, "kind": doc.kind, "tree_size": doc.tree_size})
    else:
        say(doc.describe())


@app.command()
def log(
    stream: Annotated[str | None, typer.Option("--stream", "-s", help="Only this stream.")] = None,
    type_: Annotated[
        list[str] | None,
        typer.Option("--type", "-t", help="Only this event type; `consent.*` for a family."),
    ] = None,
    since: Annotated[
        str | None, time_option("--since", "Only events at or after this time")
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=1, help="At most this many events.")
    ] = None,
    json_out: JsonOption = False,
    jsonl_out: JsonlOption = False,
    home: HomeOption = None,
) -> None:
    """List events in order (`--json`: one array; `--jsonl`: one object a line).

    `--stream` takes a stream or the start of one (``session:21b4``, or just
    ``21b4`` for any kind): the one stream it names is listed; if it names
    several, they are listed instead (exit 2).

    Example:

    \b
        ra audit log --type 'control.*' --since 1h
        ra audit log --stream session:21b4 --json
        ra audit log --jsonl | jq .type
    """
    from ra.sealed_chat import ChatReader
    from ra.session_keys import SessionKeys

    mode = json_mode(json_out, jsonl_out)
    moment = parse_since(since) if since else None
    array = JsonArray()
    chat = ChatReader(SessionKeys(home_of(home)))  # chat shown opened, or (forgotten)
    with open_existing_store(home) as store:
        if stream is not None:
            stream = _resolve_stream(store, stream)
        for event in store.iter_events(stream=stream, types=type_, since=moment, limit=limit):
            if mode == "json":
                array.add(event.body.decode("utf-8"))
                continue
            if mode == "jsonl":
                sys.stdout.write(event.body.decode("utf-8") + "\n")
                continue
            say(
                f"{event.seq:>6}  {local_time(event.occurred_at, seconds=True)}  "
                f"{event.type:<22} {event.outcome:<8} {event.stream}  "
                f"{inert(event.actor)}  {inert(_brief(chat.payload(event)))}"
            )
    if mode == "json":
        array.close()


@app.command("sessions")
def sessions_cmd(
    since: Annotated[
        str | None, time_option("--since", "Only sessions still going at or after this time")
    ] = None,
    until: StartedBeforeOption = None,
    person: Annotated[str | None, person_option("contains this (any case)")] = None,
    helper: Annotated[
        str | None, helper_option("contains this (any case)", "starts with it")
    ] = None,
    json_out: JsonOption = False,
    jsonl_out: JsonlOption = False,
    home: HomeOption = None,
) -> None:
    """One line a session: who, when, how it ended, how long viewed and controlled.

    Each line: the session id (`ra audit replay` takes it, or its start),
    the person, the helper (the name it gave and the key it proved), when it
    started and ended, how it ended, how long the screen was shown (control
    included) and how long the helper had control, the consents asked and
    given, and the inputs refused. Times are local with their zone; with
    `--json` or `--jsonl`, UTC ISO 8601 and durations in seconds.

    Example:

    \b
        ra audit sessions --since 1d
        ra audit sessions --helper 'Bob' --json
    """
    from ra.reports.period import Period
    from ra.reports.story import duration_text, matches, summaries

    mode = json_mode(json_out, jsonl_out)
    period = Period(parse_since(since) if since else None, parse_since(until) if until else None)
    with open_existing_store(home) as store:
        found = [summary for summary in summaries(store)
                 if matches(summary, period, person=person, helper=helper)]
    if mode == "json":
        emit_json([summary.to_json() for summary in found])
        return
    if mode == "jsonl":
        for summary in found:
            emit_json(summary.to_json())
        return
    from ra.fingerprint import short_fingerprint

    print_table(
        ["session", "person", "helper", "key", "started", "ended", "ending", "viewing",
         "control", "consents asked", "given", "inputs rejected"],
        [[s.session[:SESSION_SHOWN], s.person or "-", s.helper or "-",
          short_fingerprint(s.helper_key) if s.helper_key else "-",
          local_time(s.started, seconds=True),
          local_time(s.ended, seconds=True) if s.ended else "(not ended)",
          _ending(s.ending, s.ended_by), duration_text(s.viewing_s),
          duration_text(s.control_s), s.consents_asked, s.consents_given, s.inputs_rejected]
         for s in found],
    )


#: How much of a session id `ra audit sessions` shows (`ra audit replay` takes a start).
SESSION_SHOWN = 12


def _ending(reason: str, by: str) -> str:
    if not reason:
        return "-"
    return reason if not by or by == reason else f"{reason} (by {by})"


@app.command("replay")
def replay_cmd(
    session: SessionArg,
    speed: Annotated[
        float | None,
        typer.Option("--speed", min=0.01, max=10000,
                     help="Play this many times faster than it happened (default 1: "
                     "real time)."),
    ] = None,
    instant: Annotated[
        bool, typer.Option("--instant", help="Show the whole story at once, without waiting.")
    ] = False,
    screen: Annotated[
        bool, typer.Option("--screen", help="Replay the recorded screen in the browser "
                           "(play, pause, speed, seek on a marked timeline).")
    ] = False,
    video: Annotated[
        Path | None,
        typer.Option("--video", help="Write the recorded screen to this .mp4 or .webm file, "
                     "the events as chapters."),
    ] = None,
    no_browser: Annotated[bool, no_browser_option("the page's opener", "--screen")] = False,
    json_out: JsonOption = False,
    home: HomeOption = None,
) -> None:
    """Tell a session's story with its real timing: who, consents, control, chat, the end.

    Every event of the session, in order, with the time since the start, the
    state the session machine is in after it, and how long each consent
    answer took and each hold of control lasted. The events are folded
    through the same table as the live session: an event the table does not
    allow is shown, flagged ANOMALY, and changes nothing. Chat is opened with
    its session's key (or told as (forgotten)); chat and names are shown inert.
    The log is verified first: if it does not verify, that is said before the
    story, the screen or the video (on stderr; in --json as "log") and the
    exit code is 1.

    With --screen the recorded screen plays in the browser (served on
    127.0.0.1 with a one-time token, like the live viewer); with --video it is
    written as a video. Every chunk is checked against the event that vouches
    for it before it is shown: a bad chunk is marked, never played.

    Example:

    \b
        ra audit replay 21b4 --speed 10
        ra audit replay session:21b4c0de --instant
        ra audit replay 21b4 --json
        ra audit replay 21b4 --screen
        ra audit replay 21b4 --video session.mp4
    """
    from ra.reports.story import invitation_names, play, story_json, tell

    if screen and video is not None:
        raise UsageError("give --screen or --video, not both")
    if (screen or video is not None) and (json_out or instant or speed is not None):
        raise UsageError("--screen and --video take no --json, --instant or --speed")
    if no_browser and not screen:
        raise UsageError("--no-browser goes with --screen")
    if instant and speed is not None:
        raise UsageError("give --speed N or --instant, not both")
    if json_out and speed is not None:
        raise UsageError("--json prints the story at once: it takes no --speed")
    from ra.sealed_chat import ChatReader
    from ra.session_keys import SessionKeys

    chat = ChatReader(SessionKeys(home_of(home)))  # chat told opened, or (forgotten)
    with open_existing_store(home) as store:
        stream = _resolve_session(store, session)
        problem = log_problem(store)
        story = None if screen or video is not None else tell(
            [event._replace(payload=chat.payload(event)) for event in store.read_stream(stream)],
            person=invitation_names(store).get(stream.split(":", 1)[1], ""))
    if problem is not None and not json_out:
        warn_altered(problem)
    ended = TamperedError.exit_code if problem is not None else 0
    if screen or video is not None:
        from ra.cli.replay_screen import run_screen, run_video

        session_id = stream.split(":", 1)[1]
        code = run_video(home, session_id, video) if video is not None else run_screen(
            home, session_id, open_browser=not no_browser)
        raise typer.Exit(code or ended)
    assert story is not None  # told for all but the screen and the video
    if json_out:
        emit_json({**story_json(story), "log": {"verified": problem is None, "problem": problem}})
    else:
        for line in _story_head(story):
            say(inert(line, STORY_LINE))
        play(story.lines, _show_line, speed=None if instant else speed or 1.0, sleep=_sleep)
        for line in _story_tail(story):
            say(inert(line, STORY_LINE))
    if ended:
        raise typer.Exit(ended)


#: The longest line the story prints (after `inert`).
STORY_LINE = 2000


def _sleep(seconds: float) -> None:
    """How the story waits between lines (a test replaces it: nothing waits there)."""
    import time

    time.sleep(seconds)


def _resolve_session(store: Any, session: str) -> str:
    """The session stream `session` names (an id, its start, or ``session:`` and either)."""
    kind, colon, _ = session.partition(":")
    if colon and kind != "session":
        raise UsageError(f"{session} is not a session (give an id `ra audit sessions` lists)")
    stream = _resolve_stream(store, session if colon else f"session:{session}")
    if not stream.startswith("session:"):  # pragma: no cover - the prefix above says so
        raise UsageError(f"{stream} is not a session")
    return stream


def _story_head(story: Any) -> list[str]:
    from ra.fingerprint import short_fingerprint

    s = story.summary
    key = f", key {short_fingerprint(s.helper_key)}" if s.helper_key else ""
    where = f", from {s.helper_address}" if s.helper_address else ""
    return [
        f"session {s.session}",
        f"  person {s.person or '-'}; helper {s.helper or '-'}{key}{where}",
        f"  started {local_time(s.started, seconds=True)}, {s.events} events",
    ]


def _show_line(line: Any) -> None:
    moved = (line.after.value if line.after is line.before
             else f"{line.before.value} -> {line.after.value}")
    clock = line.at.astimezone().strftime("%H:%M:%S")
    say(inert(f"{_offset(line.offset_s):>10}  {clock}  [{moved}]  {line.text}", STORY_LINE))
    if line.anomaly is not None:
        say(inert(f"{'':>10}  ANOMALY: {line.anomaly}", STORY_LINE))


def _offset(seconds: float) -> str:
    """``+0:03.2``, ``+12:05.0``, ``+1:02:05.0``."""
    minutes, rest = divmod(max(seconds, 0.0), 60)
    hours, minutes = divmod(int(minutes), 60)
    return (f"+{hours}:{minutes:02d}:{rest:04.1f}" if hours
            else f"+{minutes}:{rest:04.1f}")


def _story_tail(story: Any) -> list[str]:
    from ra.reports.story import duration_text

    s = story.summary
    if s.ended is None:
        end = (f"not ended: {s.state.value} at its last event, "
               f"{local_time(s.last_event, seconds=True)}")
    else:
        end = (f"ended {local_time(s.ended, seconds=True)}: {_ending(s.ending, s.ended_by)}")
    lines = [
        end,
        f"  screen shown {duration_text(s.viewing_s)}, helper in control "
        f"{duration_text(s.control_s)}; consents asked {s.consents_asked}, given "
        f"{s.consents_given}; inputs rejected {s.inputs_rejected}",
    ]
    for hold in story.holds:
        until = (f"{local_time(hold.released_at, seconds=True)} via {hold.via or '?'} "
                 f"(by {hold.by or '?'})" if hold.released_at is not None
                 else "(still held at the last event)")
        lines.append(f"  control from {local_time(hold.granted_at, seconds=True)} to "
                     f"{until}: {duration_text(hold.held_s)}")
    anomalies = len(story.anomalies)
    lines.append(f"  {anomalies} anomal{'y' if anomalies == 1 else 'ies'}"
                 + (": events the session machine does not allow (flagged above)"
                    if anomalies else ""))
    return lines


@app.command()
def report(
    name: Annotated[
        str | None,
        typer.Argument(help="The report, e.g. consent-and-control-grants (omit to list them)."),
    ] = None,
    fmt: Annotated[str, format_option(
        "table, csv, json (one array) or jsonl (one object a line)")] = "table",
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Write the HTML report (totals, a timeline per "
                     "session) to this file instead.", dir_okay=False),
    ] = None,
    since: Annotated[
        str | None, time_option("--since", "Only sessions that started at or after this time")
    ] = None,
    until: StartedBeforeOption = None,
    home: HomeOption = None,
) -> None:
    """Run a compliance report (the SQL in audit/reports/) over the log.

    `--html FILE` writes one self-contained page instead: totals (sessions,
    time in control, consents denied, lock-outs, failed passwords) and, per
    session, the helper's name and key and a timeline of consent, view and
    control. It loads nothing and runs no script; open it in any browser.
    `--since` and `--until` go with it: they choose its sessions by when they began.

    Example:

    \b
        ra audit report
        ra audit report consent-and-control-grants --format csv
        ra audit report --html report.html --since 2026-11-01 --until 2026-12-01
    """
    from ra import reports

    if html is not None:
        if name is not None:
            raise UsageError("give a report NAME or --html, not both")
        _html_report(html, since, until, home)
        return
    if since is not None or until is not None:
        raise UsageError("--since and --until go with --html")
    if name is None:
        for known in reports.names():
            say(f"{known.replace('_', '-'):<32} {reports.description(known)}")
        return
    if fmt not in ("table", "csv", "json", "jsonl"):
        raise UsageError(f"--format must be table, csv, json or jsonl, not {fmt!r}")
    query = reports.sql(name)
    with open_existing_store(home) as store, progress(f"report {name}") as step, \
            _querying(store):
        rows = _report_rows(store, query, step)
        columns = list(rows[0]) if rows else [
            d[0] for d in store.conn.execute(query).description or []]
    if fmt == "json":
        emit_json(rows)
    elif fmt == "jsonl":
        for row in rows:
            emit_json(row)
    elif fmt == "csv":
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(c) for c in columns])
    else:
        # For people: times in local time with their zone, every cell inert.
        print_table(columns, [[None if row.get(c) is None else local_time_text(str(row.get(c)))
                               for c in columns] for row in rows])


@contextmanager
def _querying(store: EventStore) -> Iterator[None]:
    """SQL over the log: a database error there (e.g. a body that is not JSON)
    is the log's damage, said as a `StoreError`."""
    import sqlite3

    from ra.events.errors import StoreError

    try:
        yield
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"the event log {store.path} is damaged ({exc}); run `ra audit verify`"
        ) from None


def _html_report(path: Path, since: str | None, until: str | None, home: Path | None) -> None:
    """`ra audit report --html`: collect with progress, write, say what was written."""
    from ra.reports.html import collect, write_report
    from ra.reports.period import Period

    low = parse_since(since) if since else None
    high = parse_since(until) if until else None
    if low is not None and high is not None and high <= low:
        raise UsageError("--until must be later than --since")
    if not path.parent.is_dir():
        raise UsageError(f"cannot write {path}: no folder {path.parent}")
    with open_existing_store(home) as store, progress("report") as step, _querying(store):
        try:
            made = collect(store.conn, Period(low, high), progress=step)
            write_report(made, path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            from ra.events.errors import StoreError

            if isinstance(exc, OSError):
                raise UsageError(f"cannot write {path}: {exc.strerror}") from None
            raise StoreError(f"the event log {store.path} holds an event ra cannot read "
                             f"({type(exc).__name__}); run `ra audit verify`") from None
    t = made.totals
    say(f"wrote {path}: {t.sessions} sessions, {t.consents_denied} consents denied, "
        f"{t.lockouts} lock-outs, {t.failed_passwords} failed passwords")


def _report_rows(store: EventStore, query: str, step: Progress) -> list[dict[str, Any]]:
    """The report's rows, with progress: how far into the log (by seq) it has read."""
    (high,) = store.conn.execute("SELECT max(seq) FROM events").fetchone()
    total = 0 if high is None else int(high) + 1
    cursor = store.conn.execute(query)
    columns = [d[0] for d in cursor.description or []]
    at = columns.index("seq") if "seq" in columns else None
    rows: list[dict[str, Any]] = []
    while batch := cursor.fetchmany(1024):
        rows += [dict(zip(columns, row, strict=True)) for row in batch]
        if at is not None and isinstance(batch[-1][at], int):
            step(batch[-1][at] + 1, total)
        else:
            step(len(rows), None)
    return rows


@app.command()
def migrate(
    json_out: JsonOption = False,
    quiet: QuietOption = False,
    home: HomeOption = None,
) -> None:
    """Bring a log written by an older ra up to this version's schema.

    Every event, hash and checkpoint is copied as it is (checkpoint files kept
    elsewhere stay valid); the result must verify before it replaces the old
    file, which is kept as ra.db.schema<N>.bak. Stop other ra processes first.

    Example:

    \b
        ra audit migrate
    """
    from ra.events.migrate import migrate as run_migration

    with progress("copying", show=not quiet and not json_out) as step:
        result = run_migration(home_of(home), progress=step)
    if json_out:
        emit_json({
            "database": str(result.database), "migrated": result.migrated,
            "from_schema": result.from_schema, "to_schema": result.to_schema,
            "events": result.events, "spans": result.spans,
            "checkpoints_verified": result.checkpoints, "root": result.root or None,
            "backup": None if result.backup is None else str(result.backup),
        })
        return
    if not result.migrated:
        say(f"{result.database} is already log schema {result.to_schema}; nothing to do")
        return
    say(f"migrated {result.database} from log schema {result.from_schema} to "
        f"{result.to_schema}: {result.events} events in {result.spans} spans, "
        f"{result.checkpoints} checkpoints verified, root {result.root}")
    say(f"the old file is kept as {result.backup}")


MIN_ID_PREFIX = 4


def _resolve_stream(store: Any, stream: str) -> str:
    """The stream `stream` names: itself if the log has it, else the one stream it
    starts (at least 4 characters of the id); several are a usage error that lists them."""
    if store.stream_version(stream) > 0:
        return stream
    kind, colon, start = stream.partition(":")
    if not colon:  # a bare id: of any kind of stream
        kind, start = "", stream
    if len(start) < MIN_ID_PREFIX:
        raise UsageError(f"no stream {stream} in this log (give at least {MIN_ID_PREFIX} "
                         "characters of the id, e.g. session:21b4)")
    if kind:
        where, params = "substr(span_stream, 1, ?) = ?", (len(stream), stream)
    else:
        where = "substr(span_stream, instr(span_stream, ':') + 1, ?) = ?"
        params = (len(start), start)
    found = [row[0] for row in store.conn.execute(
        "SELECT DISTINCT span_stream FROM events WHERE span_last IS NOT NULL "
        f"AND {where} ORDER BY span_stream LIMIT 21", params)]
    if not found:
        raise UsageError(f"no stream {stream} in this log")
    if len(found) > 1:
        shown = ", ".join(found[:20]) + (", ..." if len(found) > 20 else "")
        raise UsageError(f"{stream} matches several streams: {shown}; give more of the id")
    return str(found[0])


def _brief(payload: Any) -> str:
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= 80 else text[:77] + "..."


def _output(doc: ProofDocument, out: Path | None) -> None:
    text = json.dumps(doc.to_json(), indent=2, sort_keys=True) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        _write_new(out, text.encode("utf-8"))
        say(f"{doc.describe()}; written to {out}")


def _write_new(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None



from ra.cli import export as _export  # noqa: E402 - `export`, `verify-export`

_export.register(app)
