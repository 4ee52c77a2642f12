"""What every command shares: --home, --json, opening the log, printing.

An option that several commands take is declared here once (``--port``,
``--out``, ``--format``, ``--since``, an invitation id, ...): as an
`Annotated` alias where it means the same everywhere, as a small factory
(`time_option`, `out_option`, ...) where the flag is the same and its help
says what it does in each command. An option of one module lives there
(`ra.cli.audit.SizeOption`); one of one command stays in its signature.

Nothing here imports the log or the session stacks at module level: the
command tree is built on every start (`ra --help` included), so a command's
heavy imports happen inside the command.

Commands that only read (`audit verify`, `audit log`, `invite show`, ...) open
the log with `open_existing_store`: a home without a log is said in one line
(exit 2), and nothing is created, neither the folder nor an empty log.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ra.errors import InputError

if TYPE_CHECKING:
    from ra.events import EventStore
    from ra.home import Home


class UsageError(InputError):
    """The command line asks for something that cannot be done."""


CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}
# Also in ra.invitations (FILE_SUFFIX) and ra.invitations.service (DEFAULT_PORT),
# which cost signing and the log to import; a test keeps them equal.
FILE_SUFFIX = ".rainv"
DEFAULT_PORT = 5960


def help_when_no_command(ctx: typer.Context) -> None:
    """A group called without a command: its help on stderr, exit 2 (a usage error)."""
    if ctx.invoked_subcommand is None and not ctx.resilient_parsing:
        typer.echo(ctx.get_help(), err=True)
        raise typer.Exit(2)


def group(help: str) -> typer.Typer:
    """A command group (`ra invite`, ...): ``-h``, plain help, and its help as a
    usage error when no command is given (`help_when_no_command`)."""
    made = typer.Typer(help=help, invoke_without_command=True,
                       context_settings=CONTEXT_SETTINGS, rich_markup_mode=None)
    made.callback()(help_when_no_command)
    return made


HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        envvar="RA_HOME",
        help="Folder holding the log and keys (default: $RA_HOME or ~/.local/share/ra).",
        show_default=False,
        readable=False,  # ra.home checks the folder and says what is wrong with it
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON for scripts instead of text (one document).")
]
JsonlOption = Annotated[
    bool, typer.Option("--jsonl", help="Print JSON lines: one object a line, as they come.")
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")]
#: ``--port``: the one `ra ask` listens on (`ra invite create`, `ra doctor`, `ra firewall`).
PortOption = Annotated[
    int, typer.Option("--port", help="The port `ra ask` listens on.", min=1, max=65535)
]
#: A session of the log, named as `ra audit sessions` lists it (`replay`, `forget`).
SessionArg = Annotated[str, typer.Argument(
    help="The session: its id, the start of it (at least 4 characters), or session:ID.")]


# The options below are one flag each whose help says what it does in each
# command: the flag, its short form and its kind are stated here once.


def time_option(flag: str, what: str) -> Any:
    """A ``--since``/``--until`` option (read by `parse_since`): `what` it keeps."""
    return typer.Option(flag, help=f"{what} (ISO 8601, or 1h, 2d ago).")


def person_option(how: str) -> Any:
    """``--person``: only the sessions whose person's name matches `how`."""
    return typer.Option("--person", help=f"Only sessions whose person's name {how}.")


def helper_option(name: str, key: str) -> Any:
    """``--helper``: only the sessions whose helper's name matches as `name` says, or
    its key fingerprint as `key` says."""
    return typer.Option("--helper", help=f"Only sessions whose helper's name {name}, "
                                         f"or whose helper's key fingerprint {key}.")


def format_option(choices: str) -> Any:
    """``--format``/``-f``: one of `choices` (said in words; the command checks it)."""
    return typer.Option("--format", "-f", help=f"{choices}.")


def out_option(what: str) -> Any:
    """``--out``/``-o``: where the command writes `what`."""
    return typer.Option("--out", "-o", help=f"Write {what}.")


def display_option(verb: str) -> Any:
    """``--display``: the X display the command will `verb` (default: $DISPLAY)."""
    return typer.Option("--display", envvar="DISPLAY", show_default=False,
                        help=f"X display to {verb} (default: $DISPLAY).")


