"""What the person's log knows of a helper before its session starts.

No separate state: every session the person ran holds a
``session.authenticated`` event with the helper's name and key fingerprint,
as the handshake proved them. Folding those gives, for the helper now
asking, the other names its key came with (someone who was "Eve" last week
and is "Bob (IT)" today) and whether its name came with another key
(someone else calling themselves "Bob (IT)"). The consent question says
both (`ra.engine.session.prompt_text`).
"""

from __future__ import annotations

from ra.engine.session import Seen
from ra.events import EventStore

AUTHENTICATED = "session.authenticated"


def seen_before(store: EventStore, name: str, fingerprint: str) -> Seen:
    """What earlier sessions in `store` say about the helper `name` with key `fingerprint`."""
    other_names: list[str] = []
    other_key = False
    for event in store.iter_events(stream_prefix="session:", types=[AUTHENTICATED]):
        earlier_name = event.payload.get("helper")
        earlier_key = event.payload.get("fingerprint")
        if not isinstance(earlier_name, str) or not isinstance(earlier_key, str):
            continue  # recorded before helpers had names and keys
        if earlier_key == fingerprint and earlier_name != name:
            if earlier_name not in other_names:
                other_names.append(earlier_name)
        elif earlier_name == name and earlier_key != fingerprint:
            other_key = True
    return Seen(tuple(other_names), other_key)


__all__ = ["seen_before"]
