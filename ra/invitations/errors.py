"""Errors raised by the invitations package.

Every message is one line meant for the person who will read it: it says what
is wrong and, where it helps, what to do. None of them carries a password.
They all derive from ra.errors.RaError, which the CLI prints as one line.
"""

from __future__ import annotations

from datetime import datetime

from ra.errors import InputError, RaError


class InvitationError(InputError):
    """Base class: an invitation file or code could not be used."""


class InvitationFormatError(InvitationError):
    """The data is damaged, incomplete, or not an ra invitation at all."""


class InvitationTooLargeError(InvitationError):
    """The data is bigger than any invitation ra writes; it was not parsed."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"this file is too large to be an ra invitation ({size} bytes, at most {limit})"
        )
        self.size = size
        self.limit = limit


class InvitationVersionError(InvitationError):
    """The invitation uses a format version this ra does not read."""

    def __init__(self, found: int, supported: int) -> None:
        if found > supported:
            text = (
                f"this invitation was made by a newer version of ra (format {found}); "
                f"this ra reads format {supported}: update ra to read it"
            )
        else:
            text = (
                f"this invitation uses an unknown format ({found}); "
                f"this ra reads format {supported}"
            )
        super().__init__(text)
        self.found = found
        self.supported = supported


class InvitationSignatureError(InvitationError):
    """The signature does not match the contents."""

    message = "the invitation was changed after it was signed; ask for a new one"


class InvitationExpiredError(InvitationError):
    """The invitation's expiry time has passed."""

    def __init__(self, expires_at: datetime) -> None:
        when = expires_at.strftime("%Y-%m-%d at %H:%M:%S UTC")
        super().__init__(f"this invitation expired on {when}; ask for a new one")
        self.expires_at = expires_at


class InvitationKeyMismatchError(InvitationError):
    """The private key given for signing is not the one named in the invitation."""

    message = "this signing key does not match the invitation's signing_key; nothing was signed"


class InvitationReadError(InvitationError):
    """The invitation file could not be read from disk."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"could not read the invitation file {path}: {reason}")
        self.path = path


class WeakPasswordError(InputError):
    """A password was refused; ``reason`` says why, without repeating the password."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"password refused: {reason}")
        self.reason = reason


class MailError(RaError):
    """The invitation email could not be sent."""
