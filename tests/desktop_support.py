"""Real X displays for tests (Xvfb started and stopped by the test itself),
and reading the viewer's canvas back from a real browser."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from ra.desktop.xvfb import Display, xterm, xvfb

__all__ = ["CANVAS_JS", "Display", "canvas_rgba", "xterm", "xvfb"]

#: Returns the viewer's canvas as [width, height, base64 of its RGBA bytes]
#: (base64 over the wire: a 2560x800 array as JSON is slow).
CANVAS_JS = """() => {
    const c = document.getElementById('screen');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let text = '';
    for (let i = 0; i < d.length; i += 8192) {
        text += String.fromCharCode.apply(null, d.subarray(i, i + 8192));
    }
    return [c.width, c.height, btoa(text)];
}"""


def canvas_rgba(answer: Any) -> np.ndarray:
    """The pixels `CANVAS_JS` returned, as a (height, width, 4) uint8 array."""
    width, height, data = answer
    return np.frombuffer(base64.b64decode(data), dtype=np.uint8).reshape(height, width, 4)
