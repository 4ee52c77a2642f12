"""Compliance reports: plain SQL over the events table (also readable in audit/reports/)."""

from __future__ import annotations

from importlib import resources

from ra.errors import RaError


class UnknownReport(RaError):
    exit_code = 2


def names() -> list[str]:
    return sorted(
        entry.name.removesuffix(".sql")
        for entry in resources.files(__package__).iterdir()
        if entry.name.endswith(".sql")
    )


def sql(name: str) -> str:
    known = names()
    key = name.replace("-", "_")
    if key not in known:
        raise UnknownReport(f"no report {name!r}; the reports are: {', '.join(known)}")
    return resources.files(__package__).joinpath(f"{key}.sql").read_text()


def description(name: str) -> str:
    """The report's first comment line."""
    for line in sql(name).splitlines():
        if line.startswith("--"):
            return line.lstrip("- ").rstrip(".")
    return ""
