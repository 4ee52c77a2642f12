"""Remote Assistance invitations: the signed file, its password rules, and the email.

An invitation tells a helper where and how to reach the person who asks for
help. It is signed, it expires, and it carries nothing derived from the
password, which always travels by another channel.
"""

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
    key_fingerprint,
    load_invitation,
    new_invitation,
    parse_invitation,
    sign_invitation,
    to_code,
)
from ra.invitations.mail import send_invitation_email
from ra.invitations.password import MIN_LENGTH, check_strength, generate_password

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
    "load_invitation",
    "new_invitation",
    "parse_invitation",
    "send_invitation_email",
    "sign_invitation",
    "to_code",
]
