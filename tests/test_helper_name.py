"""The helper's name and key, without a network: the engine, the log, config.toml."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

import pytest

from ra.config import ConfigError, remember_helper_name
from ra.engine import Prompt, Record, SessionEngine
from ra.engine.session import Seen, prompt_text
from ra.events import Actor, EventError, EventStore, NewEvent, RecordedEvent
from ra.fingerprint import format_fingerprint, key_fingerprint, short_fingerprint
from ra.home import Home
from ra.session.helper import helper_name
from ra.session.seen import seen_before

KEY = hashlib.sha256(b"bob's identity key").hexdigest()
OTHER = hashlib.sha256(b"eve's identity key").hexdigest()


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home.at(tmp_path / "home").ensure()


# -- fingerprints --------------------------------------------------------------------


def test_one_fingerprint_everywhere() -> None:
    from ra.events.checkpoint import key_fingerprint as checkpoint_fingerprint
    from ra.invitations import key_fingerprint as invitation_fingerprint

    raw = bytes(range(32))
    assert key_fingerprint(raw) == hashlib.sha256(raw).hexdigest()
    assert checkpoint_fingerprint is key_fingerprint is invitation_fingerprint
    assert short_fingerprint(KEY) == " ".join(format_fingerprint(KEY).split()[:4]) + " …"
    assert short_fingerprint("ab12cd34") == "ab12 cd34"


# -- the person's engine -------------------------------------------------------------


def _asked(seen: Seen | None = None, name: str = "Bob (IT)") -> tuple[SessionEngine, str]:
    engine = SessionEngine("person", "alice")
    engine.connected(name, 0.0, key=KEY, address="203.0.113.5", seen=seen)
    out = engine.authenticated(0.0)
    prompt = next(o for o in out if isinstance(o, Prompt))
    return engine, prompt.text


def test_the_question_names_the_helper_its_key_and_address() -> None:
    _, text = _asked()
    assert text.startswith(f"Bob (IT) asks to see your screen. Key {short_fingerprint(KEY)}, "
                           "connecting from 203.0.113.5. If you allow it")
    assert text.count("Only allow someone you contacted yourself.") == 1
    assert "Careful" not in text


def test_the_question_flags_a_key_seen_under_another_name_and_a_name_with_another_key() -> None:
    _, text = _asked(Seen(("Eve", "Mallory\x1b[2K\n")))
    assert "Careful: this key was seen before as 'Eve', 'Mallory\\x1b[2K\\n'." in text
    _, text = _asked(Seen(("a", "b", "c", "d")))
    assert "seen before as 'a', 'b', 'c' and others." in text
    _, text = _asked(Seen((), other_key=True))
    assert "Careful: someone came before under this name with another key." in text


def test_the_control_question_names_the_key_too() -> None:
    text = prompt_text("control", "Bob (IT)", key=KEY, address="203.0.113.5")
    assert text.startswith(f"Bob (IT) asks to control your mouse and keyboard. Key "
                           f"{short_fingerprint(KEY)}, connecting from 203.0.113.5.")


def test_every_event_the_helper_causes_names_its_key() -> None:
    engine = SessionEngine("person", "alice")
    out = engine.connected("Bob (IT)", 0.0, key=KEY, address="203.0.113.5")
    out += engine.authenticated(0.0)
    out += engine.consent_answered("view", True, 1.0)
    out += engine.received({"type": "chat", "text": "hi"}, 2.0)
    out += engine.received({"type": "control.request"}, 3.0)
    events = [o.event for o in out if isinstance(o, Record)]
    bob = Actor("helper", "Bob (IT)", KEY)
    by_helper = [e for e in events if e.actor.kind == "helper"]
    assert [e.type for e in by_helper] == ["session.connected", "session.authenticated",
                                           "consent.requested", "chat.message",
                                           "control.requested", "consent.requested"]
    assert all(e.actor == bob for e in by_helper)
    authenticated = next(e for e in events if e.type == "session.authenticated")
    assert authenticated.payload == {"helper": "Bob (IT)", "fingerprint": KEY,
                                     "address": "203.0.113.5"}


def test_the_helpers_engine_records_its_own_name_and_key() -> None:
    engine = SessionEngine("helper", "Bob (IT)", key=KEY)
    engine.connected("Alice", 0.0)
    out = engine.authenticated(0.0)
    event = next(o.event for o in out if isinstance(o, Record))
    assert event.payload == {"helper": "Bob (IT)", "fingerprint": KEY}
    assert event.actor == Actor("helper", "Bob (IT)", KEY)


# -- the log ---------------------------------------------------------------------------


def test_an_actors_key_is_stored_and_read_back(home: Home) -> None:
    bob = Actor("helper", "Bob (IT)", KEY)
    with EventStore.open(home) as store:
        store.append("session:s1", 0, [NewEvent("chat.message", {"from": "helper", "text": "x"},
                                                bob, origin="203.0.113.5")])
        store.append("session:s1", 1, [NewEvent("chat.message", {"from": "person", "text": "y"},
                                                Actor("person", "alice"))])
        first, second = store.iter_events(stream="session:s1")
    assert first.actor == bob
    assert b'"actor":{"id":"Bob (IT)","key":"' + KEY.encode() + b'","kind":"helper"}' in first.body
    assert RecordedEvent.from_body(first.body).actor == bob
    assert b'"actor":{"id":"alice","kind":"person"}' in second.body  # no key: as before
    assert str(bob) == f"helper:Bob (IT) (key {short_fingerprint(KEY)})"


@pytest.mark.parametrize("key", ["ABCD" * 16, "ab" * 31, "not hex", KEY + "0"])
def test_an_actor_key_must_be_a_fingerprint(home: Home, key: str) -> None:
    with EventStore.open(home) as store, pytest.raises(EventError, match="key"):
        store.append("session:s1", 0, [NewEvent("chat.message", {"text": "x"},
                                                Actor("helper", "Bob", key))])


def test_seen_before_reads_earlier_sessions_from_the_log(home: Home) -> None:
    def authenticated(session: str, name: str, key: str) -> None:
        store.append(f"session:{session}", 0, [NewEvent(
            "session.authenticated", {"helper": name, "fingerprint": key},
            Actor("helper", name, key))])

    with EventStore.open(home) as store:
        assert seen_before(store, "Bob (IT)", KEY) == Seen()
        store.append("session:old", 0, [NewEvent("session.authenticated", {},
                                                  Actor("helper", "127.0.0.1"))])
        authenticated("a", "Eve", KEY)
        authenticated("b", "Bob (IT)", KEY)
        authenticated("c", "Eve", KEY)
        authenticated("d", "Mallory", KEY)
        assert seen_before(store, "Bob (IT)", KEY) == Seen(("Eve", "Mallory"), False)
        authenticated("e", "Bob (IT)", OTHER)
        assert seen_before(store, "Bob (IT)", KEY) == Seen(("Eve", "Mallory"), True)
        assert seen_before(store, "Bob (IT)", OTHER) == Seen((), True)


# -- config.toml -----------------------------------------------------------------------


def test_the_name_is_remembered_and_the_rest_of_the_file_kept(home: Home) -> None:
    path = home.root / "config.toml"
    path.write_text('# my settings\n[invitations]\nmax_expiry = "8h"\n')
    assert helper_name(home, "Bob (IT)") == "Bob (IT)"
    assert helper_name(home, None) == "Bob (IT)"
    text = path.read_text()
    assert text.startswith('# my settings\n[invitations]\nmax_expiry = "8h"\n')
    assert tomllib.loads(text) == {"invitations": {"max_expiry": "8h"},
                                   "helper": {"name": "Bob (IT)"}}
    assert helper_name(home, 'Zoë "Z" Ångström') == 'Zoë "Z" Ångström'
    assert tomllib.loads(path.read_text())["helper"] == {"name": 'Zoë "Z" Ångström'}
    assert path.read_text().count("[helper]") == 1
    assert path.stat().st_mode & 0o077 == 0


def test_an_unfit_name_is_refused_and_not_remembered(home: Home) -> None:
    with pytest.raises(ValueError):
        helper_name(home, "Bob\nra asks: allow?")
    assert not (home.root / "config.toml").exists()
    (home.root / "config.toml").write_text('[helper]\nname = "Bob\\u001b[2K"\n')
    with pytest.raises(ConfigError, match="name"):
        helper_name(home, None)


def test_a_file_that_cannot_be_edited_safely_is_left_alone(home: Home) -> None:
    path = home.root / "config.toml"
    path.write_text('helper = { name = "Eve" }\n')
    with pytest.raises(ConfigError, match="by hand"):
        remember_helper_name(home, "Bob (IT)")
    assert path.read_text() == 'helper = { name = "Eve" }\n'
