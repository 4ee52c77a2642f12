"""docs/events.md, generated from the event schemas in audit/schema/.

The schemas are the one description of what the log holds: the envelope
(`audit/schema/event.schema.json`: every field every event has) and one
schema per event type (`audit/schema/events/<type>.json`), which refers to
the envelope and pins the type, the stream's kind, the actor's kind, the
outcome and the payload. The tests validate every event the test suite
writes against them; this module renders them as the reference a reader
looks up (``python -m ra.events.docs --out docs/events.md``), and a test
keeps the file in step. Standard library only: reading JSON needs no
validator.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: The schemas, beside the package in a checkout (audit/ is read without Python).
SCHEMA_DIR = Path(__file__).resolve().parents[2] / "audit" / "schema"
ENVELOPE = "event.schema.json"
EVENTS = "events"
#: The order families appear in (the rest follow, sorted).
FAMILIES = ("session", "consent", "view", "control", "input", "chat", "invitation", "auth",
            "firewall")


def load(folder: Path = SCHEMA_DIR) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The envelope and each event type's schema, by type."""
    envelope: dict[str, Any] = json.loads((folder / ENVELOPE).read_text("utf-8"))
    types: dict[str, dict[str, Any]] = {}
    for path in sorted((folder / EVENTS).glob("*.json")):
        schema = json.loads(path.read_text("utf-8"))
        name = path.name.removesuffix(".json")
        if schema.get("title") != name or schema["properties"]["type"].get("const") != name:
            raise ValueError(f"{path}: its title and type must both be {name!r}")
        types[name] = schema
    return envelope, types


def _order(name: str) -> tuple[int, str]:
    family = name.split(".")[0]
    return (FAMILIES.index(family) if family in FAMILIES else len(FAMILIES), name)


def _kind(schema: Mapping[str, Any]) -> str:
    """A schema's type, as a reader wants it: the values, or the JSON type."""
    if "const" in schema:
        return f"`{schema['const']}`"
    if "enum" in schema:
        return " \\| ".join(f"`{value}`" for value in schema["enum"])
    if "oneOf" in schema:
        return " or ".join(_kind(choice) for choice in schema["oneOf"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_kind(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"object: name → {_kind(schema['additionalProperties'])}"
    if kind == "object" and "required" in schema and "properties" in schema:
        return f"object ({', '.join(f'`{k}`' for k in schema['properties'])})"
    if "pattern" in schema:
        return f"{kind} matching `{schema['pattern']}`".replace("|", "\\|")
    if kind == "integer" and ("minimum" in schema or "maximum" in schema):
        low, high = schema.get("minimum", ""), schema.get("maximum", "")
        return f"integer {low}..{high}" if high != "" else f"integer ≥ {low}"
    return str(kind)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(properties: Mapping[str, Any], required: Sequence[str]) -> list[str]:
    lines = ["| field | required | type | what |", "|---|---|---|---|"]
    for name, schema in properties.items():
        lines.append(f"| `{name}` | {'yes' if name in required else 'no'} | {_kind(schema)} | "
                     f"{_cell(schema.get('description', ''))} |")
    return lines


def markdown(envelope: Mapping[str, Any], types: Mapping[str, Mapping[str, Any]]) -> str:
    out = [
        "# Events",
        "",
        "<!-- Generated from audit/schema/ by `python -m ra.events.docs --out "
        "docs/events.md`; edit the schemas, not this file. -->",
        "",
        "Every event in the log is one JSON object, stored as canonical JSON (keys "
        "sorted, no spaces, UTF-8). Its envelope is the same for every type "
        "(`audit/schema/event.schema.json`); what differs is the payload, described "
        "below for each type (`audit/schema/events/<type>.json`). A payload never "
        "holds a secret. Text a peer sent (names, chat, reasons) is stored as sent "
        "and shown inert.",
        "",
        "## The envelope",
        "",
        _cell(str(envelope.get("description", ""))),
        "",
        *_table(envelope["properties"], envelope.get("required", [])),
        "",
        "## The types",
        "",
        "| type | stream | what |",
        "|---|---|---|",
    ]
    names = sorted(types, key=_order)
    for name in names:
        stream = types[name]["properties"]["stream"]["pattern"].lstrip("^")
        summary = str(types[name].get("description", "")).split(". ")[0].rstrip(".")
        out.append(f"| [`{name}`](#{name.replace('.', '')}) | `{stream}<id>` | "
                   f"{_cell(summary)} |")
    for name in names:
        schema = types[name]
        props = schema["properties"]
        payload = props["payload"]
        facts = [f"stream `{props['stream']['pattern'].lstrip('^')}<id>`"]
        actor = props.get("actor", {}).get("properties", {}).get("kind")
        if actor:
            facts.append(f"actor {_kind(actor)}")
        if "outcome" in props:
            facts.append(f"outcome {_kind(props['outcome'])}")
        out += ["", f"### {name}", "", _cell(str(schema.get("description", ""))), "",
                "; ".join(facts).replace(" \\| ", " or ") + ".", ""]
        if payload.get("properties"):
            out += ["Payload:", "", *_table(payload["properties"], payload.get("required", []))]
        else:
            out.append("Payload: `{}` (nothing more to say).")
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ra.events.docs",
                                     description="Write docs/events.md from audit/schema/.")
    parser.add_argument("--out", type=Path, help="Write here (default: stdout).")
    parser.add_argument("--schemas", type=Path, default=SCHEMA_DIR,
                        help="The schema folder (default: audit/schema in this checkout).")
    args = parser.parse_args(argv)
    text = markdown(*load(args.schemas))
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
