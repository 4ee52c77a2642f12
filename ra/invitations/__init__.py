"""Remote Assistance invitations: the signed file, its password rules, and the email.

An invitation tells a helper where and how to reach the person who asks for
help. It is signed, it expires, and it carries nothing derived from the
password, which always travels by another channel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ra.lazy import lazy_names

if TYPE_CHECKING:  # what the names are, for the type checker
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
    from ra.invitations.mail import (
        Letter,
        send_invitation_email,
    )
    from ra.invitations.password import (
        MIN_LENGTH,
        check_strength,
        generate_password,
    )

# Each name is imported from its module on first use (`ra.lazy`): `ra --help` loads
# none of the signing, mail and keystore modules.
__getattr__ = lazy_names(globals(), {
    "ra.invitations.errors": (
        "InvitationError", "InvitationExpiredError", "InvitationFormatError",
        "InvitationKeyMismatchError", "InvitationReadError", "InvitationSignatureError",
        "InvitationTooLargeError", "InvitationVersionError", "MailError", "WeakPasswordError",
    ),
    "ra.invitations.file": (
        "CODE_PREFIX", "FILE_SUFFIX", "FORMAT_NAME", "FORMAT_VERSION", "MAX_INVITATION_BYTES",
        "MAX_MESSAGE_CHARS", "MAX_NAME_CHARS", "MEDIA_TYPE", "PAKE_SUITE", "Invitation",
        "PakeParams", "canonical_body", "format_fingerprint", "from_code", "invitation_digest",
        "is_code", "key_fingerprint", "load_invitation", "new_invitation", "parse_invitation",
        "read_invitation_source", "sign_invitation", "to_code",
    ),
    "ra.invitations.mail": ("Letter", "send_invitation_email"),
    "ra.invitations.password": ("MIN_LENGTH", "check_strength", "generate_password"),
})
