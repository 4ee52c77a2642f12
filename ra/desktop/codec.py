"""Screen updates: tile change detection, per-tile encoding, the wire format, decoding.

The screen is cut into a grid of ``tile`` x ``tile`` cells (64 by default;
cells on the right and bottom edges may be smaller). `TileEncoder.encode`
compares the new frame with the previous one cell by cell and sends only the
cells that changed (all of them on the first frame and on ``force_full``).

Each changed cell is put in a class from a subsample of its pixels (every
``tile // 16``-th pixel in both directions, 256 samples for 64x64 cells):

* **fill** - one colour in the sample and, checked on every pixel, in the cell;
* **text** - at most ``text_colours`` (default 96) distinct colours in the sample:
  terminal text, UI chrome, anti-aliased glyphs on flat backgrounds;
* **photo** - anything else: pictures, video, gradients with noise.

(Measured: 64x64 cells of an anti-aliased xterm have at most 54 distinct colours
in their 256 samples; photos and noise have close to 256.)

Neighbouring changed cells in one grid row with the same class (and, for fill,
the same colour) are merged into one rectangle, because one JPEG per 64x64 cell
costs about 620 bytes of headers and twice the encode time of one JPEG per row.

Codecs per class:

============  ==========================  ===============================================
class         default (Python client)     ``browser_safe=True`` (no zstd in browsers)
============  ==========================  ===============================================
fill          FILL (3 bytes)              FILL
text          ZSTD of raw BGR (lossless)  JPEG at ``text_quality`` (90), 4:4:4 chroma;
                                          RAW when the rectangle has < 342 pixels
photo         JPEG at ``quality``, 4:2:0  JPEG at ``quality``, 4:2:0
============  ==========================  ===============================================

A ZSTD payload that is not smaller than the raw pixels is sent as RAW instead.

Pixels are BGRA in memory (what X gives us). The fourth byte is X padding with
no meaning (Xvfb leaves anti-aliasing coverage in it), so the wire carries
colour only: RAW and ZSTD payloads are packed BGR, 3 bytes per pixel, and the
decoder's framebuffer always has 255 in the fourth byte.

The wire format is described in docs/screen-protocol.md. `decode_update`
checks the structure and `TileDecoder.apply` the payloads; any problem with the
bytes raises `UpdateFormatError` (a `ProtocolError`), and nothing else escapes.

**What one update may make its receiver do** is bounded in the format itself,
not only by its byte size (16 MiB hold a million 16-byte FILL tiles, or one
small JPEG of a whole screen thousands of times): an update holds at most
`MAX_TILES` tiles, and its tiles' areas add up to at most `MAX_SCREENS` times
its screen's area (`Update.within_bounds`), so decoding one costs at most two
screens of pixels. The encoder's updates cover one screen at most: its tiles
are grid cells (merged along rows) that never overlap, and it refuses a grid
of more than `MAX_TILES` cells; a slice of an update (``ra.desktop.pacing``)
is some of its tiles. The second screen is for merges
(`ra.desktop.pacing.merge_updates`): they keep older tiles that newer ones
only partly paint over, so a change merged into a waiting keyframe covers
more than the screen; a merge that would break the bounds is not made.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import simplejpeg  # type: ignore[import-untyped]
import zstandard

from ra.net.errors import ProtocolError

ScreenImage = npt.NDArray[np.uint8]
"""A screen image: (height, width, 4) uint8, BGRA (the 4th byte is padding)."""

WIRE_VERSION = 1
HEADER = struct.Struct(">BBIHHhhI")
"""version u8, flags u8, seq u32, width u16, height u16, cursor x i16, cursor y i16, tiles u32."""
TILE_HEADER = struct.Struct(">HHHHBI")
"""x u16, y u16, w u16, h u16, codec u8, payload length u32."""
FLAG_KEYFRAME = 0x01
MAX_UPDATE_BYTES = 16 * 1024 * 1024
"""The largest encoded update accepted (the SCREEN frame body limit of docs/protocol.md)."""
MAX_TILES = 1 << 16
"""The most tiles one update may hold: a grid of 65,536 cells is a 16384x16384 screen at the
default 64-pixel tile, 4096x4096 at the smallest (16); `TileEncoder` refuses a larger grid."""
MAX_SCREENS = 2
"""An update's tiles' areas add up to at most this many times its screen's area."""

_ALPHA = np.uint32(0xFF000000)
_RAW_BELOW_PIXELS = 342
"""Browser-safe text rectangles smaller than this go RAW: 341 * 3 bytes < a JPEG's headers."""


