"""Sending the invitation by email, against a real local SMTP server (aiosmtpd)."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from smtp_support import (
    Authenticator,
    Certificate,
    Recorder,
    free_port,
    make_certificate,
    serve,
)

from ra.invitations import (
    MEDIA_TYPE,
    Letter,
    MailError,
    generate_password,
    new_invitation,
    parse_invitation,
    send_invitation_email,
    sign_invitation,
)

NOW = datetime(2030, 6, 1, 8, 0, 0, 123456, tzinfo=UTC)
EXPIRES = NOW + timedelta(hours=3)
KEY = Ed25519PrivateKey.generate()
INVITATION = new_invitation(
    name="Zoë Ångström",
    message="My printer says it is offline.\nCan you have a look?",
    expires_at=EXPIRES,
    addresses=["192.168.1.20"],
    port=47900,
    tls_fingerprint="ab" * 32,
    signing_key=KEY.public_key(),
    now=NOW,
)
FILE = sign_invitation(INVITATION, KEY)
INVITATION_PASSWORD = generate_password()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def plain_server(recorder: Recorder) -> Iterator[Controller]:
    with serve(recorder) as controller:
        yield controller


@pytest.fixture
def certificate(tmp_path: Path) -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost."""
    return make_certificate(tmp_path)


LETTER_FIELDS = {field.name for field in dataclasses.fields(Letter)}


def send(controller: Controller, **options: Any) -> str:
    """Send the test invitation; `options` change the letter's fields or the SMTP ones."""
    letter = Letter(file_bytes=FILE, to="helper@example.org", sender="zoe@example.net",
                    name=INVITATION.name, message=INVITATION.message,
                    expires_at=INVITATION.expires_at)
    letter = dataclasses.replace(
        letter, **{key: value for key, value in options.items() if key in LETTER_FIELDS})
    smtp: dict[str, Any] = {"smtp_host": "127.0.0.1", "smtp_port": controller.port,
                            "timeout": 10}
    smtp.update({key: value for key, value in options.items() if key not in LETTER_FIELDS})
    return send_invitation_email(letter, **smtp)


def received(recorder: Recorder) -> tuple[bytes, EmailMessage]:
    assert len(recorder.envelopes) == 1
    raw = recorder.envelopes[0].original_content or recorder.envelopes[0].content
    assert isinstance(raw, bytes)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return raw, parsed


def check_invitation_mail(raw: bytes, mail: EmailMessage, message_id: str) -> None:
    assert str(mail["Message-ID"]).strip() == message_id  # may be folded
    assert mail["Subject"] == "Remote Assistance invitation from Zoë Ångström"
    assert mail["To"] == "helper@example.org"
    assert mail["From"] == "zoe@example.net"

    body_part = mail.get_body(preferencelist=("plain",))
    assert body_part is not None
    body = " ".join(body_part.get_content().split())
    assert "Zoë Ångström" in body
    assert "My printer says it is offline. Can you have a look?" in body
    assert "expires on 2030-06-01 at 11:00 UTC" in body
    assert "ra invite inspect RAInvitation.rainv" in body
    assert "ra connect RAInvitation.rainv" in body
    assert "phone" in body and "never sent by email" in body

    attachments = list(mail.iter_attachments())
    assert len(attachments) == 1
    attachment = attachments[0]
    assert attachment.get_content_type() == MEDIA_TYPE
    assert attachment.get_filename() == "RAInvitation.rainv"
    payload = attachment.get_payload(decode=True)
    assert payload == FILE
    assert parse_invitation(payload, now=NOW) == INVITATION

    for secret in (INVITATION_PASSWORD, INVITATION_PASSWORD.replace("-", "")):
        assert secret.encode() not in raw
        assert secret not in body


def test_invitation_arrives_with_attachment_and_instructions(
    plain_server: Controller, recorder: Recorder
) -> None:
    message_id = send(plain_server)
    assert message_id.startswith("<") and message_id.endswith("@example.net>")
    raw, mail = received(recorder)
    envelope = recorder.envelopes[0]
    assert envelope.mail_from == "zoe@example.net"
    assert envelope.rcpt_tos == ["helper@example.org"]
    check_invitation_mail(raw, mail, message_id)


def test_custom_attachment_name_is_used_in_instructions(
    plain_server: Controller, recorder: Recorder
) -> None:
    send(plain_server, filename="../../Help for Sam.rainv")
    _, mail = received(recorder)
    (attachment,) = mail.iter_attachments()
    assert attachment.get_filename() == "_.._Help for Sam.rainv"
    body_part = mail.get_body(preferencelist=("plain",))
    assert body_part is not None
    assert "ra connect _.._Help for Sam.rainv" in body_part.get_content()


