"""The helper's screen viewer: a local web page, one WebSocket, one-time token.

See ``docs/viewer.md`` for the page, the wire format and the security checks.
"""

from ra.viewer.server import (
    CODEC_JPEG,
    CODEC_RGBA,
    FRAME_MAGIC,
    VIEWER_STATES,
    OnMessage,
    Tile,
    ViewerServer,
    decode_frame,
    encode_frame,
    frame_from_image,
    jpeg_tile,
    parse_page_message,
    rgba_tile,
)

__all__ = [
    "CODEC_JPEG",
    "CODEC_RGBA",
    "FRAME_MAGIC",
    "VIEWER_STATES",
    "OnMessage",
    "Tile",
    "ViewerServer",
    "decode_frame",
    "encode_frame",
    "frame_from_image",
    "jpeg_tile",
    "parse_page_message",
    "rgba_tile",
]
