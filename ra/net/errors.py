"""Errors raised by the network layer.

Each message is one line for the person reading a terminal (see ra.errors).
None of them ever carries a password, a derived secret or a session key.
"""

from __future__ import annotations

from ra.errors import RaError


class NetError(RaError):
    """Base class: the connection to the other computer could not be used."""


class ProtocolError(NetError):
    """The other side sent bytes that break the wire protocol (docs/protocol.md)."""


class ConnectionClosed(NetError):
    """The connection ended (cleanly, between two messages)."""

    message = "the connection was closed by the other computer"


class ConnectError(NetError):
    """No address in the invitation could be reached."""


class FingerprintMismatch(NetError):
    """The helper reached a computer whose TLS certificate is not the pinned one."""

    address: str
    message = "{address} is not the machine that made this invitation"


class WrongPassword(NetError):
    """Helper side: the person's computer did not accept the password."""

    message = "the password was not accepted"


class Refused(NetError):
    """Helper side: the person's computer refused before checking the password."""

    reason: str
    message = "the other computer refused the connection: {reason}"


class ConfirmationFailed(NetError):
    """Helper side: the person's computer could not prove it holds the same key."""

    message = "the other computer could not prove it knows the password; the connection was closed"


class IdentityFailed(NetError):
    """Person's side: a helper knew the password but could not prove the key it named.

    Its signature over the handshake does not hold, so its name and key mean
    nothing; the connection was refused and recorded as a failed authentication.
    """

    message = "the helper's signature does not match the key it named"


class HandshakeTimeout(NetError):
    """The other side stopped answering during the handshake."""

    message = "the other computer did not answer in time"


class AuthFailed(NetError):
    """Person's side: a helper from ``origin`` proved a wrong password, or (``reason``
    ``identity``) the right one without proving the key it named.

    The caller records ``auth.failed`` for it (see serve's on_auth_failed).
    """

    def __init__(self, invitation_id: str, origin: str, reason: str = "password") -> None:
        what = ("a wrong password was tried" if reason == "password"
                else "a helper could not prove its key")
        super().__init__(f"{what} for invitation {invitation_id} from {origin}")
        self.invitation_id = invitation_id
        self.origin = origin
        self.reason = reason
