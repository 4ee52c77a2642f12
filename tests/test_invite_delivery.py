"""A new invitation that cannot be saved or mailed leaves no open invitation whose
password nobody saw: it is recorded and revoked, with the reason (real files,
a real SMTP server that refuses the recipient)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from smtp_support import Recorder, serve

#: Loopback: no warning that every address is private comes before the one line.
HOST = ("--host", "127.0.0.1")


def _check_revoked(ra, result, why: str) -> None:  # type: ignore[no-untyped-def]
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "shown once" not in result.stderr  # the password was never handed out...
    [line] = result.stderr.splitlines()
    assert why in line and "is revoked" in line and "ra invite create" in line
    assert json.loads(ra("invite", "list", "--json", check=True).stdout) == []  # ...nor usable
    [ended] = json.loads(ra("invite", "list", "--all", "--json", check=True).stdout)
    assert ended["status"] == "revoked"
    events = [json.loads(line) for line in ra("audit", "log", "--jsonl", check=True)
              .stdout.splitlines()]
    [revoked] = [e for e in events if e["type"] == "invitation.revoked"]
    assert revoked["payload"]["reason"].startswith("not delivered: ")
    assert why in revoked["payload"]["reason"]
    assert ra("audit", "verify", check=True).stdout.startswith("log intact")


def test_an_unwritable_save_path_revokes_the_new_invitation(ra, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a-file").write_text("not a folder")
    target = tmp_path / "a-file" / "help.rainv"
    result = ra("invite", "create", "--name", "Alice", "--generate-password", *HOST,
                "--save", str(target))
    _check_revoked(ra, result, f"cannot write {target}")


@pytest.mark.parametrize("save", [False, True], ids=["mail only", "saved, then mail"])
def test_a_refused_mail_revokes_the_new_invitation(ra, tmp_path: Path, save: bool) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder(refuse_recipients=True)
    extra = ["--save", str(tmp_path / "help.rainv")] if save else []
    with serve(recorder) as controller:
        result = ra("invite", "create", "--name", "Alice", "--generate-password", *HOST, *extra,
                    "--email", "nobody@example.org", "--smtp", f"127.0.0.1:{controller.port}")
    assert recorder.envelopes == []
    _check_revoked(ra, result, "nobody@example.org")
