"""`ra invite` end to end: real processes, a real SQLite log, a real SMTP server."""

from __future__ import annotations

import email
import email.policy
import json
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
from smtp_support import Authenticator, Recorder, make_certificate, serve

from ra.home import Home
from ra.invitations import parse_invitation

PASSWORD = "Blue-Harbour-Lamp-47"


def create(ra, *args: str, cwd: Path | None = None) -> dict:  # type: ignore[no-untyped-def]
    result = ra("invite", "create", "--name", "Alice Example", "--message", "My printer vanished",
                "--password-stdin", "--json", *args, input=PASSWORD + "\n", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def log_lines(ra) -> list[dict]:  # type: ignore[no-untyped-def]
    result = ra("audit", "log", "--jsonl", check=True)
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_the_whole_lifecycle_through_the_cli(ra, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    made = create(ra, cwd=tmp_path)
    assert set(made) >= {"id", "file", "expires_at", "status"}
    assert made["status"] == "sent"
    assert Path(made["file"]) == tmp_path / "RAInvitation.rainv"  # the default name
    inv_id = made["id"]

    listed = json.loads(ra("invite", "list", "--json", check=True).stdout)
    lines = [json.loads(line) for line in ra("invite", "list", "--jsonl", check=True)
             .stdout.splitlines()]
    assert [i["id"] for i in lines] == [i["id"] for i in listed]
    assert [(i["id"], i["status"]) for i in listed] == [(inv_id, "sent")]
    assert 3500 < listed[0]["seconds_left"] <= 3600

    again = tmp_path / "again.rainv"
    ra("invite", "resend", inv_id[:8], "--save", str(again), check=True)
    assert again.read_bytes() == Path(made["file"]).read_bytes()

    ra("invite", "expire", inv_id[:8], check=True)
    events_before = len(log_lines(ra))
    illegal = [
        (("invite", "expire", inv_id), "cannot expire invitation"),
        (("invite", "revoke", inv_id), "cannot revoke invitation"),
        (("invite", "resend", inv_id, "--save", str(tmp_path / "x.rainv")), "cannot resend"),
    ]
    ra("invite", "delete", inv_id, check=True)
    events_before += 1
    illegal += [
        (("invite", "delete", inv_id), "cannot delete invitation"),
        (("invite", "resend", inv_id, "--save", str(tmp_path / "y.rainv")),
         "it has been deleted"),
    ]
    for args, message in illegal:
        result = ra(*args)
        assert result.returncode == 2, args
        assert message in result.stderr and "Traceback" not in result.stderr
    assert len(log_lines(ra)) == events_before, "an illegal move appends nothing"
    assert not (tmp_path / "y.rainv").exists()

    shown = json.loads(ra("invite", "show", inv_id, "--json", check=True).stdout)
    assert [h["type"] for h in shown["history"]] == [
        "invitation.created", "invitation.sent", "invitation.sent", "invitation.expired",
        "invitation.deleted"]
    assert json.loads(ra("invite", "list", "--json", check=True).stdout) == []
    assert len(json.loads(ra("invite", "list", "--all", "--json", check=True).stdout)) == 1
    verified = ra("audit", "verify", check=True)
    assert verified.stdout.startswith("log intact")
    assert "0 stored" not in verified.stdout, "each command leaves a signed checkpoint"


def test_expiry_is_enforced_from_the_log_and_the_clock(ra, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    made = create(ra, "--expires", "2s", "--save", str(tmp_path / "short.rainv"))
    time.sleep(2.2)
    result = ra("invite", "inspect", str(tmp_path / "short.rainv"))
    assert result.returncode != 0 and "expired" in result.stderr
    [listed] = json.loads(ra("invite", "list", "--all", "--json", check=True).stdout)
    assert listed["status"] == "expired"
    expired = [e for e in log_lines(ra) if e["type"] == "invitation.expired"]
    assert len(expired) == 1 and expired[0]["payload"] == {"reason": "time"}
    assert expired[0]["stream"] == f"invitation:{made['id']}"


def test_policy_and_password_rules(ra, home: Home, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base = ("invite", "create", "--name", "A", "--save", str(tmp_path / "i.rainv"))
    too_long = ra(*base, "--expires", "25h", "--password-stdin", input=PASSWORD + "\n")
    assert too_long.returncode == 2 and "at most 24 h" in too_long.stderr
    weak = ra(*base, "--password-stdin", input="password123\n")
    assert weak.returncode == 2 and "Traceback" not in weak.stderr
    no_tty = ra(*base)
    assert no_tty.returncode == 2 and "--password-stdin or --generate-password" in no_tty.stderr
    home.ensure()
    (home.root / "config.toml").write_text('[invitations]\nmax_expiry = "2h"\n')
    strict = ra(*base, "--expires", "3h", "--password-stdin", input=PASSWORD + "\n")
    assert strict.returncode == 2 and "at most 2 h" in strict.stderr
    assert ra("audit", "log", "--jsonl", check=True).stdout == "", "nothing was created"


def test_a_generated_password_is_shown_once_and_kept_nowhere(  # type: ignore[no-untyped-def]
    ra, home: Home, tmp_path: Path
) -> None:
    result = ra("invite", "create", "--name", "A", "--generate-password", "--json",
                "--save", str(tmp_path / "g.rainv"))
    assert result.returncode == 0, result.stderr
    shown = [line for line in result.stderr.splitlines() if "shown once" in line]
    assert len(shown) == 1
    password = shown[0].rsplit(": ", 1)[1]
    assert len(password) >= 20
    assert password not in result.stdout
    for path in home.root.rglob("*"):
        if path.is_file():
            assert password.encode() not in path.read_bytes(), path
    assert password.encode() not in (tmp_path / "g.rainv").read_bytes()


def test_inspect_tells_the_helper_who_sent_it_and_rejects_edits(ra, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    made = create(ra, "--save", str(tmp_path / "inv.rainv"), "--code")
    info = json.loads(ra("invite", "inspect", str(tmp_path / "inv.rainv"), "--json",
                         check=True).stdout)
    assert info["name"] == "Alice Example" and info["message"] == "My printer vanished"
    assert info["signature"] == "valid" and info["expired"] is False
    assert info["key_fingerprint"] == made["key_fingerprint"]
    from_code = json.loads(ra("invite", "inspect", made["code"], "--json", check=True).stdout)
    assert from_code == info

    data = (tmp_path / "inv.rainv").read_bytes()
    position = data.index(b"My printer")
    edited = data[:position] + b"N" + data[position + 1:]
    (tmp_path / "edited.rainv").write_bytes(edited)
    truncated = tmp_path / "truncated.rainv"
    truncated.write_bytes(data[: len(data) // 2])
    huge = tmp_path / "huge.rainv"
    huge.write_bytes(b"{" + b" " * 200_000)
    for path in (tmp_path / "edited.rainv", truncated, huge, tmp_path / "missing.rainv"):
        result = ra("invite", "inspect", str(path))
        assert result.returncode != 0, path
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("starttls", [False, True], ids=["plain", "starttls+auth"])
def test_email_through_a_real_smtp_server(ra, home: Home, tmp_path: Path, starttls: bool) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    extra: list[str] = []
    options: dict[str, object] = {}
    env = {"RA_LOG_LEVEL": "debug"}
    smtp_secret = "smtp-Secret-Value-77"
    authenticator = Authenticator("alice", smtp_secret)
    if starttls:
        cert = make_certificate(tmp_path)
        options = {"tls_context": cert.server_context(), "require_starttls": True,
                   "authenticator": authenticator, "auth_require_tls": True}
        extra = ["--starttls", "--smtp-cafile", str(cert.cert_path), "--smtp-user", "alice",
                 "--smtp-password-env", "RA_TEST_SMTP_PASSWORD"]
        env["RA_TEST_SMTP_PASSWORD"] = smtp_secret
    with serve(recorder, **options) as controller:
        result = ra("invite", "create", "--name", "Alice Example", "--message",
                    "My printer vanished", "--password-stdin", "--json",
                    "--save", str(tmp_path / "saved.rainv"),
                    "--email", "helpdesk@example.org", "--smtp", f"127.0.0.1:{controller.port}",
                    *extra, input=PASSWORD + "\n", env=env)
    assert result.returncode == 0, result.stderr
    made = json.loads(result.stdout)
    assert len(recorder.envelopes) == 1
    raw = recorder.envelopes[0].original_content or recorder.envelopes[0].content
    assert isinstance(raw, bytes)
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(mail, EmailMessage)
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert "Alice Example" in text and "My printer vanished" in text
    [attachment] = list(mail.iter_attachments())
    attached = attachment.get_payload(decode=True)
    assert attached == (tmp_path / "saved.rainv").read_bytes()
    assert parse_invitation(attached).invitation_id == made["id"]
    if starttls:
        assert authenticator.attempts and authenticator.attempts[-1][1] == b"alice"

    sent = [e for e in map(json.loads, ra("audit", "log", "--jsonl", check=True)
                           .stdout.splitlines()) if e["type"] == "invitation.sent"]
    assert [e["payload"]["channel"] for e in sent] == ["file", "email"]
    # Neither the invitation password nor the SMTP password is in the mail, an event,
    # any file of RA_HOME, or any line the command printed or logged.
    for secret in (PASSWORD, smtp_secret):
        assert secret.encode() not in raw
        assert secret not in result.stdout and secret not in result.stderr
        for path in home.root.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), (secret, path)


def test_email_needs_a_server_and_a_bad_one_is_one_clear_line(ra, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base = ("invite", "create", "--name", "A", "--password-stdin", "--email", "h@example.org")
    missing = ra(*base, input=PASSWORD + "\n")
    assert missing.returncode == 2 and "--smtp HOST:PORT" in missing.stderr
    nothing = ra("audit", "log", "--jsonl")  # refused before anything was recorded
    assert (nothing.returncode, nothing.stdout) == (2, "") and "no log in" in nothing.stderr
    closed = ra(*base, "--smtp", "127.0.0.1:9", input=PASSWORD + "\n")
    assert closed.returncode != 0 and "Traceback" not in closed.stderr
    assert "127.0.0.1:9" in closed.stderr
