"""SQL files shipped inside a package (``ra.exports``, ``ra.reports``): the files
are the source of truth, read as they are, by their name without ``.sql``."""

from __future__ import annotations

from importlib import resources


def sql_names(package: str) -> list[str]:
    """The names of the ``.sql`` files in `package`, sorted."""
    return sorted(
        entry.name.removesuffix(".sql")
        for entry in resources.files(package).iterdir()
        if entry.name.endswith(".sql")
    )


def read_sql(package: str, name: str) -> str | None:
    """The text of `package`'s ``<name>.sql``; None when it ships no such file."""
    if name not in sql_names(package):
        return None
    return resources.files(package).joinpath(f"{name}.sql").read_text(encoding="utf-8")
