"""Tile encoder, wire format, decoder and pacer, on synthetic frames (no X server)."""

from __future__ import annotations

import struct
import time

import numpy as np
import pytest
import simplejpeg  # type: ignore[import-untyped]
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from ra.desktop.codec import (
    HEADER,
    MAX_SCREENS,
    MAX_TILES,
    MAX_UPDATE_BYTES,
    TILE_HEADER,
    Codec,
    ScreenImage,
    Tile,
    TileDecoder,
    TileEncoder,
    Update,
    UpdateFormatError,
    decode_update,
)
from ra.desktop.pacing import Pacer, PacerSettings, merge_updates
from ra.net.errors import ProtocolError

W, H = 200, 130  # not multiples of 64: edge cells are 8 wide and 2 high


def text_like(width: int = W, height: int = H, seed: int = 1) -> ScreenImage:
    """Few colours in blocks, with junk in the padding byte as Xvfb leaves it."""
    rng = np.random.default_rng(seed)
    palette = np.array([[30, 30, 30], [240, 240, 240], [0, 120, 255], [90, 200, 40]], np.uint8)
    cells = rng.integers(0, 4, (height // 4 + 1, width // 4 + 1))
    frame = np.empty((height, width, 4), np.uint8)
    frame[:, :, :3] = np.repeat(np.repeat(palette[cells], 4, 0), 4, 1)[:height, :width]
    frame[:, :, 3] = rng.integers(0, 256, (height, width))
    return frame


def photo_like(width: int = W, height: int = H, seed: int = 2) -> ScreenImage:
    """Smooth gradients with a little noise: many colours, JPEG-friendly."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    frame = np.empty((height, width, 4), np.uint8)
    frame[:, :, 0] = 128 + 100 * np.sin(xx / 37)
    frame[:, :, 1] = 128 + 100 * np.cos(yy / 23)
    frame[:, :, 2] = (xx + yy) * 255 / (width + height)
    frame[:, :, :3] = np.clip(frame[:, :, :3] + rng.integers(-2, 3, (height, width, 3)), 0, 255)
    frame[:, :, 3] = 0
    return frame


def cells_of(update: Update, tile: int = 64) -> set[tuple[int, int]]:
    return {
        (r, c)
        for t in update.tiles
        for r in range(t.y // tile, (t.y + t.h - 1) // tile + 1)
        for c in range(t.x // tile, (t.x + t.w - 1) // tile + 1)
    }


ALL_CELLS = {(r, c) for r in range(3) for c in range(4)}


def same_colours(a: ScreenImage, b: ScreenImage) -> bool:
    return bool((a[:, :, :3] == b[:, :, :3]).all())


def mean_error(a: ScreenImage, b: ScreenImage) -> float:
    return float(np.abs(a[:, :, :3].astype(np.int16) - b[:, :, :3]).mean())


# --- encoder -----------------------------------------------------------------------------


def test_first_frame_and_force_full_send_every_cell() -> None:
    encoder = TileEncoder(W, H)
    frame = text_like()
    first = encoder.encode(frame)
    assert first.keyframe and first.seq == 1
    assert cells_of(first) == ALL_CELLS
    assert sum(t.w * t.h for t in first.tiles) == W * H
    assert encoder.encode(frame).tiles == ()
    full = encoder.encode(frame, force_full=True)
    assert full.keyframe and full.seq == 3
    assert cells_of(full) == ALL_CELLS


@pytest.mark.parametrize(
    ("rect", "cells"),
    [
        ((0, 0, 1, 1), {(0, 0)}),
        ((63, 63, 2, 2), {(0, 0), (0, 1), (1, 0), (1, 1)}),
        ((199, 129, 1, 1), {(2, 3)}),  # the 8x2 corner cell
        ((70, 10, 100, 5), {(0, 1), (0, 2)}),
    ],
)
def test_a_small_change_sends_exactly_the_cells_it_touches(
    rect: tuple[int, int, int, int], cells: set[tuple[int, int]]
) -> None:
    encoder = TileEncoder(W, H)
    decoder = TileDecoder(W, H)
    before = text_like()
    decoder.feed(encoder.encode(before).to_bytes())
    after = before.copy()
    x, y, w, h = rect
    after[y : y + h, x : x + w, :3] = 255 - after[y : y + h, x : x + w, :3]
    update = encoder.encode(after)
    assert cells_of(update) == cells
    decoder.feed(update.to_bytes())
    assert same_colours(decoder.framebuffer, after)
    assert (decoder.framebuffer[:, :, 3] == 255).all()


def test_a_change_in_the_padding_byte_only_is_still_detected() -> None:
    encoder = TileEncoder(W, H)
    frame = text_like()
    encoder.encode(frame)
    frame = frame.copy()
    frame[100, 100, 3] ^= 1
    assert cells_of(encoder.encode(frame)) == {(1, 1)}


def test_codec_per_kind_of_content() -> None:
    solid = np.full((H, W, 4), 77, np.uint8)
    fill = TileEncoder(W, H).encode(solid)
    assert {t.codec for t in fill.tiles} == {Codec.FILL}
    assert len(fill.tiles) == 3  # one merged rectangle per grid row
    text = TileEncoder(W, H).encode(text_like())
    assert {t.codec for t in text.tiles} <= {Codec.ZSTD, Codec.RAW}
    photo = TileEncoder(W, H).encode(photo_like())
    # Narrow edge cells have few samples, hence few colours: they go lossless, which is cheap.
    assert {t.codec for t in photo.tiles if t.w >= 64 and t.h == 64} == {Codec.JPEG}
    assert {t.codec for t in photo.tiles if t.w == 8 or t.h == 2} <= {Codec.ZSTD, Codec.RAW}
    browser = TileEncoder(W, H, browser_safe=True).encode(text_like())
    assert Codec.ZSTD not in {t.codec for t in browser.tiles}
    assert Codec.JPEG in {t.codec for t in browser.tiles}


def test_lossless_tiles_decode_exactly_and_jpeg_within_tolerance() -> None:
    for browser_safe in (False, True):
        decoder = TileDecoder(W, H)
        decoder.feed(TileEncoder(W, H, browser_safe=browser_safe).encode(photo_like()).to_bytes())
        assert mean_error(decoder.framebuffer, photo_like()) < 3, browser_safe
    decoder = TileDecoder(W, H)
    decoder.feed(TileEncoder(W, H).encode(text_like()).to_bytes())
    assert same_colours(decoder.framebuffer, text_like())
    # Browser-safe text is JPEG q90 4:4:4. On real terminal text the error is < 1 (see
    # test_capture); this 4x4-pixel checkerboard of saturated colours is a worst case.
    decoder = TileDecoder(W, H)
    decoder.feed(TileEncoder(W, H, browser_safe=True).encode(text_like()).to_bytes())
    assert mean_error(decoder.framebuffer, text_like()) < 5


def test_frames_of_the_wrong_shape_are_refused() -> None:
    with pytest.raises(ValueError, match="does not match"):
        TileEncoder(W, H).encode(np.zeros((H, W + 1, 4), np.uint8))
    with pytest.raises(ValueError):
        TileEncoder(0, H)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 300), st.integers(1, 200), st.sampled_from([16, 32, 64]),
       st.lists(st.tuples(st.integers(0, 299), st.integers(0, 199), st.integers(0, 3)),
                max_size=6))
def test_fuzz_the_changed_cells_are_exactly_those_with_a_changed_byte(
        width: int, height: int, tile: int, changes: list[tuple[int, int, int]]) -> None:
    encoder = TileEncoder(width, height, tile)
    old = np.random.default_rng(width * height).integers(0, 256, (height, width, 4), np.uint8)
    new = old.copy()
    expected = np.zeros((encoder.rows, encoder.cols), dtype=bool)
    for x, y, byte in changes:
        x, y = x % width, y % height
        new[y, x, byte] = old[y, x, byte] ^ 0x80  # any byte, the padding one too
        expected[y // tile, x // tile] = True
    assert (encoder.changed_cells(old, new) == expected).all()


def test_a_kept_frame_is_not_copied_and_encodes_as_a_copied_one() -> None:
    frames = [photo_like(seed=i) for i in range(3)]
    frames.insert(2, frames[1].copy())
    frames[2][0:10, 0:10] = 7  # a small change: copied into the kept frame
    kept, copied = TileEncoder(W, H), TileEncoder(W, H)
    for frame in frames:
        assert kept.encode(frame.copy(), keep=True) == copied.encode(frame)
    handed = photo_like(seed=9)
    kept.encode(handed, keep=True)  # changes everywhere: kept as it is
    assert kept._prev is handed
    copied.encode(handed)
    assert copied._prev is not handed


def test_1080p_diff_is_well_under_10_ms() -> None:
    encoder = TileEncoder(1920, 1080)
    a = np.random.default_rng(0).integers(0, 256, (1080, 1920, 4), dtype=np.uint8)
    b = a.copy()
    b[500:510, 700:720] = 0
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        mask = encoder.changed_cells(a, b)
        best = min(best, time.perf_counter() - started)
    assert set(zip(*np.nonzero(mask), strict=True)) == {(7, 10), (7, 11)}
    assert best < 0.010


# --- wire format ----------------------------------------------------------------------


def sample_update() -> Update:
    encoder = TileEncoder(W, H)
    frame = text_like()
    frame[0:64, 64:192] = photo_like()[0:64, 0:128]
    frame[64:128, 0:64] = 9
    return encoder.encode(frame, cursor=(-3, 40))


def test_update_round_trips_through_bytes() -> None:
    update = sample_update()
    assert {t.codec for t in update.tiles} >= {Codec.ZSTD, Codec.JPEG, Codec.FILL}
    data = update.to_bytes()
    assert decode_update(data) == update
    assert Update.from_bytes(bytearray(data)) == update
    raw = Tile(0, 0, 2, 1, Codec.RAW, bytes(range(6)))
    small = Update(2**32 - 1, 2, 1, 1, 0, (raw,), keyframe=True)
    assert decode_update(small.to_bytes()) == small


def test_every_truncation_is_a_clear_error() -> None:
    data = sample_update().to_bytes()
    for cut in range(len(data)):
        with pytest.raises(UpdateFormatError):
            decode_update(data[:cut])


def header(
    count: int, *, version: int = 1, flags: int = 0, size: tuple[int, int] = (W, H)
) -> bytes:
    return HEADER.pack(version, flags, 1, size[0], size[1], 0, 0, count)


def tile(x: int, y: int, w: int, h: int, codec: int, data: bytes) -> bytes:
    return TILE_HEADER.pack(x, y, w, h, codec, len(data)) + data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "truncated"),
        (b"\x00" * (MAX_UPDATE_BYTES + 1), "larger than the limit"),
        (header(0, version=2), "version 2"),
        (header(0, flags=0x80), "unknown flags"),
        (header(0, size=(0, 5)), "empty screen"),
        (header(1000), "1000 tiles announced"),
        (header(0) + b"x", "after its last tile"),
        (header(1) + tile(190, 0, 11, 1, Codec.RAW, b"\x00" * 33), "outside"),
        (header(1) + tile(0, 0, 0, 1, Codec.RAW, b""), "outside"),
        (header(1) + tile(0, 0, 1, 1, 9, b"abc"), "unknown codec 9"),
        (header(1) + tile(0, 0, 2, 2, Codec.RAW, b"\x00" * 11), "expected 12"),
        (header(1) + tile(0, 0, 2, 2, Codec.FILL, b"\x00" * 4), "expected 3"),
        (header(1) + tile(0, 0, 2, 2, Codec.JPEG, b""), "empty JPEG"),
        (header(1) + TILE_HEADER.pack(0, 0, 2, 2, Codec.ZSTD, 100) + b"abc", "truncated"),
    ],
)
def test_malformed_updates_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(UpdateFormatError, match=message):
        decode_update(data)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (tile(0, 0, 8, 8, Codec.ZSTD, b"not zstd at all"), "bad ZSTD"),
        (tile(0, 0, 8, 8, Codec.ZSTD, zstandard.compress(b"\x00" * 191)), "expected 192"),
        (tile(0, 0, 8, 8, Codec.ZSTD, zstandard.compress(b"\x00" * 193)), "ZSTD"),
        (tile(0, 0, 8, 8, Codec.ZSTD, zstandard.compress(b"\x00" * 192) + b"!"), "ZSTD"),
        (tile(0, 0, 8, 8, Codec.JPEG, b"\xff\xd8 not really a jpeg"), "bad JPEG"),
    ],
)
def test_bad_payloads_are_refused_and_nothing_is_applied(payload: bytes, message: str) -> None:
    decoder = TileDecoder(W, H)
    before = decoder.framebuffer.copy()
    good = tile(100, 100, 1, 1, Codec.FILL, b"\x01\x02\x03")
    with pytest.raises(UpdateFormatError, match=message):
        decoder.feed(header(2) + good + payload)
    assert (decoder.framebuffer == before).all()


def _stating(size: int, frame: bytes) -> bytes:
    """`frame` (one zstd frame) with a header that states `size` bytes of content."""
    return frame[:4] + bytes([0xE0]) + struct.pack("<Q", size) + frame[6:]


@pytest.mark.parametrize("stated", [2**40, 2**62, 193])
def test_a_zstd_frame_stating_another_size_is_refused_before_any_allocation(
        stated: int) -> None:
    frame = zstandard.ZstdCompressor(level=1).compress(b"\x00" * 192)
    assert zstandard.get_frame_parameters(_stating(stated, frame)).content_size == stated
    with pytest.raises(UpdateFormatError, match=f"states {stated} bytes, expected 192"):
        TileDecoder(W, H).feed(header(1) + tile(0, 0, 8, 8, Codec.ZSTD, _stating(stated, frame)))


def test_a_jpeg_of_the_wrong_size_is_refused() -> None:
    jpeg = TileEncoder(W, H).encode(photo_like()).tiles[0]
    assert jpeg.codec == Codec.JPEG
    with pytest.raises(UpdateFormatError, match="JPEG of"):
        TileDecoder(W, H).feed(header(1) + tile(0, 0, 64, 32, Codec.JPEG, jpeg.data))


def test_an_update_for_another_screen_size_is_refused() -> None:
    data = TileEncoder(W, H).encode(text_like()).to_bytes()
    with pytest.raises(UpdateFormatError, match="this decoder is 100x100"):
        TileDecoder(100, 100).feed(data)
    assert issubclass(UpdateFormatError, ProtocolError)


# --- what one update may make its receiver do ------------------------------------------


def whole_screen_jpeg(width: int = W, height: int = H) -> bytes:
    """A small JPEG of one flat colour, the size of the whole screen (about a kilobyte)."""
    return bytes(simplejpeg.encode_jpeg(np.full((height, width, 3), 77, np.uint8), 50, "RGB"))


def test_more_tiles_than_max_tiles_are_refused() -> None:
    """16 MiB hold a million one-pixel FILL tiles; an update may hold MAX_TILES."""
    size = (1024, 1024)  # their areas stay far under the screen's
    fill = tile(0, 0, 1, 1, Codec.FILL, b"\x01\x02\x03")
    assert decode_update(header(MAX_TILES, size=size) + fill * MAX_TILES).tiles[-1].w == 1
    with pytest.raises(UpdateFormatError, match=f"{MAX_TILES + 1} tiles, more than {MAX_TILES}"):
        decode_update(header(MAX_TILES + 1, size=size) + fill * (MAX_TILES + 1))


def test_one_whole_screen_jpeg_thousands_of_times_is_refused_before_any_decode() -> None:
    """A kilobyte of JPEG that decodes to a whole screen, 4,000 times in under 6 MB: the
    third copy already covers more than two screens, so nothing is decoded."""
    jpeg = whole_screen_jpeg()
    once = tile(0, 0, W, H, Codec.JPEG, jpeg)
    assert len(once) < 1500 and MAX_SCREENS == 2
    decoder = TileDecoder(W, H)
    decoder.feed(header(2) + once * 2)  # two screens: what a merge may hold
    before = decoder.framebuffer.copy()
    started = time.perf_counter()
    for count in (3, 4000):
        with pytest.raises(UpdateFormatError, match=f"cover {3 * W * H} pixels, more than 2"):
            decoder.feed(header(count) + once * count)
    assert time.perf_counter() - started < 0.5
    assert (decoder.framebuffer == before).all()
    half = tile(0, 0, W, H // 2, Codec.FILL, b"\x01\x02\x03")
    assert len(decode_update(header(4) + half * 4).tiles) == 4
    with pytest.raises(UpdateFormatError, match="more than 2 times the 200x130 screen"):
        decode_update(header(5) + half * 4 + tile(0, 0, 1, 1, Codec.FILL, b"abc"))


def test_the_encoder_refuses_a_grid_of_more_cells_than_an_update_may_hold() -> None:
    assert MAX_TILES == 1 << 16
    largest = TileEncoder(16384, 16384)  # the default 64-pixel tile
    assert largest.rows * largest.cols == MAX_TILES
    for width, height, size in ((16384, 16385, 64), (4096, 4097, 16), (65535, 65535, 64)):
        with pytest.raises(ValueError, match="more than an update may hold"):
            TileEncoder(width, height, size)


@pytest.mark.timeout(120)
def test_a_keyframe_of_the_largest_grid_is_accepted() -> None:
    """4096x4096 in 16-pixel cells is MAX_TILES cells; a checkerboard of two colours keeps
    every cell a tile of its own (no two neighbours merge), and the update decodes."""
    size, cell = 4096, 16
    grid = (np.add.outer(np.arange(size) // cell, np.arange(size) // cell) % 2).astype(np.uint8)
    frame = np.empty((size, size, 4), np.uint8)
    frame[:] = (grid * 200)[:, :, None]
    update = TileEncoder(size, size, cell).encode(frame)
    assert update.keyframe and len(update.tiles) == MAX_TILES and update.within_bounds()
    assert decode_update(update.to_bytes()) == update


RECT = st.tuples(st.integers(0, W - 1), st.integers(0, H - 1),
                 st.integers(1, W), st.integers(1, H))


@settings(max_examples=200, deadline=None)
@given(st.lists(RECT, max_size=16))
def test_fuzz_tiles_are_accepted_exactly_when_they_cover_at_most_two_screens(
        rects: list[tuple[int, int, int, int]]) -> None:
    tiles = tuple(Tile(x, y, min(w, W - x), min(h, H - y), Codec.FILL, b"abc")
                  for x, y, w, h in rects)
    update = Update(1, W, H, 0, 0, tiles)
    within = sum(t.w * t.h for t in tiles) <= 2 * W * H
    assert update.within_bounds() == within
    try:
        assert decode_update(update.to_bytes()) == update and within
    except UpdateFormatError:
        assert not within


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_garbage_raises_only_our_error(data: bytes) -> None:
    decoder = TileDecoder(W, H)
    for candidate in (data, header(data[0] if data else 1) + data):
        try:
            decoder.feed(candidate)
        except UpdateFormatError:
            pass


VALID = sample_update().to_bytes()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), max_size=8))
def test_fuzz_corrupted_updates_raise_only_our_error(edits: list[tuple[int, int]]) -> None:
    data = bytearray(VALID)
    for index, value in edits:
        data[index] = value
    decoder = TileDecoder(W, H)
    try:
        decoder.feed(bytes(data))
    except UpdateFormatError:
        pass


# --- pacer ---------------------------------------------------------------------------------


def upd(seq: int, *rects: tuple[int, int, int, int], data: bytes = b"x") -> Update:
    tiles = tuple(Tile(x, y, w, h, Codec.FILL, data) for x, y, w, h in rects)
    return Update(seq, W, H, 0, 0, tiles)


def test_pacer_never_holds_more_than_one_pending_update() -> None:
    pacer = Pacer()
    pacer.offer(upd(1, (0, 0, 64, 64)), now=0.0)
    sent = pacer.poll(now=0.0)
    assert sent is not None and sent.seq == 1
    for seq in range(2, 50):  # the write is still in progress: nothing else is written
        pacer.offer(upd(seq, (0, 0, 64, 64), (64 * (1 + seq % 2), 0, 64, 64)), now=seq * 0.01)
        assert pacer.poll(now=seq * 0.01) is None
        assert isinstance(pacer.pending, Update) and pacer.express is None
        assert len(pacer.pending.tiles) <= 3
    assert pacer.merged == 47
    pacer.on_sent(1000, now=0.5)
    latest = pacer.poll(now=0.5)
    assert latest is not None and latest.seq == 49 and pacer.pending is None
    assert pacer.poll(now=0.5) is None


def test_newest_tile_wins_and_uncovered_tiles_are_kept_in_order() -> None:
    old = upd(1, (0, 0, 64, 64), (64, 0, 128, 64), (0, 64, 64, 64), data=b"old")
    new = upd(2, (0, 0, 64, 64), (128, 0, 64, 64), (64, 0, 64, 64), (0, 64, 32, 64), data=b"new")
    merged = merge_updates(old, new)
    assert merged.seq == 2
    # (0,0) replaced; (64,0,128,64) covered by two new tiles; (0,64,64,64) only half covered.
    assert merged.tiles == (Tile(0, 64, 64, 64, Codec.FILL, b"old"), *new.tiles)
    keyframe = Update(1, W, H, 0, 0, old.tiles, keyframe=True)
    assert merge_updates(keyframe, new).keyframe


@pytest.mark.timeout(60)
def test_a_merge_of_many_tiny_tiles_keeps_them_all_instead_of_comparing_every_pair() -> None:
    """A peer's updates of 32,768 one-pixel tiles each would take a billion tile
    comparisons to merge exactly; the merge keeps every older tile instead (in order, they
    still paint the newest screen), so whoever merges is not held."""
    def dots(seq: int, colour: bytes) -> Update:
        tiles = tuple(Tile(x, y, 1, 1, Codec.FILL, colour)
                      for y in range(0, 256, 2) for x in range(0, 512, 2))
        return Update(seq, 512, 512, 0, 0, tiles)

    older, newer = dots(1, b"\x01\x01\x01"), dots(2, b"\x02\x02\x02")
    merged = merge_updates(older, newer)
    assert merged is not None
    assert merged.seq == 2 and merged.tiles == older.tiles + newer.tiles
    small = merge_updates(upd(1, (0, 0, 64, 64)), upd(2, (0, 0, 64, 64), (64, 0, 64, 64)))
    assert small is not None
    assert len(small.tiles) == 2  # below the bound, the covered tile is still dropped


def test_merged_updates_decode_to_the_newest_screen() -> None:
    encoder = TileEncoder(W, H)
    decoder = TileDecoder(W, H)
    first = text_like()
    decoder.feed(encoder.encode(first).to_bytes())
    second = first.copy()
    second[0:10, 0:10] = 1  # cell (0, 0)
    second[100:110, 192:200] = 1  # cell (1, 3)
    third = second.copy()
    third[0:64, 0:100] = photo_like()[0:64, 0:100]  # cells (0, 0) and (0, 1)
    second_update = encoder.encode(second)
    third_update = encoder.encode(third)
    merged = merge_updates(second_update, third_update)
    assert cells_of(merged) == {(0, 0), (0, 1), (1, 3)}
    assert merged.tiles[-1:] == third_update.tiles
    decoder.feed(merged.to_bytes())
    assert mean_error(decoder.framebuffer, third) < 3
    assert same_colours(decoder.framebuffer[64:], third[64:])


def test_a_merge_beyond_the_bounds_is_not_made_and_the_pacer_asks_for_a_keyframe() -> None:
    """A window dragged right over a terminal on a slow link: each frame changes one run of
    cells a row (the cell left behind and the window), one cell further right each time,
    so no older run is ever painted over whole and merged they overlap more and more.
    Every merge made decodes; the one that would cover more than two screens is not made:
    the update waiting stays as it was, and a keyframe is asked for."""
    width, height = 1024, 128  # 16 x 2 cells
    encoder = TileEncoder(width, height, browser_safe=True)
    decoder = TileDecoder(width, height)
    terminal, window = text_like(width, height, seed=1), text_like(256, height, seed=7)
    frame = terminal.copy()
    pacer = Pacer()
    pacer.offer(encoder.encode(frame), now=0.0)
    first = pacer.poll(now=0.0)  # the keyframe goes; its write keeps the link busy
    assert first is not None and first.keyframe
    decoder.feed(first.to_bytes())
    waiting: list[Update] = []
    for step in range(1, 13):
        frame = terminal.copy()
        frame[:, step * 64:step * 64 + 256] = window
        pacer.offer(encoder.encode(frame), now=0.01 * step)
        if pacer.keyframe_due:
            break
        assert pacer.pending is not None and pacer.pending.within_bounds()
        waiting.append(pacer.pending)
    assert pacer.keyframe_due and len(waiting) > 2
    assert sum(t.w * t.h for t in waiting[-1].tiles) > width * height  # overlapping
    assert pacer.pending is waiting[-1]  # kept as it was, the newer update dropped
    for update in waiting:
        assert decode_update(update.to_bytes()) == update
    frame[:, :64] = 5
    pacer.offer(encoder.encode(frame), now=1.0)  # not a keyframe: dropped too
    assert pacer.pending is waiting[-1] and pacer.keyframe_due
    full = encoder.encode(frame, force_full=True)
    pacer.offer(full, now=1.1)
    assert not pacer.keyframe_due and pacer.pending == full  # it paints everything
    pacer.on_sent(1000, now=1.2)
    sent = pacer.poll(now=1.2)
    assert sent == full
    decoder.feed(sent.to_bytes())
    assert mean_error(decoder.framebuffer, frame) < 3


def test_a_change_merged_into_a_waiting_keyframe_stays_within_the_bounds() -> None:
    """A keyframe covers the screen in runs of cells; a change offered while it waits
    paints over some of a run, so the run stays and the merge covers more than the
    screen: a second screen is allowed for it."""
    encoder = TileEncoder(W, H)
    first = text_like()
    keyframe = encoder.encode(first)
    second = first.copy()
    second[0:10, 0:10] = 1
    change = encoder.encode(second)
    merged = merge_updates(keyframe, change)
    assert merged is not None and merged.keyframe
    assert sum(t.w * t.h for t in merged.tiles) > W * H
    decoder = TileDecoder(W, H)
    decoder.feed(merged.to_bytes())
    assert same_colours(decoder.framebuffer, second)


def test_unacknowledged_updates_keep_the_link_busy() -> None:
    pacer = Pacer(PacerSettings(min_unacked=2, max_unacked=2))
    for seq in (1, 2):
        pacer.offer(upd(seq, (0, 0, 8, 8)), now=0.0)
        assert pacer.poll(now=0.0) is not None
        pacer.on_sent(10, now=0.001)
    pacer.offer(upd(3, (0, 0, 8, 8)), now=0.01)
    assert pacer.busy and pacer.poll(now=0.01) is None
    pacer.on_ack(2, now=0.02)  # acknowledges 1 too
    assert not pacer.busy
    third = pacer.poll(now=0.02)
    assert third is not None and third.seq == 3
    pacer.on_ack(99, now=0.03)  # unknown: ignored
    pacer.on_ack(2, now=0.03)  # already acknowledged: ignored


def test_pacer_parameters_are_checked() -> None:
    with pytest.raises(ValueError):
        PacerSettings(min_interval=0.5, max_interval=0.1)
    with pytest.raises(ValueError):
        PacerSettings(min_quality=90, initial_quality=70)


def test_wire_header_sizes_are_as_documented() -> None:
    assert HEADER.size == 18
    assert TILE_HEADER.size == 13
    assert struct.calcsize(">BBIHHhhI") == 18
