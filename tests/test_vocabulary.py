"""One vocabulary: the viewer server, the engine and the injector agree on every input event.

Each layer checks what it is handed against `ra.vocabulary`, so an event is
either taken by all three or refused by all three; none is valid at one
layer and malformed at the next. Escape is the same key everywhere.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import pytest

from ra import vocabulary
from ra.desktop.keys import ESCAPE_REFUSED, RefusedInput, parse_event
from ra.engine import messages as msg
from ra.viewer.server import parse_page_message

TAKEN = [
    {"kind": "key", "key": "a", "code": "KeyA", "down": True},
    {"kind": "key", "key": "F" + "1", "down": False},
    {"kind": "key", "key": "A", "code": "", "down": True},
    {"kind": "pointer", "x": 0, "y": 0},
    {"kind": "pointer", "x": vocabulary.COORD_MAX, "y": vocabulary.COORD_MAX},
    {"kind": "button", "button": 3, "down": True},
    {"kind": "scroll", "dx": vocabulary.MAX_SCROLL, "dy": -vocabulary.MAX_SCROLL},
]
REFUSED = [
    {"kind": "key", "key": "a" * (vocabulary.MAX_KEY_NAME + 1), "down": True},
    {"kind": "key", "key": "a", "code": "K" * (vocabulary.MAX_KEY_NAME + 1), "down": True},
    {"kind": "key", "key": "a", "code": "Key A", "down": True},
    {"kind": "pointer", "x": vocabulary.COORD_MAX + 1, "y": 0},
    {"kind": "pointer", "x": 0, "y": 0xFFFF},
    {"kind": "button", "button": 4, "down": True},
    {"kind": "button", "button": 0, "down": True},
    {"kind": "scroll", "dx": 0, "dy": vocabulary.MAX_SCROLL + 1},
    {"kind": "scroll", "dx": -1000, "dy": 0},
]


def _page(event: dict[str, Any]) -> dict[str, Any] | None:
    parsed = parse_page_message(json.dumps({"type": "input", "event": event}))
    return None if parsed is None else parsed["event"]


def _injector_takes(event: dict[str, Any]) -> bool:
    try:
        parse_event(event)
    except RefusedInput:
        return False
    return True


@pytest.mark.parametrize("event", TAKEN)
def test_an_event_one_layer_takes_every_layer_takes(event: dict[str, Any]) -> None:
    clean = msg.check_input(event)
    assert _page(event) == clean
    assert _injector_takes(clean)


@pytest.mark.parametrize("event", REFUSED)
def test_an_event_one_layer_refuses_every_layer_refuses(event: dict[str, Any]) -> None:
    assert _page(event) is None
    with pytest.raises(msg.MessageError):
        msg.check_input(event)
    assert not _injector_takes(event)


@pytest.mark.parametrize("fields", [
    {"key": "Escape"}, {"key": "Esc"}, {"key": "\x1b"}, {"key": "escape"}, {"key": "ESC"},
    {"key": "Unidentified", "code": "Escape"}, {"key": "a", "code": "escape"},
])
def test_escape_is_one_key_everywhere(fields: dict[str, str]) -> None:
    event = {"kind": "key", "down": True, **fields}
    assert vocabulary.is_escape(event) and msg.is_escape(event)
    with pytest.raises(RefusedInput, match=ESCAPE_REFUSED):
        parse_event(event)


def test_the_page_scrolls_no_further_than_the_vocabulary_allows() -> None:
    script = resources.files("ra.viewer").joinpath("static", "viewer.js").read_text("utf-8")
    found = re.search(r"const MAX_SCROLL = (\d+);", script)
    assert found is not None
    assert int(found.group(1)) == vocabulary.MAX_SCROLL
