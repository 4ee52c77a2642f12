"""Tests for ra.logs: renderer choice, context, and above all redaction."""

from __future__ import annotations

import io
import json
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from ra.logs import (
    MIN_SECRET_LENGTH,
    REDACTED,
    configure_logging,
    forget_secrets,
    get_logger,
    is_secret_name,
    redact_secrets,
    register_secret,
)


class TTYStringIO(io.StringIO):
    """A StringIO that claims to be a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _clean_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ("RA_LOG_LEVEL", "RA_LOG_FORMAT", "NO_COLOR"):
        monkeypatch.delenv(var, raising=False)
    forget_secrets()
    structlog.contextvars.clear_contextvars()
    yield
    forget_secrets()
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = [line for line in stream.getvalue().splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


def configured_json() -> io.StringIO:
    stream = io.StringIO()
    configure_logging(stream=stream, json=True)
    return stream


# -- field names ------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "PASSWORD",
        "passwd",
        "secret",
        "token",
        "key",
        "private_key",
        "smtp_password",
        "api_token",
        "pake",
        "pake_message",
        "session_key",
        "sessionKey",
        "cookie",
        "Set-Cookie",
        "authorization",
        "X-Auth-Token",
        "client.secret",
        "password_hash",
    ],
)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "key_fingerprint",
        "monkey",
        "keyboard",
        "tokenizer",
        "passwordless",  # a different word from "password"
        "session_id",
        "invitation_id",
        "session_key_id",
        "token_expires_at",
        "event",
        "level",
        "hostkey",
    ],
)
def test_harmless_names(name: str) -> None:
    assert not is_secret_name(name)


def test_non_string_names_are_not_secret() -> None:
    assert not is_secret_name(42)
    assert not is_secret_name(None)


# -- capture_logs with the redaction processor --------------------------------


def test_capture_logs_redacts_secret_named_keys() -> None:
    configure_logging(stream=io.StringIO(), json=True)
    log = get_logger("test")
    with capture_logs(processors=[redact_secrets]) as logs:
        log.info(
            "smtp login",
            smtp_password="hunter2",
            api_token="tok-123",
            key_fingerprint="SHA256:abcd",
            monkey="banana",
            user="alice",
        )
    assert len(logs) == 1
    entry = logs[0]
    assert entry["smtp_password"] == REDACTED
    assert entry["api_token"] == REDACTED
    assert entry["key_fingerprint"] == "SHA256:abcd"
    assert entry["monkey"] == "banana"
    assert entry["user"] == "alice"
    assert entry["event"] == "smtp login"


def test_capture_logs_redacts_nested_and_leaves_caller_data_alone() -> None:
    configure_logging(stream=io.StringIO(), json=True)
    config = {
        "smtp": {"host": "mail.example", "password": "hunter2"},
        "peers": [{"name": "bob", "session_key": "k" * 32}, ("private_key", "x")],
    }
    with capture_logs(processors=[redact_secrets]) as logs:
        get_logger().info("config loaded", config=config)
    logged = logs[0]["config"]
    assert logged["smtp"] == {"host": "mail.example", "password": REDACTED}
    assert logged["peers"][0] == {"name": "bob", "session_key": REDACTED}
    # The caller's own dict must still hold the real values.
    assert config["smtp"] == {"host": "mail.example", "password": "hunter2"}
    assert config["peers"][0] == {"name": "bob", "session_key": "k" * 32}  # type: ignore[index]


def test_capture_logs_redacts_registered_value_everywhere() -> None:
    configure_logging(stream=io.StringIO(), json=True)
    secret = "correct-horse-battery"
    assert register_secret(secret)
    with capture_logs(processors=[redact_secrets]) as logs:
        get_logger().warning(
            f"user typed {secret} into the wrong box",
            note=f"value was {secret}!",
            nested={"list": [f"<{secret}>", 7]},
        )
    entry = logs[0]
    assert entry["event"] == f"user typed {REDACTED} into the wrong box"
    assert entry["note"] == f"value was {REDACTED}!"
    assert entry["nested"] == {"list": [f"<{REDACTED}>", 7]}


# -- the real pipeline, JSON lines --------------------------------------------


def test_json_pipeline_redacts_names_nested_and_keeps_fingerprint() -> None:
    stream = configured_json()
    get_logger("ra.test").info(
        "invitation created",
        password="s3cr3t-pass",
        meta={"pake": "msg-bytes", "inner": [{"cookie": "c=1"}], "port": 5900},
        key_fingerprint="SHA256:feed",
    )
    (line,) = json_lines(stream)
    assert line["password"] == REDACTED
    assert line["meta"] == {"pake": REDACTED, "inner": [{"cookie": REDACTED}], "port": 5900}
    assert line["key_fingerprint"] == "SHA256:feed"
    assert line["logger_name"] == "ra.test"
    assert line["level"] == "info"
    assert "s3cr3t-pass" not in stream.getvalue()


def test_json_pipeline_timestamp_is_iso_utc() -> None:
    stream = configured_json()
    get_logger().info("tick")
    (line,) = json_lines(stream)
    stamp = datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00"))
    assert stamp.utcoffset() == timedelta(0)


def test_json_pipeline_redacts_registered_value_in_message_and_fields() -> None:
    stream = configured_json()
    secret = "Tr0ub4dor&3"
    register_secret(secret)
    log = get_logger()
    log.info(f"password is {secret}", detail=f"x{secret}y", items=[secret], number=12)
    try:
        raise RuntimeError(f"bad password {secret}")
    except RuntimeError:
        log.exception("failed")
    first, second = json_lines(stream)
    assert first["event"] == f"password is {REDACTED}"
    assert first["detail"] == f"x{REDACTED}y"
    assert first["items"] == [REDACTED]
    assert first["number"] == 12
    assert f"bad password {REDACTED}" in second["exception"]
    assert secret not in stream.getvalue()


def test_registered_value_inside_arbitrary_object_repr() -> None:
    stream = configured_json()
    secret = "opaque-secret-value"
    register_secret(secret)
    get_logger().info("object", err=ValueError(secret))
    assert secret not in stream.getvalue()
    assert REDACTED in json_lines(stream)[0]["err"]


def test_overlapping_secrets_are_replaced_whole() -> None:
    stream = configured_json()
    register_secret("abcdef")
    register_secret("abcdefgh")
    get_logger().info("abcdefgh and abcdef")
    assert json_lines(stream)[0]["event"] == f"{REDACTED} and {REDACTED}"


def test_short_values_are_not_registered() -> None:
    stream = configured_json()
    short = "x" * (MIN_SECRET_LENGTH - 1)
    assert register_secret(short) is False
    assert register_secret("") is False
    get_logger().info(f"the word {short} stays", field=short)
    (line,) = json_lines(stream)
    assert line["event"] == f"the word {short} stays"
    assert line["field"] == short


def test_minimum_length_value_is_registered() -> None:
    stream = configured_json()
    exact = "y" * MIN_SECRET_LENGTH
    assert register_secret(exact) is True
    get_logger().info(f"[{exact}]")
    assert json_lines(stream)[0]["event"] == f"[{REDACTED}]"


def test_forget_secrets_empties_the_registry() -> None:
    stream = configured_json()
    register_secret("temporary-secret")
    forget_secrets()
    get_logger().info("temporary-secret")
    assert json_lines(stream)[0]["event"] == "temporary-secret"


def test_register_secret_is_thread_safe() -> None:
    stream = configured_json()
    values = [f"secret-{i:04d}-value" for i in range(400)]
    barrier = threading.Barrier(8)

    def worker(chunk: list[str]) -> None:
        barrier.wait()
        for value in chunk:
            register_secret(value)

    threads = [threading.Thread(target=worker, args=(values[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    get_logger().info(" ".join(values))
    event = json_lines(stream)[0]["event"]
    assert event == " ".join([REDACTED] * len(values))


def test_contextvars_appear_in_lines() -> None:
    stream = configured_json()
    structlog.contextvars.bind_contextvars(session_id="sess-1", invitation_id="inv-9")
    get_logger().info("consent granted")
    structlog.contextvars.unbind_contextvars("invitation_id")
    get_logger().info("control started")
    first, second = json_lines(stream)
    assert first["session_id"] == "sess-1"
    assert first["invitation_id"] == "inv-9"
    assert second["session_id"] == "sess-1"
    assert "invitation_id" not in second


# -- renderer choice, levels, configuration -----------------------------------


def test_tty_stream_gets_console_renderer_with_colours() -> None:
    stream = TTYStringIO()
    configure_logging(stream=stream)
    get_logger().info("hello console", session_id="s-1")
    text = stream.getvalue()
    assert "hello console" in text
    assert "\x1b[" in text  # ANSI colours on a TTY
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


def test_non_tty_stream_gets_json() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream)
    get_logger().info("hello json")
    assert json_lines(stream)[0]["event"] == "hello json"


def test_json_argument_forces_renderer() -> None:
    tty = TTYStringIO()
    configure_logging(stream=tty, json=True)
    get_logger().info("forced json")
    assert json_lines(tty)[0]["event"] == "forced json"

    plain = io.StringIO()
    configure_logging(stream=plain, json=False)
    get_logger().info("forced console")
    text = plain.getvalue()
    assert "forced console" in text
    assert "\x1b[" not in text  # console, but no colours off a TTY
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


def test_no_color_turns_colours_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    stream = TTYStringIO()
    configure_logging(stream=stream)
    get_logger().info("plain")
    assert "plain" in stream.getvalue()
    assert "\x1b[" not in stream.getvalue()


def test_ra_log_format_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RA_LOG_FORMAT", "json")
    tty = TTYStringIO()
    configure_logging(stream=tty, json=False)
    get_logger().info("env says json")
    assert json_lines(tty)[0]["event"] == "env says json"

    monkeypatch.setenv("RA_LOG_FORMAT", "console")
    plain = io.StringIO()
    configure_logging(stream=plain, json=True)
    get_logger().info("env says console")
    with pytest.raises(json.JSONDecodeError):
        json.loads(plain.getvalue().splitlines()[0])


def test_level_filtering_and_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    configure_logging(stream=stream, json=True, level="warning")
    log = get_logger()
    log.info("dropped")
    log.warning("kept")
    assert [line["event"] for line in json_lines(stream)] == ["kept"]

    monkeypatch.setenv("RA_LOG_LEVEL", "DEBUG")
    stream2 = io.StringIO()
    configure_logging(stream=stream2, json=True, level="error")
    log.debug("debug shown")
    assert [line["event"] for line in json_lines(stream2)] == ["debug shown"]


def test_invalid_settings_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="level"):
        configure_logging(stream=io.StringIO(), level="loud")
    monkeypatch.setenv("RA_LOG_LEVEL", "chatty")
    with pytest.raises(ValueError, match="RA_LOG_LEVEL"):
        configure_logging(stream=io.StringIO())
    monkeypatch.delenv("RA_LOG_LEVEL")
    monkeypatch.setenv("RA_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="RA_LOG_FORMAT"):
        configure_logging(stream=io.StringIO())


def test_configure_twice_is_fine_and_existing_loggers_follow() -> None:
    log = get_logger("early")  # obtained before configuration, like a module-level logger
    first = io.StringIO()
    configure_logging(stream=first, json=True)
    second = io.StringIO()
    configure_logging(stream=second, json=True)
    configure_logging(stream=second, json=True)
    log.info("once")
    assert first.getvalue() == ""
    lines = json_lines(second)
    assert [line["event"] for line in lines] == ["once"]
    assert lines[0]["logger_name"] == "early"


def test_default_stream_is_stderr_not_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True)
    get_logger().info("to stderr", password="hunter2")
    captured = capsys.readouterr()
    assert captured.out == ""
    line = json.loads(captured.err.strip().splitlines()[-1])
    assert line["event"] == "to stderr"
    assert line["password"] == REDACTED


def test_default_stream_follows_a_swapped_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    configure_logging(json=True)
    swapped = io.StringIO()  # what pytest's capture or typer's CliRunner do
    monkeypatch.setattr(sys, "stderr", swapped)
    get_logger().info("after the swap")
    assert json_lines(swapped)[0]["event"] == "after the swap"


def test_get_logger_configures_when_nobody_did(capsys: pytest.CaptureFixture[str]) -> None:
    structlog.reset_defaults()
    assert not structlog.is_configured()
    get_logger().info("auto", token="abc")
    captured = capsys.readouterr()
    assert captured.out == ""  # structlog's own default would print to stdout
    assert "auto" in captured.err
    assert "abc" not in captured.err
