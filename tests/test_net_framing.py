"""Frames: encoding, decoding in any split, limits, and hostile bytes (ra.net.framing)."""

from __future__ import annotations

import json
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ra.errors import RaError
from ra.net.errors import ProtocolError
from ra.net.framing import (
    HANDSHAKE_ONLY,
    MAX_BODY,
    PROTOCOL_VERSION,
    Frame,
    FrameDecoder,
    Kind,
    canonical_json,
    encode_frame,
    encode_message,
)


def header(length: int, version: int = PROTOCOL_VERSION, kind: int = Kind.JSON) -> bytes:
    return struct.pack(">IBB", length, version, kind)


def test_protocol_error_is_an_ra_error() -> None:
    assert issubclass(ProtocolError, RaError)


def test_frame_layout_is_length_version_kind_body() -> None:
    data = encode_frame(Kind.INPUT, b"\x01\x02\x03")
    assert data == b"\x00\x00\x00\x05" + b"\x01" + b"\x04" + b"\x01\x02\x03"


def test_json_messages_are_canonical() -> None:
    data = encode_message(Kind.JSON, {"z": 1, "type": "chat", "text": "héllo"})
    assert data[6:] == '{"text":"héllo","type":"chat","z":1}'.encode()
    assert canonical_json({"b": [1, 2], "a": None}) == b'{"a":null,"b":[1,2]}'


def test_round_trip_of_every_kind() -> None:
    frames = [
        encode_message(Kind.HANDSHAKE, {"type": "hello"}),
        encode_message(Kind.JSON, {"type": "chat", "text": "hi"}),
        encode_frame(Kind.SCREEN, b"\x00" * 1000),
        encode_frame(Kind.INPUT, b"k"),
        encode_frame(Kind.HEARTBEAT, b""),
        encode_frame(Kind.BYE, "done ✓".encode()),
    ]
    decoded = FrameDecoder().feed(b"".join(frames))
    assert [f.kind for f in decoded] == list(Kind)
    assert decoded[0].message == {"type": "hello"}
    assert decoded[1].type == "chat"
    assert decoded[2].body == b"\x00" * 1000 and decoded[2].message is None
    assert decoded[5].text == "done ✓"


def test_byte_by_byte_feeding_gives_the_same_frames() -> None:
    data = encode_message(Kind.JSON, {"type": "a"}) + encode_frame(Kind.INPUT, b"xyz")
    decoder = FrameDecoder()
    out: list[Frame] = []
    for i in range(len(data)):
        out.extend(decoder.feed(data[i : i + 1]))
    assert [(f.kind, f.body) for f in out] == [
        (Kind.JSON, b'{"type":"a"}'),
        (Kind.INPUT, b"xyz"),
    ]
    assert decoder.buffered == 0
    decoder.eof()  # a clean end


@pytest.mark.parametrize(
    ("kind", "limit"),
    [(Kind.HANDSHAKE, 4096), (Kind.JSON, 65536), (Kind.INPUT, 1024), (Kind.SCREEN, 16 << 20)],
)
def test_limits_per_kind(kind: Kind, limit: int) -> None:
    assert MAX_BODY[kind] == limit


def test_oversized_frame_is_refused_from_the_header_alone() -> None:
    decoder = FrameDecoder()
    with pytest.raises(ProtocolError, match="SCREEN message of 104857600 bytes.*limit"):
        decoder.feed(header(100 * 1024 * 1024 + 2, kind=Kind.SCREEN))
    assert decoder.buffered == 0


def test_oversized_input_frame() -> None:
    with pytest.raises(ProtocolError, match="INPUT message of 1025 bytes"):
        FrameDecoder().feed(header(1025 + 2, kind=Kind.INPUT) + b"x" * 10)


def test_huge_length_prefix_is_refused_before_the_body() -> None:
    with pytest.raises(ProtocolError, match="larger than the limit"):
        FrameDecoder().feed(b"\xff\xff\xff\xff\x01\x02")


def test_handshake_only_limits_refuse_other_kinds() -> None:
    decoder = FrameDecoder(HANDSHAKE_ONLY)
    with pytest.raises(ProtocolError, match="SCREEN message is not allowed here"):
        decoder.feed(header(16 << 20, kind=Kind.SCREEN))


def test_sending_an_oversized_body_is_refused() -> None:
    with pytest.raises(ProtocolError, match="larger than the limit"):
        encode_frame(Kind.INPUT, b"x" * 1025)


def test_unknown_version() -> None:
    with pytest.raises(ProtocolError, match="speaks protocol version 2; this ra speaks version 1"):
        FrameDecoder().feed(header(2, version=2))


def test_unknown_kind() -> None:
    with pytest.raises(ProtocolError, match="unknown kind 0x7f"):
        FrameDecoder().feed(header(2, kind=0x7F))


def test_frame_too_short() -> None:
    with pytest.raises(ProtocolError, match="too short"):
        FrameDecoder().feed(b"\x00\x00\x00\x01")


def test_truncated_body_at_eof() -> None:
    decoder = FrameDecoder()
    data = encode_frame(Kind.SCREEN, b"y" * 100)
    assert decoder.feed(data[:50]) == []
    with pytest.raises(ProtocolError, match=r"middle of a SCREEN message \(44 of 100 bytes"):
        decoder.eof()


