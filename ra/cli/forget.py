"""`ra audit forget`: destroy a session's chat key, for good, and record it.

The work is `ra.forget.forget`; this module parses, calls it once and says
what happened. Registered on the `ra audit` group by `ra.cli.audit`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ra.cli.common import HomeOption, JsonOption, SessionArg, UsageError, emit_json, home_of, say
from ra.inert import inert


def forget(
    session: SessionArg,
    why: Annotated[
        str,
        typer.Option("--why", help="Why it is forgotten (kept in the log, e.g. a request "
                                   "reference)."),
    ],
    json_out: JsonOption = False,
    home: HomeOption = None,
) -> None:
    """Forget a session's chat: its key is destroyed and `session.forgotten` recorded.

    The chat text (and the screen recording, if any) can never be read again;
    every event stays, so the log still verifies, and `ra audit log` shows the
    chat as (forgotten). Forgetting again changes nothing. A session whose chat
    an earlier ra recorded in plain text cannot be forgotten (exit 2).

    Example:

    \b
        ra audit forget 21b4c0de --why "erasure request #1234"
        ra audit forget session:21b4c0de-... --why "retention" --json
    """
    from ra.cli.audit import _resolve_stream
    from ra.cli.common import open_existing_store
    from ra.events import Actor
    from ra.forget import forget as forget_session
    from ra.invitations.service import local_person
    from ra.session_keys import SessionKeys

    if not why.strip():
        raise UsageError("--why must say why the session is forgotten")
    found = home_of(home)
    with open_existing_store(home) as store:
        stream = _resolve_stream(store, session if ":" in session else f"session:{session}")
        operator = Actor("operator", local_person().id)  # the account that ran it
        done = forget_session(store, SessionKeys(found), stream, why=why, actor=operator)
        if done.recorded:
            store.checkpoint()  # the forgetting is under a signed root at once
    if json_out:
        emit_json({"session": done.stream, "seq": done.seq, "recorded": done.recorded,
                   "key_destroyed": done.key_destroyed, "why": done.why})
        return
    if done.recorded:
        say(f"forgot the chat of {done.stream}: its key is destroyed; "
            f"session.forgotten recorded at seq {done.seq}")
    else:
        say(f"{done.stream} was already forgotten (seq {done.seq}: "
            f"{inert(done.why, 200)})" + ("; a key left behind was destroyed"
                                           if done.key_destroyed else ""))
