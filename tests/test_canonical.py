"""Canonical JSON: the append path's fast encoder writes what the reference writes."""

from __future__ import annotations

import enum
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ra.events import canonical

# What `check` lets into a payload: no floats; ints of any size; any text.
_scalars = st.none() | st.booleans() | st.integers() | st.integers(
    min_value=-(2**70), max_value=2**70) | st.text()
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(), _values, max_size=6))
def test_dumps_checked_writes_what_dumps_writes(payload: dict[str, object]) -> None:
    canonical.check(payload)
    assert canonical.dumps_checked(payload) == canonical.dumps(payload)


def test_every_code_point_is_written_alike_in_keys_and_values() -> None:
    # Escapes (control characters, quote, backslash) and what is left as it
    # is (DEL, U+2028, non-BMP) must match, or a body's hash would depend on
    # which encoder wrote it.
    for start in range(0, 0x110000, 0x800):
        chars = [chr(c) for c in range(start, start + 0x800) if not 0xD800 <= c <= 0xDFFF]
        if not chars:
            continue
        payload = {c: f"a{c}b" for c in chars}
        assert canonical.dumps_checked(payload) == canonical.dumps(payload)


class Level(enum.IntEnum):
    HIGH = 3


class Word(str):
    pass


@pytest.mark.parametrize("payload", [
    {"big": 2**64, "small": -(2**63) - 1},   # past orjson's 64 bits
    {"sub": Word("x")},                      # a subclass of str
    {"enum": Level.HIGH},                    # an IntEnum (an int subclass)
    {"nested": [{"z": 1, "a": {"y": [2**65]}}]},
])
def test_what_orjson_would_write_differently_or_refuse_goes_to_dumps(
    payload: dict[str, object]
) -> None:
    canonical.check(payload)
    assert canonical.dumps_checked(payload) == canonical.dumps(payload)
    assert json.loads(canonical.dumps_checked(payload)) == json.loads(json.dumps(payload))


def test_the_fast_encoder_is_installed() -> None:
    # orjson is a declared dependency: without it dumps_checked quietly falls
    # back to dumps, right but slower.
    assert canonical.orjson is not None
