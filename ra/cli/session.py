"""`ra ask` (the person waits for a helper) and `ra connect` (the helper joins)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from ra.cli.common import HomeOption, UsageError, home_of, read_password_line, say, warn
from ra.invitations import load_invitation
from ra.logs import register_secret
from ra.net.dial import DialError
from ra.session.driver import Terminal
from ra.session.helper import connect_async
from ra.session.person import ask_async


def ask(
    invitation: Annotated[
        str | None,
        typer.Argument(help="Invitation id (or its first characters); default: every open one."),
    ] = None,
    host: Annotated[
        list[str] | None,
        typer.Option("--host", show_default=False,
                     help="Address to listen on (repeatable; default: the invitation's)."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            help="Port to listen on (default: the invitation's; 0 picks a free one).",
            min=0,
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
    """
    terminal = Terminal()
    screen = None if no_screen else display
    if screen is None and not no_screen:
        say("no X display ($DISPLAY is not set): the helper will see no screen")
    result = asyncio.run(
        ask_async(home_of(home), invitation, host=host or None, port=port, terminal=terminal,
                  display=screen,
                  on_listening=lambda address: say(f"listening on {address}"))
    )
    if result.session_id is None:
        say("stopped waiting; no helper connected")
    else:
        say(f"session {result.session_id} ended ({result.reason}); it is in your log")


def connect(
    file: Annotated[Path, typer.Argument(help="The invitation file you were sent.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    no_browser: Annotated[
        bool,
        typer.Option("--no-browser", help="Do not open a browser; print the viewer's address."),
    ] = False,
    home: HomeOption = None,
) -> None:
    """Join the person who invited you, with their invitation file and password.

    The password is never taken on the command line: it is asked (hidden) or
    read from standard input. Type /control to ask for the mouse and keyboard,
    /release to give them back, /disconnect (or Ctrl-C) to leave; any other
    line is chat. Every step is recorded in your own log.
    """
    invitation = load_invitation(file)
    password = _read_password(password_stdin)
    register_secret(password)
    try:
        reason = asyncio.run(connect_async(
            home_of(home), invitation, password, terminal=Terminal(),
            open_browser=not no_browser, on_viewer=lambda url: say(f"viewer: {url}"),
        ))
    except DialError as error:  # one line per address tried, each saying why
        for line in error.lines:
            warn(f"ra: {line}")
        raise typer.Exit(error.exit_code) from None
    say(f"session ended ({reason})")


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return read_password_line()
    if not sys.stdin.isatty():
        raise UsageError("no terminal to ask for the password: use --password-stdin")
    password = typer.prompt("Invitation password", hide_input=True)
    return str(password)


__all__ = ["ask", "connect"]
