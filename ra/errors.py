"""The root of every error `ra` raises on purpose.

Each error's message is written for the person who will read it in a
terminal: one line, what went wrong and, where it helps, what to do. The CLI
prints the message and exits with the error's `exit_code`; anything else is
a bug.

An error that always says the same thing names its sentence once, as its
`message`, and is raised bare (`raise WrongPassword()`); a sentence with blanks
names them (``{address}``), and the error is raised with their values, which it
keeps as attributes (`raise FingerprintMismatch(address=...)`). A text given
when it is raised says it instead. What ra was given and cannot use (a command line, a
file or folder it names) is an `InputError`: exit code 2, as for a usage error.
"""

from __future__ import annotations


class RaError(Exception):
    """Something the user can act on went wrong."""

    exit_code: int = 1
    #: What the error says when it is raised without a text ("" : nothing); its
    #: ``{name}`` blanks are filled from the keywords it is raised with.
    message: str = ""

    def __init__(self, *args: object, **fields: object) -> None:
        if not args and self.message:
            args = (self.message.format(**fields),)
        super().__init__(*args)
        self.__dict__.update(fields)


class InputError(RaError):
    """What ra was asked, or a file or folder it was given, cannot be used as it is."""

    exit_code = 2