class UpdateFormatError(ProtocolError):
    """Bytes that are not a valid screen update (docs/screen-protocol.md)."""


class Codec(enum.IntEnum):
    RAW = 0
    """Packed BGR, 3 bytes per pixel, rows top to bottom."""
    ZSTD = 1
    """A single zstd frame whose content is the RAW payload."""
    JPEG = 2
    """A baseline JPEG (JFIF) of exactly w x h pixels."""
    FILL = 3
    """One BGR colour (3 bytes) for the whole rectangle."""


@dataclass(frozen=True, slots=True)
class Tile:
    """One rectangle of an update and its encoded pixels."""

    x: int
    y: int
    w: int
    h: int
    codec: Codec
    data: bytes


@dataclass(frozen=True, slots=True)
class Update:
    """The changed parts of one captured frame, ready for the wire."""

    seq: int
    width: int
    height: int
    cursor_x: int
    cursor_y: int
    tiles: tuple[Tile, ...]
    keyframe: bool = False
    """Every cell of the screen is in `tiles` (first frame or ``force_full``)."""

    @property
    def payload_bytes(self) -> int:
        return sum(len(t.data) for t in self.tiles)

    def within_bounds(self) -> bool:
        """At most `MAX_TILES` tiles, whose areas add up to at most `MAX_SCREENS` screens:
        what `decode_update` asks of every update (see the module's docstring)."""
        return len(self.tiles) <= MAX_TILES and (
            sum(t.w * t.h for t in self.tiles) <= MAX_SCREENS * self.width * self.height)

    def to_bytes(self) -> bytes:
        return encode_update(self)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> Update:
        return decode_update(data)


# --- wire format -----------------------------------------------------------------------


def encode_update(update: Update) -> bytes:
    """The wire bytes of `update` (big-endian; see docs/screen-protocol.md)."""
    parts = [
        HEADER.pack(
            WIRE_VERSION,
            FLAG_KEYFRAME if update.keyframe else 0,
            update.seq & 0xFFFFFFFF,
            update.width,
            update.height,
            _clamp_i16(update.cursor_x),
            _clamp_i16(update.cursor_y),
            len(update.tiles),
        )
    ]
    for tile in update.tiles:
        parts.append(TILE_HEADER.pack(tile.x, tile.y, tile.w, tile.h, tile.codec, len(tile.data)))
        parts.append(tile.data)
    return b"".join(parts)


def _clamp_i16(value: int) -> int:
    return max(-32768, min(32767, value))


def peek_seq(data: bytes) -> int:
    """The sequence number of an encoded update, read from its header alone."""
    if len(data) < HEADER.size:
        raise UpdateFormatError("a screen update is shorter than its header")
    return int(HEADER.unpack_from(data, 0)[2])


def decode_update(data: bytes | bytearray | memoryview) -> Update:
    """Parse and check the structure of an update; payloads are checked by `TileDecoder`."""
    view = memoryview(data)
    total = len(view)
    if total > MAX_UPDATE_BYTES:
        raise UpdateFormatError(
            f"screen update of {total} bytes is larger than the limit ({MAX_UPDATE_BYTES})"
        )
    if total < HEADER.size:
        raise UpdateFormatError(
            f"screen update truncated: {total} bytes, the header needs {HEADER.size}"
        )
    version, flags, seq, width, height, cx, cy, count = HEADER.unpack_from(view, 0)
    if version != WIRE_VERSION:
        raise UpdateFormatError(f"screen update version {version} is not supported")
    if flags & ~FLAG_KEYFRAME:
        raise UpdateFormatError(f"screen update has unknown flags 0x{flags:02x}")
    if width == 0 or height == 0:
        raise UpdateFormatError(f"screen update for an empty screen ({width}x{height})")
    if count > MAX_TILES:
        raise UpdateFormatError(f"screen update of {count} tiles, more than {MAX_TILES}")
    if count > (total - HEADER.size) // TILE_HEADER.size:
        raise UpdateFormatError(f"screen update truncated: {count} tiles announced")
    offset = HEADER.size
    area, most = 0, MAX_SCREENS * width * height
    tiles: list[Tile] = []
    for index in range(count):
        if offset + TILE_HEADER.size > total:
            raise UpdateFormatError(f"screen update truncated in the header of tile {index}")
        x, y, w, h, codec_byte, length = TILE_HEADER.unpack_from(view, offset)
        offset += TILE_HEADER.size
        if w == 0 or h == 0 or x + w > width or y + h > height:
            raise UpdateFormatError(
                f"tile {index} ({x},{y} {w}x{h}) is outside the {width}x{height} screen"
            )
        area += w * h
        if area > most:
            raise UpdateFormatError(
                f"tiles 0 to {index} cover {area} pixels, more than {MAX_SCREENS} times "
                f"the {width}x{height} screen"
            )
        try:
            codec = Codec(codec_byte)
        except ValueError:
            raise UpdateFormatError(f"tile {index} has unknown codec {codec_byte}") from None
        if length > total - offset:
            raise UpdateFormatError(f"screen update truncated in the pixels of tile {index}")
        expected = {Codec.RAW: w * h * 3, Codec.FILL: 3}.get(codec)
        if expected is not None and length != expected:
            raise UpdateFormatError(
                f"tile {index}: {codec.name} payload of {length} bytes, expected {expected}"
            )
        if length == 0:
            raise UpdateFormatError(f"tile {index}: empty {codec.name} payload")
        tiles.append(Tile(x, y, w, h, codec, bytes(view[offset : offset + length])))
        offset += length
    if offset != total:
        raise UpdateFormatError(f"screen update has {total - offset} bytes after its last tile")
    return Update(seq, width, height, cx, cy, tuple(tiles), bool(flags & FLAG_KEYFRAME))


