"""Forgetting a session's chat: destroy its key, keep every event.

`forget` records ``session.forgotten`` (``{"why": ..., "by": "operator" |
"system"}``, the actor saying which account) in the session's stream, then
destroys the session's key (`ra.session_keys.SessionKeys.destroy`): persist,
then act, so a process killed in between leaves a log that says forgotten and
a key the next `forget` destroys. The sealed chat stays in the log, so the log
still verifies, and can never be opened again: it reads as ``(forgotten)``
(`ra.sealed_chat`). Every event and its metadata stay. Forgetting twice
records nothing new (and destroys whatever key is left).

A session whose chat an earlier ra recorded in plain text cannot be
forgotten: the log is append-only, the text cannot be taken out of it, and
`forget` says so (`PlainChatError`, exit 2) rather than record a forgetting
that did not happen.

Retention (`apply_retention`): with ``[retention] chat = "30d"`` in
``config.toml``, every session that has a key here and whose last event is
older than that is forgotten, with why ``retention 30d``, by the system.
Nothing else is touched: not a session still within the period, not a
session whose key is already gone, not one with plain-text chat (skipped,
and named in a warning line), not a key whose session this log does not hold.
It runs whenever ra starts on a log it writes to: when the invitations are
opened (`ra invite ...`, `ra ask`; beside the keystore sweep), when `ra
connect` opens the helper's log, and in the other commands that open the log
for writing (`ra.cli.common.open_store`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ra.config import chat_retention
from ra.errors import InputError
from ra.events import EventStore, NewEvent
from ra.events.errors import ConcurrencyError
from ra.events.model import SYSTEM, Actor, utc_now
from ra.home import Home
from ra.logs import get_logger
from ra.sealed_chat import CHAT, session_id_of
from ra.session_keys import SessionKeys

FORGOTTEN = "session.forgotten"
#: The longest reason a forgetting keeps.
MAX_WHY = 500


class ForgetError(InputError):
    """The session cannot be forgotten as asked; the message says why."""


class PlainChatError(ForgetError):
    """The session's chat was recorded in plain text by an earlier ra: the
    append-only log keeps it, so forgetting it is not possible."""


@dataclass(frozen=True)
class Forgotten:
    """What `forget` did."""

    stream: str
    seq: int
    """The ``session.forgotten`` event (the earlier one, if it was forgotten before)."""
    recorded: bool
    """Whether this call recorded it (False: the session was already forgotten)."""
    key_destroyed: bool
    """Whether a key was destroyed now (False: there was none left)."""
    why: str


def forget(
    store: EventStore,
    keys: SessionKeys,
    stream: str,
    *,
    why: str,
    actor: Actor,
    by: str = "operator",
) -> Forgotten:
    """Forget the chat of the session `stream` (``session:<id>``)."""
    try:
        session_id = session_id_of(stream)
    except ValueError:
        raise ForgetError(f"{stream} is not a session: only a session's chat can be "
                          "forgotten") from None
    why = why.strip()
    if not why:
        raise ForgetError("say why the session is forgotten (--why), for the log")
    if len(why) > MAX_WHY:
        raise ForgetError(f"the reason may be at most {MAX_WHY} characters")
    for _attempt in range(5):
        events = store.read_stream(stream)
        if not events:
            raise ForgetError(f"no session {stream} in this log")
        if any(e.type == CHAT and isinstance(e.payload.get("text"), str) for e in events):
            raise PlainChatError(
                f"{stream} holds chat an earlier ra recorded in plain text; the log is "
                "append-only, so it cannot be forgotten (nothing was changed)")
        earlier = next((e for e in events if e.type == FORGOTTEN), None)
        if earlier is not None:
            return Forgotten(stream, earlier.seq, False, keys.destroy(session_id),
                             str(earlier.payload.get("why", "")))
        try:
            [event] = store.append(stream, events[-1].stream_version, [
                NewEvent(FORGOTTEN, {"why": why, "by": by}, actor)])
        except ConcurrencyError:
            continue  # the session moved on meanwhile: look again
        return Forgotten(stream, event.seq, True, keys.destroy(session_id), why)
    raise ForgetError(f"{stream} keeps changing; try again once the session has ended")


def apply_retention(
    store: EventStore, home: Home, *, now: datetime | None = None
) -> list[Forgotten]:
    """Forget every session due under ``[retention] chat``; returns what was forgotten."""
    setting = chat_retention(home)
    if setting is None:
        return []
    text, period = setting
    keys = SessionKeys(home)
    keys.sweep()
    cutoff = (now or utc_now()) - period
    done: list[Forgotten] = []
    for session_id in keys.ids():
        stream = f"session:{session_id}"
        version = store.stream_version(stream)
        if version == 0:
            continue  # not a session of this log: not for it to judge
        [last] = store.read_stream(stream, version - 1)
        if last.occurred_at >= cutoff:
            continue
        try:
            done.append(forget(store, keys, stream, why=f"retention {text}", actor=SYSTEM,
                               by="system"))
        except PlainChatError:
            # (the logger only now: structlog stays out of commands that log nothing)
            get_logger("ra.forget").warning("retention.skipped", stream=stream,
                                            reason="plain-text chat")
    return done


__all__ = [
    "FORGOTTEN",
    "MAX_WHY",
    "ForgetError",
    "Forgotten",
    "PlainChatError",
    "apply_retention",
    "forget",
]
