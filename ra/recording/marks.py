"""What a replay marks on its timeline, and one line for each event of a session.

Shared by the replay page (`ra.viewer.replay`) and the video export
(`ra.recording.video`, whose chapters they are). Everything from the log
(names, chat, reasons) is made inert (`ra.inert`) here.
"""

from __future__ import annotations

from ra.events import RecordedEvent
from ra.inert import inert

#: How much of a name or a chat message the event list shows.
TEXT_SHOWN = 300

#: Event type -> the timeline mark it makes (the others are listed, not marked).
MARKS = {
    "consent.requested": "consent", "consent.granted": "consent", "consent.denied": "consent",
    "control.requested": "control", "control.granted": "control", "control.denied": "control",
    "control.released": "release", "chat.message": "chat", "session.disconnected": "end",
    "view.unavailable": "end",
}


def who(event: RecordedEvent) -> str:
    actor = event.actor
    return f"{actor.kind} {inert(actor.id, TEXT_SHOWN)}" if actor.kind != "system" else "system"


def summary(event: RecordedEvent) -> str:
    """One line that says what the event was (inert text)."""
    p = event.payload
    kind = event.type
    if kind in ("consent.requested", "consent.granted", "consent.denied"):
        what = f"{kind.split('.')[1]} {p.get('scope', '')}"
        return what + (f" ({inert(str(p['reason']), TEXT_SHOWN)})" if "reason" in p else "")
    if kind == "control.released":
        return (f"control released by {inert(str(p.get('by', '')), 40)} "
                f"via {inert(str(p.get('via', '')), 40)}")
    if kind == "chat.message":
        text = p.get("text")
        shown = inert(text, TEXT_SHOWN) if isinstance(text, str) else "(not shown)"
        return f"chat from {inert(str(p.get('from', '')), 40)}: {shown}"
    if kind == "session.disconnected":
        return (f"session ended by {inert(str(p.get('by', '')), 40)}: "
                f"{inert(str(p.get('reason', '')), TEXT_SHOWN)}")
    if kind == "session.authenticated":
        return (f"helper {inert(str(p.get('helper', '')), TEXT_SHOWN)} authenticated"
                + (f" from {inert(str(p['address']), 80)}" if "address" in p else "")
                + (f"; recording {inert(str(p['recording']), 20)}" if "recording" in p else ""))
    if kind == "view.unavailable":
        return f"screen unavailable: {inert(str(p.get('reason', '')), TEXT_SHOWN)}"
    if kind == "input.rejected":
        return f"input rejected ({inert(str(p.get('count', 1)), 20)})"
    return kind.replace(".", " ")


__all__ = ["MARKS", "TEXT_SHOWN", "summary", "who"]
