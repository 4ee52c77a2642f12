"""The root of every error `ra` raises on purpose.

Each error's message is written for the person who will read it in a
terminal: one line, what went wrong and, where it helps, what to do. The CLI
prints the message and exits with the error's `exit_code`; anything else is
a bug.
"""


class RaError(Exception):
    """Something the user can act on went wrong."""

    exit_code: int = 1
