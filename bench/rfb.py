"""A minimal RFB 3.8 client (RFC 6143) for the desktop benchmark: the x11vnc reference.

No authentication ("None" security type), a 32-bit little-endian true-colour
pixel format with red at bit 16 (so the framebuffer is BGRX in memory, like X
and like ra's decoder), Raw encoding only (optionally CopyRect), and the
classic request loop: one incremental FramebufferUpdateRequest for the whole
screen after each complete update. Raw rectangles are read straight into a
numpy framebuffer. Pointer and key events can be sent from another thread.
"""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

RAW = 0
COPYRECT = 1

_PIXEL_FORMAT = struct.pack(">BBBBHHHBBB3x", 32, 24, 0, 1, 255, 255, 255, 16, 8, 0)


class RFBError(Exception):
    """The server said or did something this client does not handle."""


@dataclass(frozen=True, slots=True)
class UpdateInfo:
    """One FramebufferUpdate as received."""

    rects: int
    pixels: int
    """Pixels covered by the rectangles (overlaps counted twice)."""
    nbytes: int
    """Bytes of the whole message on the wire."""


class RFBClient:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        encodings: tuple[int, ...] = (RAW,),
        timeout: float = 10.0,
    ) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._send_lock = threading.Lock()
        self._handshake()
        self._send(struct.pack(">B3x", 0) + _PIXEL_FORMAT)  # SetPixelFormat
        self._send(struct.pack(f">BxH{len(encodings)}i", 2, len(encodings), *encodings))
        self.framebuffer: npt.NDArray[np.uint8] = np.zeros(
            (self.height, self.width, 4), dtype=np.uint8
        )

    # -- connection --------------------------------------------------------------

    def _recv_exact(self, n: int) -> bytes:
        buf = bytearray(n)
        self._recv_into(memoryview(buf))
        return bytes(buf)

    def _recv_into(self, view: memoryview) -> None:
        got, total = 0, len(view)
        while got < total:
            n = self.sock.recv_into(view[got:], total - got)
            if n == 0:
                raise RFBError("the server closed the connection")
            got += n

    def _send(self, data: bytes) -> None:
        with self._send_lock:
            self.sock.sendall(data)

    def _handshake(self) -> None:
        version = self._recv_exact(12)
        if not version.startswith(b"RFB 003."):
            raise RFBError(f"not an RFB server: {version!r}")
        self._send(b"RFB 003.008\n")
        count = self._recv_exact(1)[0]
        if count == 0:
            length = struct.unpack(">I", self._recv_exact(4))[0]
            raise RFBError(f"refused: {self._recv_exact(length).decode(errors='replace')}")
        types = self._recv_exact(count)
        if 1 not in types:
            raise RFBError(f"the server wants authentication (security types {list(types)})")
        self._send(b"\x01")
        if struct.unpack(">I", self._recv_exact(4))[0] != 0:
            raise RFBError("security handshake failed")
        self._send(b"\x01")  # ClientInit: shared
        self.width, self.height = struct.unpack(">HH", self._recv_exact(4))
        self._recv_exact(16)  # the server's pixel format: we set ours
        name_len = struct.unpack(">I", self._recv_exact(4))[0]
        self.name = self._recv_exact(name_len).decode(errors="replace")

    def close(self) -> None:
        self.sock.close()

    # -- client to server --------------------------------------------------------

    def request(self, incremental: bool = True) -> None:
        self._send(struct.pack(">BBHHHH", 3, int(incremental), 0, 0, self.width, self.height))

    def pointer(self, x: int, y: int, buttons: int = 0) -> None:
        self._send(struct.pack(">BBHH", 5, buttons, x, y))

    def key(self, keysym: int, down: bool) -> None:
        self._send(struct.pack(">BBxxI", 4, int(down), keysym))

    # -- server to client --------------------------------------------------------

    def read_message(self) -> UpdateInfo | None:
        """Read one server message; a FramebufferUpdate is applied and described."""
        kind = self._recv_exact(1)[0]
        if kind == 0:
            return self._read_update()
        if kind == 1:  # SetColourMapEntries (not used with true colour)
            _first, count = struct.unpack(">xHH", self._recv_exact(5))
            self._recv_exact(6 * count)
            return None
        if kind == 2:  # Bell
            return None
        if kind == 3:  # ServerCutText
            length = struct.unpack(">3xI", self._recv_exact(7))[0]
            self._recv_exact(length)
            return None
        raise RFBError(f"unknown server message type {kind}")

    def _read_update(self) -> UpdateInfo:
        (count,) = struct.unpack(">xH", self._recv_exact(3))
        nbytes, pixels = 4, 0
        fb = self.framebuffer
        for _ in range(count):
            x, y, w, h, encoding = struct.unpack(">HHHHi", self._recv_exact(12))
            nbytes += 12
            if encoding == RAW:
                if x + w > self.width or y + h > self.height:
                    raise RFBError(f"rectangle {x},{y} {w}x{h} is outside the screen")
                if x == 0 and w == self.width:  # whole rows: straight into the framebuffer
                    self._recv_into(memoryview(fb[y : y + h]).cast("B"))
                else:
                    block = np.empty((h, w, 4), dtype=np.uint8)
                    self._recv_into(memoryview(block).cast("B"))
                    fb[y : y + h, x : x + w] = block
                nbytes += w * h * 4
                pixels += w * h
            elif encoding == COPYRECT:
                sx, sy = struct.unpack(">HH", self._recv_exact(4))
                fb[y : y + h, x : x + w] = fb[sy : sy + h, sx : sx + w].copy()
                nbytes += 4
                pixels += w * h
            else:
                raise RFBError(f"unexpected encoding {encoding} (only Raw and CopyRect asked)")
        return UpdateInfo(count, pixels, nbytes)
