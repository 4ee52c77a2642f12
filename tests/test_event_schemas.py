"""audit/schema/: a JSON Schema for every event type, kept true by the code and the tests.

Three checks keep the schemas honest: every type the code can emit has one
(read from the source, below); every event the test suite writes matches
its type's schema (conftest.py's `events_match_their_schemas`, after each
test); and docs/events.md is what `python -m ra.events.docs` makes of them.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from schema_support import EventSchemas, LogWatch
from test_report_html import KNOWN, REFUSED, record_session

from ra.engine import Record, SessionEngine
from ra.events import Actor, EventStore, NewEvent
from ra.events.docs import SCHEMA_DIR, load, markdown
from ra.home import Home

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def schemas() -> EventSchemas:
    return EventSchemas()


# -- every type the code can emit ----------------------------------------------------


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted((ROOT / "ra").rglob("*.py")):
        yield path, ast.parse(path.read_text("utf-8"), str(path))


def _constants(tree: ast.Module) -> dict[str, Any]:
    """A module's top-level names bound to literals (strings, dicts, lists of tuples)."""
    found: dict[str, Any] = {}
    for node in tree.body:
        target = value = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        if isinstance(target, ast.Name) and value is not None:
            try:
                found[target.id] = ast.literal_eval(value)
            except ValueError:
                if isinstance(value, ast.List):  # rows of (literal, ..., call, literal)
                    found[target.id] = [[_literal(e) for e in row.elts] for row in value.elts
                                        if isinstance(row, ast.Tuple)]
    return found


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


def _parents(tree: ast.Module) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def emitted_types() -> tuple[set[str], list[str]]:
    """Every event type a `NewEvent(...)` in ra/ can be given, and the calls not understood.

    The type is read where it is written: a literal; a module constant (here or
    imported); a dict of them indexed (`EVENT_OF[trigger]`); a loop over a table
    of rows (`for kind, etype, ... in STORY`); or a parameter of the enclosing
    function, followed to the literals every caller passes for it. A copy of an
    event read back from a log (``NewEvent(event.type, ...)``, the demo's forger)
    makes no type the log did not already hold.
    """
    modules = dict(_modules())
    constants = {path: _constants(tree) for path, tree in modules.items()}
    everywhere: dict[str, Any] = {}
    for values in constants.values():
        everywhere.update(values)
    types: set[str] = set()
    unresolved: list[str] = []

    def callers(name: str, position: int) -> list[Any]:
        passed = []
        for tree in modules.values():
            for node in ast.walk(tree):
                if isinstance(node, ast.Call):
                    func = node.func
                    called = func.attr if isinstance(func, ast.Attribute) else getattr(
                        func, "id", None)
                    if called == name and len(node.args) > position:
                        passed.append(_literal(node.args[position]))
        return passed

    for path, tree in modules.items():
        parents = _parents(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "NewEvent"):
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            arg = node.args[0] if node.args else None
            found: list[Any] = []
            if isinstance(arg, ast.Attribute) and arg.attr == "type" \
                    and isinstance(arg.value, ast.Name):
                continue  # a copy of a recorded event: its type is already a known one
            if isinstance(arg, ast.Constant):
                found = [arg.value]
            elif isinstance(arg, ast.Subscript) and isinstance(arg.value, ast.Name):
                table = everywhere.get(arg.value.id)
                found = list(table.values()) if isinstance(table, dict) else []
            elif isinstance(arg, ast.Name) and arg.id in everywhere:
                found = [everywhere[arg.id]]
            elif isinstance(arg, ast.Name):
                scope: ast.AST | None = node
                while scope is not None and not isinstance(
                        scope, ast.FunctionDef | ast.For):
                    scope = parents.get(scope)
                if isinstance(scope, ast.For) and isinstance(scope.target, ast.Tuple) \
                        and isinstance(scope.iter, ast.Name):
                    names = [getattr(e, "id", None) for e in scope.target.elts]
                    rows = everywhere.get(scope.iter.id) or []
                    found = [row[names.index(arg.id)] for row in rows] if arg.id in names else []
                elif isinstance(scope, ast.FunctionDef):
                    params = [a.arg for a in scope.args.args]
                    if arg.id in params:
                        index = params.index(arg.id) - (1 if params[0] == "self" else 0)
                        found = callers(scope.name, index)
            if not found or not all(isinstance(t, str) for t in found):
                unresolved.append(where)
            types.update(t for t in found if isinstance(t, str))
    return types, unresolved


def test_every_event_type_the_code_can_emit_has_a_schema(schemas: EventSchemas) -> None:
    types, unresolved = emitted_types()
    assert not unresolved, (f"cannot tell which event types these NewEvent calls make: "
                            f"{unresolved}; name the type where this test can read it")
    # the reading found the ones every part of ra makes
    assert {"session.connected", "consent.granted", "control.released", "session.receipt",
            "invitation.created", "invitation.locked", "auth.throttled",
            "firewall.allowed"} <= types
    missing = sorted(types - set(schemas.types))
    assert not missing, f"event types without a schema in audit/schema/events/: {missing}"
    unused = sorted(set(schemas.types) - types)
    assert not unused, f"schemas for types ra never emits: {unused}"