def test_starttls_with_login(recorder: Recorder, certificate: Certificate) -> None:
    smtp_password = "s3cret-Mail-Pw"
    authenticator = Authenticator(username="zoe", password=smtp_password)
    with serve(
        recorder,
        tls_context=certificate.server_context(),
        require_starttls=True,
        authenticator=authenticator,
        auth_require_tls=True,
        auth_required=True,
    ) as controller:
        message_id = send(
            controller,
            starttls=True,
            ssl_context=certificate.client_context(),
            username="zoe",
            password=smtp_password,
        )
    assert [(login, password) for _, login, password in authenticator.attempts] == [
        (b"zoe", smtp_password.encode())
    ]
    raw, mail = received(recorder)
    check_invitation_mail(raw, mail, message_id)
    assert smtp_password.encode() not in raw
    assert smtp_password not in mail.as_string()


def test_wrong_login_is_a_clear_error(recorder: Recorder, certificate: Certificate) -> None:
    authenticator = Authenticator(username="zoe", password="right-password")
    with serve(
        recorder,
        tls_context=certificate.server_context(),
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    ) as controller:
        with pytest.raises(MailError) as caught:
            send(
                controller,
                starttls=True,
                ssl_context=certificate.client_context(),
                username="zoe",
                password="wrong-password",
            )
    text = str(caught.value)
    assert text.startswith("the server refused the login")
    assert "wrong-password" not in text and "\n" not in text
    assert recorder.envelopes == []


def test_untrusted_certificate_stops_before_anything_is_sent(
    recorder: Recorder, certificate: Certificate, tmp_path: Path
) -> None:
    with serve(
        recorder, tls_context=certificate.server_context(), require_starttls=True
    ) as controller:
        with pytest.raises(MailError) as caught:
            send(
                controller,
                starttls=True,
                ssl_context=ssl.create_default_context(),
                username="zoe",
                password="never-leaves",
            )
    assert str(caught.value).startswith("STARTTLS failed: the server's certificate")
    assert recorder.envelopes == []


def test_starttls_missing_on_server(plain_server: Controller, recorder: Recorder) -> None:
    with pytest.raises(MailError) as caught:
        send(plain_server, starttls=True)
    assert str(caught.value) == "STARTTLS failed: the server does not offer STARTTLS"
    assert recorder.envelopes == []


def test_login_without_starttls_is_refused(plain_server: Controller, recorder: Recorder) -> None:
    with pytest.raises(MailError) as caught:
        send(plain_server, username="zoe", password="plain-text-pw")
    assert "unencrypted" in str(caught.value)
    assert "plain-text-pw" not in str(caught.value)
    assert recorder.envelopes == []


def test_refused_recipient(recorder: Recorder) -> None:
    recorder.refuse_recipients = True
    with serve(recorder) as controller:
        with pytest.raises(MailError) as caught:
            send(controller)
    assert str(caught.value) == "the server refused the recipient helper@example.org"


def test_closed_port_is_a_clear_error() -> None:
    port = free_port()
    with pytest.raises(MailError) as caught:
        send_invitation_email(
            Letter(file_bytes=FILE, to="helper@example.org", sender="zoe@example.net",
                   name=INVITATION.name, message=INVITATION.message,
                   expires_at=INVITATION.expires_at),
            smtp_host="127.0.0.1",
            smtp_port=port,
            timeout=5,
        )
    assert str(caught.value) == (
        f"could not reach the mail server at 127.0.0.1:{port}: connection refused"
    )


@pytest.mark.parametrize(
    ("to", "sender"),
    [("helper@example.org\r\nBcc: x@evil", "zoe@example.net"), ("nobody", "zoe@example.net")],
)
def test_bad_addresses_are_refused_before_connecting(to: str, sender: str) -> None:
    with pytest.raises(MailError) as caught:
        send_invitation_email(
            Letter(file_bytes=FILE, to=to, sender=sender, name="Zoë", message="",
                   expires_at=EXPIRES),
            smtp_host="127.0.0.1",
            smtp_port=free_port(),
        )
    assert str(caught.value).startswith("the recipient address is not valid")


def test_name_with_line_breaks_cannot_inject_headers(
    plain_server: Controller, recorder: Recorder
) -> None:
    send(plain_server, name="Zoë\r\nBcc: someone@evil.example")
    _, mail = received(recorder)
    assert mail["Bcc"] is None
    assert mail["Subject"] == "Remote Assistance invitation from Zoë Bcc: someone@evil.example"
