"""Standard base64 as ra writes bytes into JSON: text out, exact bytes back in.

`b64` writes the standard alphabet with padding. `unb64` reads what a peer
or a file sent, strictly: ASCII text in the standard alphabet with padding,
spelled the one way `b64` writes it (so one value has one text), and of
exactly the size the field holds. It raises `ValueError` with a message that
ends a sentence about the field ("must be base64 text", "is not valid
base64", "must be 32 bytes"): each caller puts its field's name in front and
raises its own error.
"""

from __future__ import annotations

import base64
import binascii


def b64(raw: bytes) -> str:
    """`raw` as standard base64 text, with padding."""
    return base64.b64encode(raw).decode("ascii")


def unb64(value: object, size: int) -> bytes:
    """The `size` bytes that `value` spells in canonical standard base64 (see the module)."""
    if not isinstance(value, str) or not value.isascii():
        raise ValueError("must be base64 text")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not valid base64") from None
    if b64(raw) != value:
        raise ValueError("is not valid base64")
    if len(raw) != size:
        raise ValueError(f"must be {size} bytes")
    return raw
