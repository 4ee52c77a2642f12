"""``RA_HOME/config.toml``: the settings a person keeps between commands.

Read with tomllib; written by hand, one key at a time, so the rest of the
file (comments, other tables such as ``[invitations]``) stays as the person
wrote it. The one key written today is the name a helper gives::

    [helper]
    name = "Bob (IT)"

`ra connect --name` remembers it; later connects without ``--name`` reuse
it. A name read from the file passes the same check as one from the
command line (`ra.net.handshake.check_name`), since the person sees it.

The person's side records the screen it sends unless told not to
(`recording_settings`; see `ra.recording`)::

    [recording]
    screen = false       # default true
    chunk_seconds = 5    # 1 to 60: how much one chunk of the recording holds

How long chat is kept (`chat_retention`; see `ra.forget.apply_retention`)::

    [retention]
    chat = "30d"
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from ra.errors import InputError, RaError
from ra.files import write_private
from ra.home import Home

FILE_NAME = "config.toml"
_TABLE = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\"' -]+?)\s*\]\s*(#.*)?$")
_NAME_KEY = re.compile(r"^\s*name\s*=")


class ConfigError(InputError):
    """config.toml cannot be read, or cannot be changed safely; edit it by hand."""


def config_path(home: Home) -> Path:
    return home.root / FILE_NAME


def read_config(home: Home) -> dict[str, Any]:
    """The whole file as a dict ({} if there is none)."""
    path = config_path(home)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def _table(home: Home, name: str) -> tuple[dict[str, Any], str]:
    """``[name]`` ({} when it is not there), and how a message names it."""
    where = f"{config_path(home)}: [{name}]"
    table = read_config(home).get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    return table, where


def _text(home: Home, table: str, key: str, like: str = "") -> tuple[str | None, str]:
    """``[table] key``, text or None if it is not set, and how a message names it."""
    values, where = _table(home, table)
    value = values.get(key)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{where} {key} must be text{like}")
    return value, f"{where} {key}"


def helper_name(home: Home) -> str | None:
    """``[helper] name``, or None if it is not set."""
    return _text(home, "helper", "name")[0]


@dataclass(frozen=True)
class RecordingSettings:
    """``[recording]``: is the screen recorded, and in chunks of how many seconds."""

    screen: bool = True
    chunk_seconds: float = 5.0


def recording_settings(home: Home) -> RecordingSettings:
    """``[recording]`` from config.toml (the defaults when it is not there)."""
    table, where = _table(home, "recording")
    screen = table.get("screen", True)
    if not isinstance(screen, bool):
        raise ConfigError(f"{where} screen must be true or false")
    seconds = table.get("chunk_seconds", 5)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not (
            1 <= seconds <= 60):
        raise ConfigError(f"{where} chunk_seconds must be a number from 1 to 60")
    return RecordingSettings(screen, float(seconds))


def chat_retention(home: Home) -> tuple[str, timedelta] | None:
    """``[retention] chat`` as written (``"30d"``) and as a duration; None if unset."""
    value, where = _text(home, "retention", "chat", ' like "30d"')
    if value is None:
        return None
    from ra.cli.common import parse_duration  # the one duration syntax

    try:
        period = parse_duration(value)
    except RaError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if period <= timedelta(0):
        raise ConfigError(f"{where} must be longer than 0")
    return value.strip(), period


def remember_helper_name(home: Home, name: str) -> None:
    """Set ``[helper] name`` to `name`, keeping everything else in the file."""
    if helper_name(home) == name:
        return
    expected = read_config(home)
    expected["helper"] = {**expected.get("helper", {}), "name": name}
    path = config_path(home)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    line = f"name = {json.dumps(name, ensure_ascii=False)}"  # a TOML basic string too
    lines = text.splitlines()
    table: str | None = None
    at: int | None = None  # the [helper] header's line
    for index, raw in enumerate(lines):
        match = _TABLE.match(raw)
        if match is not None:
            table = match.group(1)
            if table == "helper":
                at = index
            continue
        if table == "helper" and _NAME_KEY.match(raw):
            lines[index] = line
            break
    else:
        if at is not None:
            lines.insert(at + 1, line)
        else:
            if lines and lines[-1].strip():
                lines.append("")
            lines += ["[helper]", line]
    new_text = "\n".join(lines) + "\n"
    try:
        changed = tomllib.loads(new_text)
    except tomllib.TOMLDecodeError:
        changed = {}
    if changed != expected:
        raise ConfigError(f"cannot set [helper] name in {path} safely; please edit it by hand")
    home.ensure()
    write_private(path, new_text.encode("utf-8"))


__all__ = ["ConfigError", "RecordingSettings", "chat_retention", "config_path", "helper_name",
           "read_config", "recording_settings", "remember_helper_name"]
