"""The helper's screen viewer: a local web page, one WebSocket, one-time token.

See ``docs/viewer.md`` for the page and the security checks, and
``docs/screen-protocol.md`` for the screen updates it draws.
"""

from ra.viewer.server import (
    VIEWER_STATES,
    OnMessage,
    ViewerServer,
    check_update,
    parse_page_message,
)

__all__ = ["VIEWER_STATES", "OnMessage", "ViewerServer", "check_update", "parse_page_message"]