def invitation_id(when_none: str = "") -> Any:
    """An invitation of this home, by its id or its first characters; `when_none`:
    what giving none means (the argument is then optional)."""
    default = f"; default: {when_none}" if when_none else ""
    return typer.Argument(help=f"Invitation id (or its first characters){default}.")


InvitationArg = Annotated[str, invitation_id()]


def password_stdin_option(more: str = "") -> Any:
    """``--password-stdin`` (read by `read_password_line`); `more`: how, if said."""
    return typer.Option("--password-stdin", help=f"Read the password from standard input{more}.")


def no_browser_option(what: str, with_flag: str = "") -> Any:
    """``--no-browser``: open nothing, print `what` file (that opens the page) instead;
    `with_flag`: the option it goes with, if any."""
    goes = f" (with {with_flag})" if with_flag else ""
    return typer.Option("--no-browser",
                        help=f"Open no browser{goes}: print {what} file, to open in one.")


def home_of(home: Path | None) -> Home:
    from ra.home import Home

    return Home.at(home)


def open_store(home: Path | None) -> EventStore:
    """The home's log, for a command that writes to it (made if need be); chat
    due under ``[retention] chat`` is forgotten first (`ra.forget`)."""
    from ra.events import EventStore
    from ra.forget import apply_retention

    found = home_of(home)
    store = EventStore.open(found)
    try:
        apply_retention(store, found)
    except BaseException:
        store.close()
        raise
    return store


class NoLogError(UsageError):
    """The home folder holds no log: nothing has been recorded there yet."""


def has_log(home: Path | None) -> bool:
    """Whether the home holds a log (nothing is created to find out; a damaged
    home is a `HomeError`, not an empty one)."""
    return home_of(home).holds_log()


def open_existing_store(home: Path | None) -> EventStore:
    """The log of a home that already holds one (`NoLogError` if it holds none)."""
    found = home_of(home)
    if not found.holds_log():
        raise NoLogError(f"no log in {found.root}: nothing has been recorded there "
                         "(check --home or RA_HOME)")
    from ra.events import EventStore

    return EventStore.open(found)


def log_problem(store: EventStore) -> str | None:
    """None when the log verifies as `ra audit verify` checks it (the recorded
    screen apart); else what is wrong, in one line. Commands that tell others
    what the log holds (replay, export) ask it first."""
    from ra.events import verify_log

    report = verify_log(store)
    return None if report.ok else report.summary()


def warn_altered(problem: str) -> None:
    """Say first, on stderr, that what follows comes from a log that does not verify."""
    warn(f"ra: WARNING: the log does not verify ({problem}); what follows may have been "
         "altered: `ra audit verify` says more")


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, sort_keys=True) + "\n")


def json_mode(json_out: bool, jsonl_out: bool) -> str | None:
    """``"json"`` (one document), ``"jsonl"`` (one object a line) or None (text)."""
    if json_out and jsonl_out:
        raise UsageError("give --json (one document) or --jsonl (one object a line), not both")
    return "json" if json_out else "jsonl" if jsonl_out else None


class JsonArray:
    """Write a JSON array item by item: one document, without holding the items."""

    def __init__(self) -> None:
        self.count = 0

    def add(self, encoded: str) -> None:
        sys.stdout.write(("[" if self.count == 0 else ",\n") + encoded)
        self.count += 1

    def close(self) -> None:
        sys.stdout.write("[]\n" if self.count == 0 else "]\n")


def say(text: str = "") -> None:
    typer.echo(text)


def warn(text: str) -> None:
    typer.echo(text, err=True)


def read_password_line() -> str:
    """One password from standard input (`--password-stdin`): the first line, as typed."""
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise UsageError("no password on standard input")
    return password


_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``1h``, ``2d``, ``1w``."""
    match = _DURATION.match(text.lower())
    if not match:
        raise UsageError(f"{text!r} is not a duration like 30m, 1h or 2d")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time (UTC if no zone is given) or a duration ago (``1h``)."""
    now = now or datetime.now(UTC)
    if _DURATION.match(text.lower()):
        return now - parse_duration(text)
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{text!r} is neither a time (2026-11-25T10:00:00Z) nor a duration (1h)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
