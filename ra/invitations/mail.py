"""Send an invitation file by email (stdlib smtplib).

The email carries the invitation and instructions, never the password: the
body tells the helper that the password comes by phone or in person. The SMTP
login password is only handed to smtplib; it is never logged, never put in an
error message, and never sent over a connection that is not encrypted.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import textwrap
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from ra.invitations.errors import MailError
from ra.invitations.file import MEDIA_TYPE

DEFAULT_FILENAME = "RAInvitation.rainv"
_MAINTYPE, _SUBTYPE = MEDIA_TYPE.split("/")


def _one_line(text: str, limit: int) -> str:
    """Text safe for a header or a single line: control characters become spaces."""
    cleaned = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in text
    )
    cleaned = " ".join(cleaned.split())
    return cleaned[:limit]


def _check_address(label: str, value: str) -> str:
    if any(ch in value for ch in "\r\n\0"):
        raise MailError(f"the {label} address is not valid: it contains a line break")
    _, address = parseaddr(value)
    if "@" not in address:
        raise MailError(f"the {label} address is not valid: {value!r}")
    return value


def _safe_filename(filename: str) -> str:
    base = _one_line(filename.replace("/", "_").replace("\\", "_"), 100).strip(". ")
    return base or DEFAULT_FILENAME


def _message_domain(sender: str) -> str:
    domain = parseaddr(sender)[1].rpartition("@")[2].strip()
    return domain if domain and all(ch.isalnum() or ch in ".-" for ch in domain) else "ra.invalid"


def _body_text(name: str, message: str, expires_at: datetime, filename: str) -> str:
    expiry = expires_at.strftime("%Y-%m-%d at %H:%M UTC")
    quoted = "\n".join(f"    {line}" for line in message.splitlines()) or "    (no message)"
    paragraphs = [
        textwrap.fill(
            f"{name} is asking for your help with their computer, using ra Remote Assistance."
        ),
        f"Their message:\n{quoted}",
        textwrap.fill(f"This invitation expires on {expiry}. After that it cannot be used."),
        "To help:\n"
        f"  1. Save the attached file {filename}.\n"
        f"  2. Look at what it contains:   ra invite inspect {filename}\n"
        f"  3. Connect:                    ra connect {filename}",
        textwrap.fill(
            f"You will also need the invitation password. {name} will give it to you "
            "by another channel: by phone or in person. It is never sent by email. "
            "If an email gives you a password for this invitation, do not use it, "
            f"and tell {name}."
        ),
    ]
    return "\n\n".join(paragraphs) + "\n"


@dataclass(frozen=True)
class Letter:
    """What the email says: the invitation file, who it goes to and comes from, the
    person's name and message, and when the invitation expires (naive: UTC)."""

    file_bytes: bytes
    to: str
    sender: str
    name: str
    message: str
    expires_at: datetime
    filename: str = DEFAULT_FILENAME


def build_invitation_email(letter: Letter) -> EmailMessage:
    """The email (headers, instructions, attached invitation) without sending it.

    Control characters in the name and the file name become spaces, so they cannot
    add header lines.
    """
    to, sender, expires_at = letter.to, letter.sender, letter.expires_at
    _check_address("recipient", to)
    _check_address("sender", sender)
    shown_name = _one_line(letter.name, 200) or "Someone"
    attachment_name = _safe_filename(letter.filename)
    when = expires_at if expires_at.tzinfo is not None else expires_at.replace(tzinfo=UTC)
    when = when.astimezone(UTC)

    mail = EmailMessage()
    mail["Subject"] = f"Remote Assistance invitation from {shown_name}"
    mail["From"] = sender
    mail["To"] = to
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = make_msgid(domain=_message_domain(sender))
    mail.set_content(_body_text(shown_name, letter.message, when, attachment_name))
    mail.add_attachment(
        bytes(letter.file_bytes), maintype=_MAINTYPE, subtype=_SUBTYPE, filename=attachment_name
    )
    return mail


def _reach_error(host: str, port: int, error: OSError) -> MailError:
    if isinstance(error, ConnectionRefusedError):
        reason = "connection refused"
    elif isinstance(error, socket.gaierror):
        reason = "host name not found"
    elif isinstance(error, TimeoutError):
        reason = "timed out"
    else:
        reason = (error.strerror or str(error) or type(error).__name__).lower()
    return MailError(f"could not reach the mail server at {host}:{port}: {reason}")


