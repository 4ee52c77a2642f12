"""`ra ask` (the person waits for a helper) and `ra connect` (the helper joins).

The session stacks (desktop, codec, network, viewer) are imported inside the
commands that run them: every other `ra` command, and `--help` here too,
starts without them.
"""

from __future__ import annotations

import enum
import functools
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ra.cli.common import (
    HomeOption,
    UsageError,
    display_option,
    home_of,
    invitation_id,
    no_browser_option,
    password_stdin_option,
    read_password_line,
    say,
    warn,
)
from ra.cli.source import InvitationSourceArg


class Backend(enum.StrEnum):
    """The desktop backends `ra ask` can use (`ra.desktop.backend`)."""

    x11 = "x11"
    pynput = "pynput"


#: ``ra ask --backend``: how the desktop is reached.
BackendOption = Annotated[Backend | None, typer.Option(
    "--backend", show_default=False,
    help="How to reach the desktop: x11 (XTEST and RECORD; the default on Linux) or pynput "
         "(mss and pynput; the default elsewhere).")]
#: ``ra connect --name``: the helper's name, as the person sees it.
NameOption = Annotated[str | None, typer.Option(
    "--name", show_default=False,
    help="Your name, as the person will see it (remembered for next time; default: the "
         "last one given, else your user name).")]

if TYPE_CHECKING:
    from ra.session.window import PersonWindow


def ask(
    invitation: Annotated[str | None, invitation_id("every open one")] = None,
    host: Annotated[
        list[str] | None,
        typer.Option("--host", show_default=False,
                     help="Address to listen on (repeatable; default: the invitation's)."),
    ] = None,
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
    display: Annotated[str | None, display_option("share")] = None,
    no_screen: Annotated[
        bool, typer.Option("--no-screen", help="Chat only: share no screen, allow no control.")
    ] = False,
    backend: BackendOption = None,
    terminal_only: Annotated[
        bool, typer.Option("--terminal",
                           help="Ask and chat in this terminal, not in a window.")
    ] = False,
    home: HomeOption = None,
) -> None:
    """Wait for your helper, then run one session with them.

    You are asked before the helper sees your screen, and again before they
    may control it. On a desktop this happens in a window (consent dialogs,
    chat, Stop control, Disconnect); with --terminal, or without a display,
    in this terminal: type a line to chat, /release to take control back,
    /disconnect (or Ctrl-C) to end. Ending the invitation (`ra invite expire`)
    ends the session too. Every step is recorded in your log.

    Example:

    \b
        ra ask
        ra ask 3f2a19c0 --no-screen
        ra ask --backend pynput
    """
    import asyncio

    from ra.desktop.backend import PYNPUT, default_backend, require_backend
    from ra.session.driver import Terminal
    from ra.session.person import ask_async

    chosen = backend.value if backend is not None else default_backend()
    screen = None if no_screen else display
    on_x = sys.platform.startswith("linux")
    if screen is None and not no_screen and chosen == PYNPUT and not on_x:
        screen = "local"  # no X display to name: the portable backend shares this desktop
    if screen is not None:
        require_backend(chosen)  # one line now, rather than when the helper arrives
        if chosen == PYNPUT and on_x:
            # pynput's X backend opens $DISPLAY only: make it the display shared, now,
            # before any thread or connection exists.
            os.environ["DISPLAY"] = screen
    if screen is None and not no_screen:
        say("no X display ($DISPLAY is not set): the helper will not see your screen or "
            "control it; you can chat")
    if no_screen:
        say("--no-screen: the helper will not see your screen or control it; you can chat")
    window = None if terminal_only or not screen else _open_window(screen)

    def listening(address: str) -> None:
        say(f"listening on {address}")
        if window is not None:
            window.listening_on(address)

    main = ask_async(home_of(home), invitation, host=host or None, port=port,
                     terminal=window if window is not None else Terminal(), display=screen,
                     no_screen=no_screen, backend=chosen, on_listening=listening,
                     window=window)
    result = asyncio.run(main if window is None else window.run(main))
    if result is None or result.session_id is None:
        say("stopped waiting; no helper connected")
    else:
        say(f"session {result.session_id} ended ({result.reason}); it is in your log")


def _open_window(display: str) -> PersonWindow | None:
    """The person's window on `display`, or None (said why) to use the terminal."""
    try:
        from ra.session.window import STATE_ENV, PersonWindow, WindowUnavailable
    except ImportError as exc:  # Python built without tkinter
        say(f"no window ({exc}): asking in this terminal")
        return None
    state = os.environ.get(STATE_ENV)
    try:
        return PersonWindow(display, state_file=Path(state) if state else None)
    except WindowUnavailable as exc:
        say(f"{exc}: asking in this terminal")
        return None


def connect(
    source: InvitationSourceArg,
    password_stdin: Annotated[
        bool, password_stdin_option(" (with -: the line after the invitation)")
    ] = False,
    no_browser: Annotated[bool, no_browser_option("the viewer's")] = False,
    name: NameOption = None,
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
    The person sees your name and your key's fingerprint (proven with your
    identity key) before they allow anything; your name is remembered in
    RA_HOME/config.toml.

    The viewer opens in your browser from a file only you can read (in
    $XDG_RUNTIME_DIR, else in RA_HOME/run); it holds the viewer's one-time
    address, which never appears on a command line.

    Example:

    \b
        ra connect RAInvitation.rainv --name "Bob (IT)"
        ra connect ra1:eNqtVE1v2zAM... --no-browser
        ra connect - --password-stdin < code-then-password.txt
    """
    import asyncio

    from ra.cli.source import STDIN, read_invitation
    from ra.invitations import parse_invitation
    from ra.logs import register_secret
    from ra.session.driver import Terminal
    from ra.session.helper import Connect, helper_name

    where = home_of(home)
    try:
        me = helper_name(where, name)
    except ValueError as exc:
        raise UsageError(f"--name: {exc}") from None
    invitation = parse_invitation(read_invitation(source, first_line_only=password_stdin))
    password = _read_password(password_stdin, from_stdin=source == STDIN)
    register_secret(password)
    from ra.net.dial import DialError

    try:
        reason = asyncio.run(Connect(
            where, invitation, password, Terminal(), name=me, open_browser=not no_browser,
            on_viewer=functools.partial(_show_viewer, no_browser),
        ).run())
    except DialError as error:  # one line per address tried, each saying why
        for line in error.lines:
            warn(f"ra: {line}")
        raise typer.Exit(error.exit_code) from None
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