# --- encoder ---------------------------------------------------------------------------


class _Class(enum.IntEnum):
    FILL = 0
    TEXT = 1
    PHOTO = 2


class TileEncoder:
    """Turns successive frames of one screen into `Update`s holding only what changed.

    Frames are (height, width, 4) uint8 BGRA arrays (`ScreenImage`).
    The encoder keeps its own copy of the last frame (only changed cells are
    copied), so the caller may reuse or drop its buffers.
    """

    def __init__(
        self,
        width: int,
        height: int,
        tile: int = 64,
        *,
        browser_safe: bool = False,
        text_colours: int = 96,
        text_quality: int = 90,
        zstd_level: int = 1,
    ) -> None:
        if not (0 < width <= 0xFFFF and 0 < height <= 0xFFFF):
            raise ValueError(f"screen size {width}x{height} is out of range")
        if tile < 16 or tile % 16:
            raise ValueError(f"tile size must be a multiple of 16, got {tile}")
        self.width = width
        self.height = height
        self.tile = tile
        self.rows = -(-height // tile)
        self.cols = -(-width // tile)
        self.browser_safe = browser_safe
        self.text_colours = text_colours
        self.text_quality = text_quality
        if self.rows * self.cols > MAX_TILES:
            raise ValueError(
                f"a {width}x{height} screen in {tile}-pixel tiles is {self.rows * self.cols} "
                f"cells, more than an update may hold ({MAX_TILES})"
            )
        self._step = tile // 16
        self._zstd = zstandard.ZstdCompressor(level=zstd_level)
        self._prev: ScreenImage | None = None
        self._seq = 0

    @property
    def seq(self) -> int:
        """The sequence number of the last update made (0 before the first)."""
        return self._seq

    def encode(
        self,
        frame: ScreenImage,
        *,
        force_full: bool = False,
        quality: int = 70,
        cursor: tuple[int, int] = (0, 0),
        keep: bool = False,
    ) -> Update:
        """The update from the last frame to `frame` (all of it: a keyframe).

        `keep`: the caller hands `frame` over and will not change it (a fresh grab),
        so a frame that changed everywhere is kept as it is instead of copied.
        """
        if frame.shape != (self.height, self.width, 4) or frame.dtype != np.uint8:
            raise ValueError(
                f"frame of shape {frame.shape} {frame.dtype} does not match "
                f"this {self.width}x{self.height} encoder"
            )
        frame = np.ascontiguousarray(frame)  # no copy for grabbed frames
        keyframe = force_full or self._prev is None
        if keyframe:
            changed = np.ones((self.rows, self.cols), dtype=bool)
        else:
            assert self._prev is not None
            changed = self.changed_cells(self._prev, frame)
        tiles = self._encode_cells(frame, changed, max(1, min(100, quality)))
        if keep and frame.flags.writeable and (keyframe or bool(changed.all())):
            self._prev = frame
        elif self._prev is None:
            self._prev = frame.copy()
        elif keyframe:
            np.copyto(self._prev, frame)
        else:
            for t in tiles:
                rows, cols = slice(t.y, t.y + t.h), slice(t.x, t.x + t.w)
                self._prev[rows, cols] = frame[rows, cols]
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        return Update(
            self._seq, self.width, self.height, cursor[0], cursor[1], tuple(tiles), keyframe
        )

    def changed_cells(self, old: ScreenImage, new: ScreenImage) -> npt.NDArray[np.bool_]:
        """A (rows, cols) mask of the grid cells whose pixels differ between two frames."""
        h, w, t = self.height, self.width, self.tile
        # Compared two pixels at a time where a row allows, then or-ed over each
        # cell's span of every pixel row, then over each cell's pixel rows.
        word, per_word = (np.uint64, 2) if w % 2 == 0 else (np.uint32, 1)
        neq = old.reshape(h, w * 4).view(word) != new.reshape(h, w * 4).view(word)
        per_row = np.logical_or.reduceat(neq, np.arange(0, w // per_word, t // per_word),
                                         axis=1)
        return np.logical_or.reduceat(per_row, np.arange(0, h, t), axis=0)

    def _classify(
        self, frame: ScreenImage, rows: npt.NDArray[np.intp], cols: npt.NDArray[np.intp]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32]]:
        """Distinct colours in the 16x16 subsample of each given cell, and its first colour."""
        s = self._step
        pixels = frame.view(np.uint32).reshape(self.height, self.width)
        sample = pixels[:: s, :: s] | _ALPHA
        pad_h, pad_w = self.rows * 16 - sample.shape[0], self.cols * 16 - sample.shape[1]
        if pad_h or pad_w:  # edge cells: repeat their last sample (adds no colour)
            sample = np.pad(sample, ((0, pad_h), (0, pad_w)), mode="edge")
        blocks = sample.reshape(self.rows, 16, self.cols, 16)[rows, :, cols, :]
        flat = np.sort(blocks.reshape(len(rows), 256), axis=1)
        counts = 1 + np.count_nonzero(flat[:, 1:] != flat[:, :-1], axis=1)
        return counts.astype(np.int64), flat[:, 0]

    def _encode_cells(
        self, frame: ScreenImage, changed: npt.NDArray[np.bool_], quality: int
    ) -> list[Tile]:
        rows, cols = np.nonzero(changed)
        if len(rows) == 0:
            return []
        counts, firsts = self._classify(frame, rows, cols)
        t = self.tile
        classes: list[tuple[int, int]] = []  # (class, fill colour or 0) per changed cell
        for r, c, n, colour in zip(rows.tolist(), cols.tolist(), counts.tolist(),
                                   firsts.tolist(), strict=True):
            if n == 1:
                cell = frame[r * t : (r + 1) * t, c * t : (c + 1) * t].view(np.uint32)
                if bool(np.all((cell | _ALPHA) == colour)):
                    classes.append((_Class.FILL, colour))
                    continue
                n = 2
            classes.append((_Class.TEXT if n <= self.text_colours else _Class.PHOTO, 0))
        tiles: list[Tile] = []
        i = 0
        total = len(classes)
        rows_l, cols_l = rows.tolist(), cols.tolist()
        while i < total:  # merge runs of same-class neighbours in one grid row
            j = i + 1
            while (
                j < total
                and rows_l[j] == rows_l[i]
                and cols_l[j] == cols_l[j - 1] + 1
                and classes[j] == classes[i]
            ):
                j += 1
            y, x0 = rows_l[i] * t, cols_l[i] * t
            x1 = min(self.width, (cols_l[j - 1] + 1) * t)
            y1 = min(self.height, y + t)
            tiles.append(self._encode_rect(frame, x0, y, x1 - x0, y1 - y, classes[i], quality))
            i = j
        return tiles

    def _encode_rect(
        self, frame: ScreenImage, x: int, y: int, w: int, h: int, kind: tuple[int, int],
        quality: int,
    ) -> Tile:
        cls, colour = kind
        if cls == _Class.FILL:
            bgr = (colour & 0xFFFFFF).to_bytes(4, "little")[:3]
            return Tile(x, y, w, h, Codec.FILL, bgr)
        pixels = frame[y : y + h, x : x + w]
        if cls == _Class.PHOTO:
            data = simplejpeg.encode_jpeg(pixels, quality, "BGRA", "420")
            return Tile(x, y, w, h, Codec.JPEG, data)
        raw = np.ascontiguousarray(pixels[:, :, :3]).tobytes()
        if self.browser_safe:
            if w * h < _RAW_BELOW_PIXELS:
                return Tile(x, y, w, h, Codec.RAW, raw)
            data = simplejpeg.encode_jpeg(pixels, max(quality, self.text_quality), "BGRA", "444")
            return Tile(x, y, w, h, Codec.JPEG, data)
        packed = self._zstd.compress(raw)
        if len(packed) >= len(raw):
            return Tile(x, y, w, h, Codec.RAW, raw)
        return Tile(x, y, w, h, Codec.ZSTD, packed)


# --- decoder ---------------------------------------------------------------------------


class TileDecoder:
    """Applies updates to a BGRA framebuffer (the 4th byte is always 255).

    An update is applied whole or not at all: every payload is decoded before
    any pixel is written. An update for another screen size is refused; make
    a new decoder from the size in the update's header (`decode_update`).
    """

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.framebuffer: ScreenImage = np.zeros((height, width, 4), dtype=np.uint8)
        self.framebuffer[:, :, 3] = 255
        self.seq = 0
        self.cursor = (0, 0)
        self._zstd = zstandard.ZstdDecompressor()

    def feed(self, data: bytes | bytearray | memoryview) -> Update:
        """Parse the wire bytes of an update and apply it."""
        update = decode_update(data)
        self.apply(update)
        return update

    def apply(self, update: Update) -> None:
        if (update.width, update.height) != (self.width, self.height):
            raise UpdateFormatError(
                f"screen update for a {update.width}x{update.height} screen; "
                f"this decoder is {self.width}x{self.height}"
            )
        decoded: list[tuple[Tile, npt.NDArray[np.uint8]]] = []
        for index, tile in enumerate(update.tiles):
            if tile.w <= 0 or tile.h <= 0 or tile.x < 0 or tile.y < 0 or (
                tile.x + tile.w > self.width or tile.y + tile.h > self.height
            ):
                raise UpdateFormatError(f"tile {index} is outside the screen")
            decoded.append((tile, self._decode_tile(index, tile)))
        fb = self.framebuffer
        for tile, pixels in decoded:
            region = fb[tile.y : tile.y + tile.h, tile.x : tile.x + tile.w]
            if pixels.shape[2] == 4:
                region[:] = pixels
            else:
                region[:, :, :3] = pixels
        self.seq = update.seq
        self.cursor = (update.cursor_x, update.cursor_y)

    def _decode_tile(self, index: int, tile: Tile) -> npt.NDArray[np.uint8]:
        w, h, data = tile.w, tile.h, tile.data
        size = w * h * 3
        if tile.codec == Codec.FILL:
            if len(data) != 3:
                raise UpdateFormatError(f"tile {index}: FILL payload must be 3 bytes")
            return np.broadcast_to(np.frombuffer(data, dtype=np.uint8), (h, w, 3))
        if tile.codec == Codec.RAW:
            if len(data) != size:
                raise UpdateFormatError(f"tile {index}: RAW payload must be {size} bytes")
            return np.frombuffer(data, dtype=np.uint8).reshape(h, w, 3)
        if tile.codec == Codec.ZSTD:
            try:
                # The frame's header states its size, and the decoder would allocate
                # that much before reading on: a peer's word is checked first.
                stated = zstandard.get_frame_parameters(data).content_size
                if stated not in (size, zstandard.CONTENTSIZE_UNKNOWN):
                    raise UpdateFormatError(
                        f"tile {index}: ZSTD frame states {stated} bytes, expected {size}")
                raw = self._zstd.decompress(data, max_output_size=size, allow_extra_data=False)
            except zstandard.ZstdError as exc:
                raise UpdateFormatError(f"tile {index}: bad ZSTD payload ({exc})") from None
            if len(raw) != size:
                raise UpdateFormatError(
                    f"tile {index}: ZSTD payload holds {len(raw)} bytes, expected {size}"
                )
            return np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3)
        if tile.codec == Codec.JPEG:
            try:
                jh, jw, _space, _sub = simplejpeg.decode_jpeg_header(data)
                if (jw, jh) != (w, h):
                    raise UpdateFormatError(
                        f"tile {index}: JPEG of {jw}x{jh} pixels in a {w}x{h} tile"
                    )
                image: ScreenImage = simplejpeg.decode_jpeg(data, colorspace="BGRA")
            except (ValueError, RuntimeError) as exc:
                raise UpdateFormatError(f"tile {index}: bad JPEG payload ({exc})") from None
            if image.shape != (h, w, 4):
                raise UpdateFormatError(f"tile {index}: JPEG decoded to {image.shape}")
            return image
        raise UpdateFormatError(f"tile {index}: unknown codec {tile.codec}")
