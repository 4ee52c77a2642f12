"""`ra ask` (the person waits for a helper) and `ra connect` (the helper joins).

The session stacks (desktop, codec, network, viewer) are imported inside the
commands that run them: every other `ra` command, and `--help` here too,
starts without them.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import typer

from ra.cli.common import HomeOption, home_of, read_password_line, say


def ask(
    invitation: Annotated[
        str | None,
        typer.Argument(help="Invitation id (or its first characters); default: every open one."),
    ] = None,
    host: Annotated[
        str,
        typer.Option("--host", help="Address to listen on: 0.0.0.0 (all) or 127.0.0.1."),
    ] = "0.0.0.0",
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            help="Port to listen on: the one the invitation carries (the default); "
                 "without an invitation id, serve the open ones that carry it.",
            min=1,
            max=65535,
            show_default=False,
        ),
    ] = None,
    display: Annotated[
        str | None,
        typer.Option("--display", envvar="DISPLAY", show_default=False,
                     help="X display to share (default: $DISPLAY)."),
    ] = None,
    no_screen: Annotated[
        bool, typer.Option("--no-screen", help="Chat only: share no screen, allow no control.")
    ] = False,
    home: HomeOption = None,
) -> None:
    """Wait for your helper, then run one session with them.

    You are asked before the helper sees your screen, and again before they
    may control it. Type a line to chat, /release to take control back,
    /disconnect (or Ctrl-C) to end. Ending the invitation (`ra invite expire`)
    ends the session too. Every step is recorded in your log.

    Example:

    \b
        ra ask
        ra ask 3f2a19c0 --no-screen
    """
    import asyncio

    from ra.session.driver import Terminal
    from ra.session.person import ask_async

    terminal = Terminal()
    screen = None if no_screen else display
    if screen is None and not no_screen:
        say("no X display ($DISPLAY is not set): the helper will see no screen")
    result = asyncio.run(
        ask_async(home_of(home), invitation, host=host, port=port, terminal=terminal,
                  display=screen,
                  on_listening=lambda address: say(f"listening on {address}"))
    )
    if result.session_id is None:
        say("stopped waiting; no helper connected")
    else:
        say(f"session {result.session_id} ended ({result.reason}); it is in your log")


def connect(
    source: Annotated[
        str,
        typer.Argument(help="The invitation you were sent: its file, the ra1: code, or - "
                            "(standard input).", metavar="INVITATION"),
    ],
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin",
                     help="Read the password from standard input (with -: the line after "
                          "the invitation)."),
    ] = False,
    no_browser: Annotated[
        bool,
        typer.Option("--no-browser",
                     help="Do not open a browser; print the viewer's file to open in one."),
    ] = False,
    home: HomeOption = None,
) -> None:
    """Join the person who invited you, with their invitation and password.

    The invitation is the file you were sent, the code (ra1:...) pasted from
    chat, or - to read either from standard input. The password is never
    taken on the command line: it is asked (hidden, on the terminal) or read
    from standard input; with -, --password-stdin reads the invitation from
    the first line and the password from the second. Type /control to ask
    for the mouse and keyboard, /release to give them back, /disconnect (or
    Ctrl-C) to leave; any other line is chat. Every step is recorded in your own log.

    The viewer opens in your browser from a file only you can read (in
    $XDG_RUNTIME_DIR, else in RA_HOME/run); it holds the viewer's one-time
    address, which never appears on a command line.

    Example:

    \b
        ra connect RAInvitation.rainv
        ra connect ra1:eNqtVE1v2zAM... --no-browser
        ra connect - --password-stdin < code-then-password.txt
    """
    import asyncio

    from ra.cli.source import STDIN, read_invitation
    from ra.invitations import parse_invitation
    from ra.logs import register_secret
    from ra.session.driver import Terminal
    from ra.session.helper import connect_async

    invitation = parse_invitation(read_invitation(source, first_line_only=password_stdin))
    password = _read_password(password_stdin, from_stdin=source == STDIN)
    register_secret(password)
    reason = asyncio.run(connect_async(
        home_of(home), invitation, password, terminal=Terminal(), open_browser=not no_browser,
        on_viewer=functools.partial(_show_viewer, no_browser),
    ))
    say(f"session ended ({reason})")


def _show_viewer(no_browser: bool, opener: Path) -> None:
    if no_browser:
        say(f"viewer: open {opener.as_uri()} in your browser (only you can read that file)")
    else:
        say(f"viewer: opening {opener.as_uri()} in your browser")


def _read_password(password_stdin: bool, *, from_stdin: bool) -> str:
    from ra.cli.source import check_terminal_for_password

    if password_stdin:
        return read_password_line()
    check_terminal_for_password(from_stdin)
    password = typer.prompt("Invitation password", hide_input=True)
    return str(password)


__all__ = ["ask", "connect"]