def test_truncated_header_at_eof() -> None:
    decoder = FrameDecoder()
    decoder.feed(b"\x00\x00")
    with pytest.raises(ProtocolError, match=r"middle of a message header \(2 of 6"):
        decoder.eof()


def test_decoder_stays_broken_after_an_error() -> None:
    decoder = FrameDecoder()
    with pytest.raises(ProtocolError):
        decoder.feed(header(2, version=9))
    with pytest.raises(ProtocolError, match="version 9"):
        decoder.feed(encode_frame(Kind.HEARTBEAT))
    with pytest.raises(ProtocolError, match="version 9"):
        decoder.eof()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[1, 2]", "not a JSON object"),
        (b'"text"', "not a JSON object"),
        (b"{}", '"type"'),
        (b'{"type": 3}', '"type"'),
        (b'{"type": ""}', '"type"'),
        (b"{", "not valid JSON"),
        (b'{"type": "a", "x": NaN}', "not valid JSON"),
        (b'{"type": "a", "type": "b"}', "same field twice"),
        (b'{"type": "\xff"}', "not valid UTF-8"),
        (b'{"type": "a", "t": "\\ud800"}', "not valid Unicode"),
        (b'{"type": "a", "n": ' + b"[" * 50 + b"]" * 50 + b"}", "nested too deeply"),
        (b'{"type": "a", "n": ' + b"[" * 30000 + b"]" * 30000 + b"}", "nested too deeply"),
    ],
)
def test_bad_json_messages(body: bytes, reason: str) -> None:
    data = header(len(body) + 2, kind=Kind.JSON) + body
    with pytest.raises(ProtocolError, match=reason):
        FrameDecoder().feed(data)


def test_bye_must_be_text() -> None:
    with pytest.raises(ProtocolError, match="BYE message is not valid UTF-8"):
        FrameDecoder().feed(header(3, kind=Kind.BYE) + b"\xff")


def test_encode_refuses_what_the_decoder_would_refuse() -> None:
    with pytest.raises(ProtocolError):
        encode_frame(Kind.JSON, b"[]")
    with pytest.raises(ProtocolError):
        encode_message(Kind.SCREEN, {"type": "x"})
    with pytest.raises(ProtocolError, match="cannot be sent as JSON"):
        encode_message(Kind.JSON, {"type": "x", "v": float("nan")})


# --------------------------------------------------------------------------
# Fuzzing: any bytes, in any split, give frames or a ProtocolError, nothing else.

SMALL = {kind: min(limit, 256) for kind, limit in MAX_BODY.items()}


def _decode_all(chunks: list[bytes], decoder: FrameDecoder) -> list[Frame]:
    frames: list[Frame] = []
    for chunk in chunks:
        frames.extend(decoder.feed(chunk))
    decoder.eof()
    return frames


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=64), max_size=12))
def test_fuzz_random_bytes(chunks: list[bytes]) -> None:
    try:
        _decode_all(chunks, FrameDecoder(SMALL))
    except ProtocolError as error:
        assert str(error)


def _frame_like() -> st.SearchStrategy[bytes]:
    """Bytes that often look like frames: plausible headers, JSON-ish bodies."""
    json_body = st.one_of(
        st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3).map(
            lambda d: json.dumps(d).encode()
        ),
        st.builds(
            lambda t, extra: json.dumps({"type": t, **extra}).encode(),
            st.text(max_size=8),
            st.dictionaries(st.text(max_size=4), st.none() | st.booleans(), max_size=2),
        ),
        st.binary(max_size=40),
    )
    return st.builds(
        lambda length_delta, version, kind, body: struct.pack(
            ">IBB", max(0, len(body) + 2 + length_delta), version, kind
        )
        + body,
        st.sampled_from([0, 0, 0, -1, 1, -3, 5, 1 << 20]),
        st.sampled_from([1, 1, 1, 0, 2, 255]),
        st.sampled_from([*map(int, Kind), 0, 7, 255]),
        json_body,
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_frame_like(), max_size=6), st.data())
def test_fuzz_frame_like_bytes(parts: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(parts)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=5)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    try:
        frames = _decode_all(chunks, FrameDecoder(SMALL))
    except ProtocolError as error:
        assert str(error)
        return
    for frame in frames:
        assert isinstance(frame.kind, Kind)
        if frame.kind in (Kind.JSON, Kind.HANDSHAKE):
            assert frame.message is not None and isinstance(frame.message["type"], str)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.builds(
                lambda t, n: (Kind.JSON, canonical_json({"type": t, "n": n})),
                st.text(min_size=1, max_size=10),
                st.integers(),
            ),
            st.builds(lambda b: (Kind.SCREEN, b), st.binary(max_size=300)),
            st.builds(lambda b: (Kind.INPUT, b), st.binary(max_size=30)),
        ),
        max_size=8,
    ),
    st.data(),
)
def test_round_trip_in_any_split(items: list[tuple[Kind, bytes]], data: st.DataObject) -> None:
    stream = b"".join(encode_frame(kind, body) for kind, body in items)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    frames = _decode_all(chunks, FrameDecoder())
    assert [(f.kind, f.body) for f in frames] == items
