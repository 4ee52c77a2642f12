"""Compliance reports: plain SQL over the events table (also readable in audit/reports/)."""

from __future__ import annotations

from ra.errors import InputError
from ra.packaged_sql import read_sql, sql_names


class UnknownReport(InputError):
    """No report has the name asked for."""


def names() -> list[str]:
    return sql_names(__name__)


def sql(name: str) -> str:
    text = read_sql(__name__, name.replace("-", "_"))
    if text is None:
        raise UnknownReport(f"no report {name!r}; the reports are: {', '.join(names())}")
    return text


def description(name: str) -> str:
    """The report's first comment line."""
    for line in sql(name).splitlines():
        if line.startswith("--"):
            return line.lstrip("- ").rstrip(".")
    return ""
