"""Structured logging for ``ra``, configured once, with secrets kept out of it.

Diagnostics go to **stderr** (stdout is reserved for command output) through
structlog.  The audit trail is the tamper-evident event log, not these lines;
these are for operators and bug reports, which is exactly why they must never
carry a password, a PAKE message or a session key.

Pipeline (see :func:`configure_logging`)::

    merge_contextvars -> add_log_level -> TimeStamper(iso, UTC)
      -> StackInfoRenderer -> format_exc_info -> redact_secrets -> renderer

Tracebacks are turned into plain text *before* :func:`redact_secrets` runs, so
an exception message that quotes a registered secret is redacted too, and the
console renderer never gets the chance to print a rich traceback with local
variables (which could hold a password).

Redaction happens in two ways:

1. **By field name** (:func:`is_secret_name`).  A name is split into words on
   ``_``, ``-``, ``.``, spaces and camelCase boundaries, lower-cased.  It is
   secret if any word is in :data:`SECRET_WORDS` (``password``, ``token``,
   ``key``, ``pake``, ``cookie`` ...), *unless* a word after the last secret
   word is in :data:`HARMLESS_QUALIFIERS` (``fingerprint``, ``id``, ``path``
   ...): such a name describes a secret without holding it.  So
   ``smtp_password``, ``api_token``, ``private_key``, ``sessionKey`` and
   ``X-Auth-Token`` are redacted; ``key_fingerprint``, ``token_expires_at``
   and ``session_key_id`` are not; ``monkey``, ``keyboard`` and ``tokenizer``
   are not either, since whole words are compared, never substrings.  Nested
   dicts, lists, tuples and sets are walked (copied, never mutated in place).

2. **By value** (:func:`register_secret`).  Once a secret string is known (an
   invitation password as soon as it is typed, say), every occurrence of it
   inside any string in any later log line, the event message included, is
   replaced.  Values shorter than :data:`MIN_SECRET_LENGTH` (6) characters are
   *not* registered: a 3-character "secret" would blank out ordinary words and
   numbers all over the logs, and such a value is too weak to be worth hiding
   that way anyway.  The registry is thread-safe.

Environment overrides (they win over the arguments):

* ``RA_LOG_LEVEL`` = ``debug`` | ``info`` | ``warning`` | ``error`` | ``critical``
* ``RA_LOG_FORMAT`` = ``json`` | ``console``
* ``NO_COLOR`` (any value) turns console colours off.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO, cast

if TYPE_CHECKING:  # structlog itself is imported on first use: `ra --help` needs none of it
    from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

__all__ = [
    "HARMLESS_QUALIFIERS",
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "SECRET_WORDS",
    "configure_logging",
    "forget_secrets",
    "get_logger",
    "is_secret_name",
    "redact_secrets",
    "redact_text",
    "register_secret",
]

REDACTED = "[REDACTED]"
"""What a secret is replaced with."""

MIN_SECRET_LENGTH = 6
"""Shorter values are ignored by :func:`register_secret` (too many false hits)."""

SECRET_WORDS: frozenset[str] = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "secret",
        "secrets",
        "token",
        "tokens",
        "key",
        "keys",
        "privkey",
        "apikey",
        "pake",
        "cookie",
        "cookies",
        "authorization",
        "credential",
        "credentials",
    }
)
"""Words that make a field name secret (compared as whole words)."""

HARMLESS_QUALIFIERS: frozenset[str] = frozenset(
    {
        "fingerprint",
        "fingerprints",
        "fp",
        "id",
        "ids",
        "length",
        "len",
        "size",
        "count",
        "type",
        "kind",
        "algorithm",
        "alg",
        "name",
        "path",
        "file",
        "expires",
        "expiry",
        "ttl",
        "version",
    }
)
"""Words that, after the last secret word, make the name describe a secret
rather than hold one (``key_fingerprint``, ``token_expires_at``)."""

LEVELS: tuple[str, ...] = ("debug", "info", "warning", "error", "critical")

_MAX_DEPTH = 32
_TOO_DEEP = "[REDACTED: nested too deep]"

# Split on anything that is not a letter or digit, then on camelCase humps:
# "X-Auth-Token" -> x, auth, token; "smtpPassword" -> smtp, password;
# "HTTPAuthorization" -> http, authorization.
_SEPARATORS = re.compile(r"[^0-9A-Za-z]+")
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def _words(name: str) -> list[str]:
    words: list[str] = []
    for chunk in _SEPARATORS.split(name):
        words.extend(w.lower() for w in _WORDS.findall(chunk))
    return words


def is_secret_name(name: object) -> bool:
    """Whether a field called *name* holds a secret (see the module docstring)."""
    if not isinstance(name, str):
        return False
    words = _words(name)
    last_secret = -1
    for i, word in enumerate(words):
        if word in SECRET_WORDS:
            last_secret = i
    if last_secret < 0:
        return False
    return not any(w in HARMLESS_QUALIFIERS for w in words[last_secret + 1 :])


# --------------------------------------------------------------------------
# Registry of secret values.  Writers take the lock and publish a new tuple;
# readers just read the attribute (an atomic reference read), so logging never
# blocks on the lock.  Longest first, so that a secret containing another one
# is replaced whole.


class _SecretRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: frozenset[str] = frozenset()
        self.ordered: tuple[str, ...] = ()

    def add(self, value: str) -> None:
        with self._lock:
            if value in self._values:
                return
            self._values = self._values | {value}
            self.ordered = tuple(sorted(self._values, key=len, reverse=True))

    def clear(self) -> None:
        with self._lock:
            self._values = frozenset()
            self.ordered = ()


_registry = _SecretRegistry()


def register_secret(value: str) -> bool:
    """Hide *value* wherever it appears in later log lines.

    Returns whether it was registered: values shorter than
    :data:`MIN_SECRET_LENGTH` characters (and non-strings) are ignored, because
    replacing short strings everywhere would mangle unrelated text.
    """
    if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
        return False
    _registry.add(value)
    return True


def forget_secrets() -> None:
    """Empty the registry of secret values (for tests)."""
    _registry.clear()


def redact_text(text: str) -> str:
    """*text* with every registered secret value replaced by :data:`REDACTED`."""
    for secret in _registry.ordered:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _redact_value(value: Any, secrets: tuple[str, ...], depth: int) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth >= _MAX_DEPTH:
        return _TOO_DEEP
    if isinstance(value, Mapping):
        return {
            k: REDACTED if is_secret_name(k) else _redact_value(v, secrets, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        items = [_redact_value(v, secrets, depth + 1) for v in value]
        if isinstance(value, list):
            return items
        if isinstance(value, tuple):
            return tuple(items)
        return frozenset(items) if isinstance(value, frozenset) else set(items)
    if isinstance(value, bytes | bytearray):
        data = bytes(value)
        for secret in secrets:
            data = data.replace(secret.encode(), REDACTED.encode())
        return data
    if secrets:
        # Any other object is rendered with str()/repr() later on; if that
        # text would carry a secret, hand the renderer a redacted string.
        try:
            texts = (str(value), repr(value))
        except Exception:  # a broken __repr__ must not break logging
            return value
        if any(s in t for t in texts for s in secrets):
            return _redact_value(texts[1], secrets, depth)
    return value


def redact_secrets(_logger: WrappedLogger, _method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: redact secret-named fields and registered secret values.

    Nested containers are rebuilt rather than changed in place, so a dict that
    the caller passed in (a config, say) keeps its real values.
    """
    secrets = _registry.ordered
    for key in list(event_dict):
        if is_secret_name(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _redact_value(event_dict[key], secrets, 0)
    return event_dict


# --------------------------------------------------------------------------
# Configuration.


class _StderrProxy:
    """Writes to whatever ``sys.stderr`` is *now* (pytest and CliRunner swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        try:
            return sys.stderr.isatty()
        except (AttributeError, ValueError):
            return False


def _resolve_level(level: str) -> int:
    chosen = os.environ.get("RA_LOG_LEVEL", "").strip() or level
    name = chosen.strip().lower()
    if name == "warn":
        name = "warning"
    if name not in LEVELS:
        source = "RA_LOG_LEVEL" if os.environ.get("RA_LOG_LEVEL", "").strip() else "level"
        raise ValueError(f"{source}={chosen!r}: expected one of {', '.join(LEVELS)}")
    return cast(int, getattr(logging, name.upper()))


def _resolve_json(json: bool | None, stream: TextIO) -> bool:
    forced = os.environ.get("RA_LOG_FORMAT", "").strip().lower()
    if forced:
        if forced not in ("json", "console"):
            raise ValueError(f"RA_LOG_FORMAT={forced!r}: expected 'json' or 'console'")
        return forced == "json"
    if json is not None:
        return json
    return not _isatty(stream)


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def configure_logging(
    *,
    level: str = "info",
    stream: TextIO | None = None,
    json: bool | None = None,
) -> None:
    """Configure structlog for the whole process.  Safe to call again.

    Args:
        level: minimum level; ``RA_LOG_LEVEL`` overrides it.
        stream: where lines go; default ``sys.stderr`` (looked up at each write).
        json: ``True`` forces JSON lines, ``False`` the console renderer, ``None``
            picks the console renderer for a TTY and JSON otherwise.
            ``RA_LOG_FORMAT`` overrides it.

    Raises:
        ValueError: unknown level or format.
    """
    import structlog

    out: TextIO = stream if stream is not None else cast(TextIO, _StderrProxy())
    min_level = _resolve_level(level)
    use_json = _resolve_json(json, out)

    renderer: Processor
    if use_json:
        renderer = structlog.processors.JSONRenderer(sort_keys=True)
    else:
        colors = _isatty(out) and "NO_COLOR" not in os.environ
        renderer = structlog.dev.ConsoleRenderer(colors=colors)

    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        redact_secrets,
        renderer,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(min_level),
        context_class=dict,
        logger_factory=structlog.PrintLoggerFactory(file=out),
        # Not cached: a later configure_logging() (or capture_logs() in tests)
        # must reach loggers that were already handed out.
        cache_logger_on_first_use=False,
    )


def get_logger(name: str | None = None, **initial_values: Any) -> FilteringBoundLogger:
    """A bound logger; ``name`` becomes the ``logger_name`` field.

    (``logger_name`` rather than ``logger`` because structlog's own
    ``get_logger`` reserves the ``logger`` keyword; the console renderer shows
    either in the same column.)  The logger is a lazy proxy, so it follows any
    later :func:`configure_logging`, and module-level loggers are fine.

    If nothing configured structlog yet, :func:`configure_logging` runs with its
    defaults first, so that no line ever escapes to stdout or unredacted.
    """
    import structlog

    if not structlog.is_configured():
        configure_logging()
    if name is not None:
        initial_values.setdefault("logger_name", name)
    return cast("FilteringBoundLogger", structlog.get_logger(**initial_values))
