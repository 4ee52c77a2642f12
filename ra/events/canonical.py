"""Canonical JSON: one byte string for one value.

Events and checkpoints are hashed and signed as bytes, so each value must
have exactly one encoding: keys sorted, no insignificant white space, UTF-8,
no NaN. Floats are refused (their text form is not canonical across
languages); use integers (micro-units) or strings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson

from ra.errors import RaError

JSON = Any
_MAX_DEPTH = 32


class CanonicalJSONError(RaError, ValueError):
    """A value cannot be stored in the log as canonical JSON."""


_SCALARS = frozenset({str, int, bool, type(None)})


def is_flat(value: JSON) -> bool:
    """Whether `value` is a dict of text keys and scalar values (most payloads):
    canonical JSON holds it as it is, so it needs no deeper `check`."""
    if type(value) is not dict:
        return False
    for key, item in value.items():
        if type(key) is not str or type(item) not in _SCALARS:
            return False
    return True


def check(value: JSON, _depth: int = 0, _where: str = "payload") -> None:
    """Refuse what canonical JSON cannot hold: floats, non-string keys, depth."""
    if _depth == 0 and is_flat(value):
        return
    if _depth > _MAX_DEPTH:
        raise CanonicalJSONError(f"{_where} is nested more than {_MAX_DEPTH} levels deep")
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        raise CanonicalJSONError(f"{_where} holds a float; use an integer or a string")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalJSONError(f"{_where} has a non-string key {key!r}")
            check(item, _depth + 1, f"{_where}.{key}")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check(item, _depth + 1, f"{_where}[{index}]")
        return
    raise CanonicalJSONError(f"{_where} holds a {type(value).__name__}, which JSON cannot hold")


_encoder = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def dumps(value: JSON) -> str:
    """The canonical text of `value` (call `check` first for untrusted input)."""
    return _encoder.encode(value)


def _not_plain(value: object) -> JSON:
    raise TypeError  # a subclass, a date, ...: `dumps_checked` hands it to `dumps`


_orjson_options = (
    orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


def dumps_checked(value: JSON) -> str:
    """`dumps` of a value `check` has passed (so no floats): the same text, faster.

    orjson writes what `dumps` writes for text keys, strings (each code point
    escaped or not alike), ints within 64 bits, booleans, null, dicts (keys
    sorted by code point) and lists. Anything else (an int past 64 bits, a
    subclass of a built-in type) goes to `dumps`. It is on the append path,
    where it takes about a third of `dumps`'s time; floats are kept from it
    (orjson and `repr` write some of them differently, and NaN as null).
    """
    try:
        return orjson.dumps(value, default=_not_plain, option=_orjson_options).decode()
    except orjson.JSONEncodeError:
        return dumps(value)


def encode(value: JSON) -> bytes:
    """The canonical UTF-8 bytes of `value`."""
    return dumps(value).encode("utf-8")


def loads(data: str | bytes) -> JSON:
    return json.loads(data)


class DuplicateKeyError(ValueError):
    """A JSON object names the same field twice (which value would count?)."""


def _unique_pairs(pairs: list[tuple[str, JSON]]) -> dict[str, JSON]:
    result: dict[str, JSON] = {}
    for key, value in pairs:
        if key in result:
            raise DuplicateKeyError(key)
        result[key] = value
    return result


def _no_constant(name: str) -> JSON:
    raise ValueError(f"{name} is not allowed")


def strict_loads(text: str) -> JSON:
    """Parse JSON from someone else: no repeated fields, no NaN or Infinity.

    Raises `DuplicateKeyError`, `RecursionError` (too deep) or `ValueError`.
    """
    return json.loads(text, object_pairs_hook=_unique_pairs, parse_constant=_no_constant)
