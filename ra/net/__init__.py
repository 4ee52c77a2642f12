"""The network adapter: framing, TLS transport and the password handshake.

See docs/protocol.md for the wire format. The helper calls `connect`, the
person's side calls `serve`; both end up with an authenticated `Channel`.
"""

from ra.net.errors import (
    AuthFailed,
    ConfirmationFailed,
    ConnectError,
    ConnectionClosed,
    FingerprintMismatch,
    HandshakeTimeout,
    IdentityFailed,
    NetError,
    ProtocolError,
    Refused,
    WrongPassword,
)
from ra.net.framing import MAX_BODY, PROTOCOL_VERSION, Frame, FrameDecoder, Kind
from ra.net.handshake import (
    HelperHandshake,
    HelperIdentity,
    HelperSigner,
    InvitationSecret,
    PersonHandshake,
)
from ra.net.transport import Channel, Listener, accept, connect, serve

__all__ = [
    "MAX_BODY",
    "PROTOCOL_VERSION",
    "AuthFailed",
    "Channel",
    "ConfirmationFailed",
    "ConnectError",
    "ConnectionClosed",
    "FingerprintMismatch",
    "Frame",
    "FrameDecoder",
    "HandshakeTimeout",
    "HelperHandshake",
    "HelperIdentity",
    "HelperSigner",
    "IdentityFailed",
    "InvitationSecret",
    "Kind",
    "Listener",
    "NetError",
    "PersonHandshake",
    "ProtocolError",
    "Refused",
    "WrongPassword",
    "accept",
    "connect",
    "serve",
]