# -- the schemas themselves ----------------------------------------------------------


def test_each_schema_names_its_type_and_builds_on_the_envelope() -> None:
    envelope, types = load()
    assert envelope["$id"] == "https://ra.invalid/schema/event.schema.json"
    for name, schema in types.items():
        assert schema["$ref"] == "../event.schema.json"
        assert schema["$id"] == f"https://ra.invalid/schema/events/{name}.json"
        assert schema["properties"]["payload"]["additionalProperties"] is False, name
        assert schema.get("description"), name


def _events(home: Home) -> list[dict[str, Any]]:
    with EventStore.open(home) as store:
        return [json.loads(event.body) for event in store.iter_events()]


def test_a_real_sessions_events_match_and_edits_of_them_do_not(
        home: Home, schemas: EventSchemas) -> None:
    with EventStore.open(home) as store:
        record_session(store, "s1", _start(), KNOWN)
        record_session(store, "s2", _start(), REFUSED)
    events = _events(home)
    assert {e["type"] for e in events} >= {"consent.denied", "control.released",
                                           "session.authenticated", "view.started"}
    for event in events:
        assert schemas.problems(event) == [], event

    granted = next(e for e in events if e["type"] == "consent.granted")
    released = next(e for e in events if e["type"] == "control.released")
    edits = {
        "a field the type does not have": {**granted, "payload": {"scope": "view", "x": 1}},
        "a scope that does not exist": {**granted, "payload": {"scope": "everything"}},
        "a required field left out": {**released, "payload": {"by": "person"}},
        "a release by nobody known": {**released, "payload": {"by": "bob", "via": "esc"}},
        "a grant by the helper": {**granted, "actor": {"id": "bob", "kind": "helper"}},
        "a grant on an invitation": {**granted, "stream": "invitation:abcd"},
        "an envelope field too many": {**granted, "extra": True},
    }
    for what, edited in edits.items():
        assert schemas.problems(edited), what
    assert schemas.problems({**granted, "type": "consent.given"}) == [
        "no schema for event type 'consent.given' (add audit/schema/events/consent.given.json)"]


def test_the_watch_checks_what_each_test_appends(tmp_path: Path,
                                                 schemas: EventSchemas) -> None:
    watch = LogWatch(tmp_path, schemas)
    home = Home.at(tmp_path / "a")
    with EventStore.open(home) as store:
        record_session(store, "s1", _start(), REFUSED)
        assert watch.new_problems() == []
        store.append("session:s1", store.stream_version("session:s1"), [
            NewEvent("chat.message", {"from": "helper", "text": "hi", "mood": "odd"},
                     Actor("helper", "bob"))])
        [problem] = watch.new_problems()
        assert "chat.message: payload: Additional properties are not allowed" in problem
        assert watch.new_problems() == []  # each event is checked once
        store.append("other:1", 0, [NewEvent("thing.happened")])
        assert watch.new_problems(skip=True) == []
        store.append("other:1", 1, [NewEvent("thing.happened")])
        assert [p.split(": ", 1)[1] for p in watch.new_problems()] == [
            "no schema for event type 'thing.happened' "
            "(add audit/schema/events/thing.happened.json)"]


def test_a_chat_only_session_and_a_flood_match_their_schemas(
        home: Home, schemas: EventSchemas) -> None:
    engine = SessionEngine("person", "alice", screen_unavailable="no display", flood_limit=3)
    outputs = engine.connected("bob", 0.0, key="ab" * 32, address="192.0.2.1")
    outputs += engine.authenticated(1.0)
    outputs += engine.received({"type": "control.request"}, 2.0)
    for i in range(5):
        outputs += engine.received({"type": "input", "event": {"kind": "pointer", "x": i,
                                                                "y": 1}}, 3.0 + i / 10)
    outputs += engine.tick(9.0)
    with EventStore.open(home) as store:
        store.append("session:flood", 0, [o.event for o in outputs if isinstance(o, Record)])
    events = _events(home)
    assert {"view.unavailable", "control.denied", "input.rejected",
            "session.disconnected"} <= {e["type"] for e in events}
    assert [p for e in events for p in schemas.problems(e)] == []


def test_docs_events_md_is_generated_from_the_schemas() -> None:
    text = (ROOT / "docs" / "events.md").read_text("utf-8")
    assert text == markdown(*load(SCHEMA_DIR)), (
        "docs/events.md is stale: run `python -m ra.events.docs --out docs/events.md`")


def _start() -> Any:
    from test_report_html import START

    return START
