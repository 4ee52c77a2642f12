"""Where an invitation comes from: a file, a code pasted in chat, or standard input.

A helper is given an invitation as a file (``RAInvitation.rainv``) or as one
line to paste (``ra1:...``, `ra invite create --code`). Every command that
takes an invitation (`ra connect`, `ra invite inspect`) takes it in any of
these forms, through `read_invitation`:

* ``PATH``: the file (a file that holds a code works too);
* ``ra1:...``: the code itself (it holds nothing secret: no password, nothing
  derived from one);
* ``-``: standard input, holding the file's content or the code.

The password never travels with the invitation. When the invitation comes on
standard input, that input is not also asked for the password: the password
is asked on the terminal (``/dev/tty``), or, with ``--password-stdin``, read
from the line after the invitation; the invitation is then exactly its first
line (a code is one line, and so is the file, which ends with its only
newline). On a terminal, ``-`` reads one line too: paste the code, press
Enter.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from ra.cli.common import UsageError

STDIN = "-"
#: The argument of every command that takes an invitation, read by `read_invitation`.
InvitationSourceArg = Annotated[str, typer.Argument(
    help="The invitation: its file, the code line (ra1:...), or - (standard input).",
    metavar="INVITATION")]
#: Read at most this much: a code may be up to four times the file's limit
#: (`ra.invitations.file.from_code`); longer input is refused by the parser.
_READ_LIMIT = 4 * 64 * 1024 + 2


def looks_like_code(text: str) -> bool:
    """Whether `text` is meant as a code (``ra1:...``) rather than a file name."""
    from ra.invitations.file import is_code

    return is_code(text.lstrip())


def read_invitation(source: str, *, first_line_only: bool = False) -> bytes:
    """The invitation file's bytes from a path, a code, or ``-`` (standard input).

    `first_line_only`: standard input holds more after the invitation (the
    password, for ``--password-stdin``), so only its first line is read.
    A path or a code is read by `ra.invitations.file.read_invitation_source`.
    """
    from ra.invitations.file import from_code, read_invitation_source

    if source != STDIN:
        return read_invitation_source(source.strip() if looks_like_code(source) else source)
    data = _read_stdin(first_line_only)
    if looks_like_code(data[:64].decode("ascii", "replace")):
        return from_code(data.decode("ascii", "replace"))
    return data


def _read_stdin(first_line_only: bool) -> bytes:
    stream = sys.stdin.buffer
    if sys.stdin.isatty():
        sys.stderr.write("Paste the invitation (ra1:...) and press Enter: ")
        sys.stderr.flush()
        first_line_only = True
    data = stream.readline(_READ_LIMIT) if first_line_only else stream.read(_READ_LIMIT)
    if not data.strip():
        raise UsageError("no invitation on standard input (give a file, a ra1: code, or '-')")
    return data


def check_terminal_for_password(from_stdin: bool) -> None:
    """Refuse, in one line, when the password cannot be asked (hidden) on a terminal.

    The prompt (getpass) reads the controlling terminal, ``/dev/tty``, not
    standard input; when the invitation came on standard input, that terminal
    is all there is to ask on.
    """
    if not from_stdin:
        if not sys.stdin.isatty():
            raise UsageError("no terminal to ask for the password: use --password-stdin")
        return
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        raise UsageError(
            "no terminal to ask for the password: with '-', add --password-stdin and "
            "put the password on the line after the invitation"
        ) from None
    os.close(fd)


__all__ = ["STDIN", "check_terminal_for_password", "looks_like_code", "read_invitation"]
