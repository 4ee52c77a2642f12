"""Compliance exports: plain SQL over the log (also readable in audit/exports/), bundled
with the events each row is read from, a proof that those events are in the log, and
a manifest signed with the log's key, so anyone can check an export without ra's
database (`ra.exports.bundle` writes one, `ra.exports.check` checks one).

The SQL files are the source of truth: the export runs them over the log, and
the check runs the same files over the events a bundle carries and must get
the same rows.
"""

from __future__ import annotations

from ra.errors import InputError
from ra.packaged_sql import read_sql, sql_names

#: What `ra audit export --what` offers, in the order `all` writes them.
KINDS = ("consent", "control", "sessions", "invitations", "auth")


class UnknownExport(InputError):
    """No export has the name asked for."""


def names() -> list[str]:
    return sql_names(__name__)


def sql(name: str) -> str:
    text = read_sql(__name__, name)
    if text is None:
        raise UnknownExport(f"no export {name!r}; the exports are: {', '.join(KINDS)}")
    return text
