"""Remote Assistance invitations: the signed file, its password rules, and the email.

An invitation tells a helper where and how to reach the person who asks for
help. It is signed, it expires, and it carries nothing derived from the
password, which always travels by another channel.

The names below are imported on first use (`__getattr__`), so importing
one submodule loads only what that submodule needs: `ra --help` builds its
command tree without the signing, mail and keystore modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ra.lazy import lazy_names

if TYPE_CHECKING:
    from ra.invitations.errors import (
        InvitationError,
        InvitationExpiredError,
        InvitationFormatError,
        InvitationKeyMismatchError,
        InvitationReadError,
        InvitationSignatureError,
        InvitationTooLargeError,
        InvitationVersionError,
        MailError,
        WeakPasswordError,
    )
    from ra.invitations.file import (
        CODE_PREFIX,
        FILE_SUFFIX,
        FORMAT_NAME,
        FORMAT_VERSION,
        MAX_INVITATION_BYTES,
        MAX_MESSAGE_CHARS,
        MAX_NAME_CHARS,
        MEDIA_TYPE,
        PAKE_SUITE,
        Invitation,
        PakeParams,
        canonical_body,
        format_fingerprint,
        from_code,
        invitation_digest,
        is_code,
        key_fingerprint,
        load_invitation,
        new_invitation,
        parse_invitation,
        read_invitation_source,
        sign_invitation,
        to_code,
    )
    from ra.invitations.mail import Letter, send_invitation_email
    from ra.invitations.password import MIN_LENGTH, check_strength, generate_password

_WHERE = {
    "InvitationError": "ra.invitations.errors",
    "InvitationExpiredError": "ra.invitations.errors",
    "InvitationFormatError": "ra.invitations.errors",
    "InvitationKeyMismatchError": "ra.invitations.errors",
    "InvitationReadError": "ra.invitations.errors",
    "InvitationSignatureError": "ra.invitations.errors",
    "InvitationTooLargeError": "ra.invitations.errors",
    "InvitationVersionError": "ra.invitations.errors",
    "MailError": "ra.invitations.errors",
    "WeakPasswordError": "ra.invitations.errors",
    "CODE_PREFIX": "ra.invitations.file",
    "FILE_SUFFIX": "ra.invitations.file",
    "FORMAT_NAME": "ra.invitations.file",
    "FORMAT_VERSION": "ra.invitations.file",
    "MAX_INVITATION_BYTES": "ra.invitations.file",
    "MAX_MESSAGE_CHARS": "ra.invitations.file",
    "MAX_NAME_CHARS": "ra.invitations.file",
    "MEDIA_TYPE": "ra.invitations.file",
    "PAKE_SUITE": "ra.invitations.file",
    "Invitation": "ra.invitations.file",
    "PakeParams": "ra.invitations.file",
    "canonical_body": "ra.invitations.file",
    "format_fingerprint": "ra.invitations.file",
    "from_code": "ra.invitations.file",
    "invitation_digest": "ra.invitations.file",
    "is_code": "ra.invitations.file",
    "key_fingerprint": "ra.invitations.file",
    "load_invitation": "ra.invitations.file",
    "new_invitation": "ra.invitations.file",
    "parse_invitation": "ra.invitations.file",
    "read_invitation_source": "ra.invitations.file",
    "sign_invitation": "ra.invitations.file",
    "to_code": "ra.invitations.file",
    "Letter": "ra.invitations.mail",
    "send_invitation_email": "ra.invitations.mail",
    "MIN_LENGTH": "ra.invitations.password",
    "check_strength": "ra.invitations.password",
    "generate_password": "ra.invitations.password",
}


__getattr__ = lazy_names(globals(), _WHERE)


__all__ = [
    "CODE_PREFIX",
    "FILE_SUFFIX",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAX_INVITATION_BYTES",
    "MAX_MESSAGE_CHARS",
    "MAX_NAME_CHARS",
    "MEDIA_TYPE",
    "MIN_LENGTH",
    "PAKE_SUITE",
    "Invitation",
    "InvitationError",
    "InvitationExpiredError",
    "InvitationFormatError",
    "InvitationKeyMismatchError",
    "InvitationReadError",
    "InvitationSignatureError",
    "InvitationTooLargeError",
    "InvitationVersionError",
    "Letter",
    "MailError",
    "PakeParams",
    "WeakPasswordError",
    "canonical_body",
    "check_strength",
    "format_fingerprint",
    "from_code",
    "generate_password",
    "invitation_digest",
    "key_fingerprint",
    "is_code",
    "load_invitation",
    "new_invitation",
    "parse_invitation",
    "read_invitation_source",
    "send_invitation_email",
    "sign_invitation",
    "to_code",
]