def _tls_reason(error: Exception) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        detail = error.verify_message or "unknown reason"
        return f"the server's certificate could not be verified ({detail})"
    if isinstance(error, ssl.SSLError):
        return error.reason or str(error)
    if isinstance(error, smtplib.SMTPResponseException):
        return f"the server answered {error.smtp_code}"
    return str(error) or type(error).__name__


def _smtp_text(error: smtplib.SMTPResponseException) -> str:
    raw = error.smtp_error
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return f"{error.smtp_code} {_one_line(text, 200)}".strip()


def _starttls(smtp: smtplib.SMTP, context: ssl.SSLContext | None) -> None:
    smtp.ehlo()
    if not smtp.has_extn("starttls"):
        raise MailError("STARTTLS failed: the server does not offer STARTTLS")
    try:
        smtp.starttls(context=context or ssl.create_default_context())
    except (ssl.SSLError, smtplib.SMTPException, ValueError) as error:
        raise MailError(f"STARTTLS failed: {_tls_reason(error)}") from None
    smtp.ehlo()


def _login(smtp: smtplib.SMTP, username: str, password: str) -> None:
    try:
        smtp.login(username, password)
    except smtplib.SMTPAuthenticationError:
        raise MailError("the server refused the login (check the user name and password)") from None
    except smtplib.SMTPNotSupportedError:
        raise MailError("the server does not accept a login (no AUTH)") from None
    except smtplib.SMTPException as error:
        reason = _smtp_text(error) if isinstance(error, smtplib.SMTPResponseException) else ""
        raise MailError(f"the login failed{': ' + reason if reason else ''}") from None


def _deliver(smtp: smtplib.SMTP, mail: EmailMessage, to: str, sender: str) -> None:
    try:
        smtp.send_message(mail)
    except smtplib.SMTPRecipientsRefused:
        raise MailError(f"the server refused the recipient {to}") from None
    except smtplib.SMTPSenderRefused as error:
        raise MailError(f"the server refused the sender {sender}: {_smtp_text(error)}") from None
    except smtplib.SMTPDataError as error:
        raise MailError(f"the server refused the message: {_smtp_text(error)}") from None


def send_invitation_email(
    letter: Letter,
    *,
    smtp_host: str,
    smtp_port: int,
    starttls: bool = False,
    username: str | None = None,
    password: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = 30,
) -> str:
    """Email `letter` to its recipient through an SMTP server; return the Message-ID.

    With ``starttls`` the connection is encrypted before anything else is sent,
    checked with ``ssl_context`` (default: the system's trusted certificates).
    A login (``username``/``password``) is only attempted over STARTTLS.
    Every failure is a MailError with one line for the user.
    """
    if username is not None and not starttls:
        raise MailError(
            "refusing to send the mail login over an unencrypted connection; turn on STARTTLS"
        )
    try:
        mail = build_invitation_email(letter)
    except (ValueError, TypeError) as error:
        raise MailError(f"could not write the email: {_one_line(str(error), 200)}") from None
    where = f"{smtp_host}:{smtp_port}"
    try:
        smtp = smtplib.SMTP(smtp_host, smtp_port, timeout=timeout)
    except smtplib.SMTPServerDisconnected as error:
        reason = _one_line(str(error), 200).lower()
        raise MailError(
            f"could not reach the mail server at {where}: it did not answer ({reason})"
        ) from None
    except smtplib.SMTPConnectError as error:
        raise MailError(
            f"the mail server at {where} refused the connection: {_smtp_text(error)}"
        ) from None
    except OSError as error:
        raise _reach_error(smtp_host, smtp_port, error) from None
    try:
        if starttls:
            _starttls(smtp, ssl_context)
        if username is not None:
            _login(smtp, username, password or "")
        _deliver(smtp, mail, letter.to, letter.sender)
    except MailError:
        smtp.close()
        raise
    except smtplib.SMTPServerDisconnected:
        smtp.close()
        raise MailError(f"the mail server at {where} closed the connection") from None
    except smtplib.SMTPResponseException as error:
        smtp.close()
        raise MailError(f"the mail server at {where} answered {_smtp_text(error)}") from None
    except smtplib.SMTPException as error:
        smtp.close()
        raise MailError(f"sending through {where} failed: {_one_line(str(error), 200)}") from None
    except OSError as error:
        smtp.close()
        reason = (error.strerror or str(error) or type(error).__name__).lower()
        raise MailError(f"lost the connection to the mail server at {where}: {reason}") from None
    _quit_quietly(smtp)
    return str(mail["Message-ID"])


def _quit_quietly(smtp: smtplib.SMTP) -> None:
    """Say goodbye; the message is already accepted, so a failure here does not matter."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
