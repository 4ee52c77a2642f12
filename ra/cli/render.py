"""How the commands show things to people: tables, progress, and times.

* Tables go through rich, which measures text by its width on the screen
  (a CJK character takes two columns, a combining mark none), so columns
  line up whatever the script. Every cell is shown inert (`ra.inert`): a
  name or message came from whoever wrote an invitation or from a peer, and
  is never markup, an escape sequence or a second line. On a pipe the table
  is plain text as wide as its widest row, nothing wrapped or cut, columns two
  spaces apart (`plain_table`, the layout rich gives such a table, measured
  with rich's own cell widths, `rich.cells`, so the rest of rich is not
  loaded); on a terminal rich draws it, bold header, fitted to the terminal.
* Progress goes to stderr, only when stderr is a terminal: a bar with the
  count, the rate and the time left, erased when the work is done. On a
  pipe or a file nothing is written, so scripts read only results.
* One time convention: people read local time with its zone
  (``2026-12-06 17:05 CET``); JSON carries UTC ISO 8601 (`ra.events.model.format_time`).

rich is imported inside the functions that draw (start-up stays small).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from ra.inert import inert

#: The longest a table cell may be (after `inert`); longer text ends with "…".
CELL_LIMIT = 200
Progress = Callable[[int, int | None], None]
_UTC_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]00:?00)")


def local_time(moment: datetime | None, *, seconds: bool = False) -> str:
    """`moment` in local time with its zone, for people: ``2026-12-06 17:05 CET``."""
    if moment is None:
        return "-"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z" if seconds
                                        else "%Y-%m-%d %H:%M %Z")


def local_time_text(text: str) -> str:
    """A UTC ISO 8601 time (as JSON and the log hold it) for people; other text as it is."""
    if not _UTC_ISO.fullmatch(text):
        return text
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    return local_time(moment, seconds=True)


def print_table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """`rows` under `columns` on stdout, aligned by display width, every cell inert."""
    header = [inert(column, CELL_LIMIT) for column in columns]
    body = [["" if cell is None else inert(cell, CELL_LIMIT) for cell in row] for row in rows]
    if not sys.stdout.isatty():
        sys.stdout.write(plain_table(header, body))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, highlight=False, header_style="bold")
    for column in header:
        table.add_column(Text(column), overflow="fold")
    for cells in body:
        table.add_row(*(Text(cell) for cell in cells))
    Console(file=sys.stdout, highlight=False, markup=False, emoji=False).print(table)


def plain_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The table at its natural width, as text: each column as wide as its widest
    cell on screen, two spaces between columns, no trailing spaces."""
    from rich.cells import cell_len

    lines = [header, *rows]
    widths = [max(cell_len(line[i]) for line in lines) for i in range(len(header))]
    return "".join(
        "  ".join(cell + " " * (width - cell_len(cell))
                  for cell, width in zip(line, widths, strict=True)).rstrip() + "\n"
        for line in lines
    )


@contextmanager
def progress(label: str, *, unit: str = "events", show: bool = True) -> Iterator[Progress]:
    """A callback ``(done, total)`` drawing a progress bar on stderr, if it is a terminal.

    `total` None: the amount is not known yet (the bar pulses, no time left).
    Without a terminal (or `show` False) the callback does nothing.
    """
    if not show or not sys.stderr.isatty():
        yield _nothing
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        ProgressColumn,
        Task,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as Bar
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("? " + unit + "/s" if speed is None else f"{speed:,.0f} {unit}/s")

    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
               Rate(), TimeRemainingColumn(), TextColumn("left"))
    # stdout is left alone: results written meanwhile go where they were sent.
    with Bar(*columns, console=Console(file=sys.stderr), transient=True,
             redirect_stdout=False, redirect_stderr=False) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _nothing(done: int, total: int | None) -> None:
    return None


__all__ = ["CELL_LIMIT", "local_time", "local_time_text", "print_table", "progress"]
