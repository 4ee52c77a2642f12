"""A table on a pipe is written without rich's console, in the layout rich gives it
at its natural width: the same text, cell for cell, whatever the script. Real
processes: the table goes to a pipe, as `ra invite list | ...` sends it."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from ra.cli.render import CELL_LIMIT
from ra.inert import inert

COLUMNS = ["ID", "名前", "MESSAGE", "WHEN"]
ROWS: list[list[object]] = [
    ["d9591901", "山田太郎さん", "プリンターが消えました", "2026-12-06 20:33 UTC"],
    ["74f32f4e", "Zoe\u0308 Mu\u0308ller", None, 7],
    ["383086f6", "\x1b[2J\u202eevil", "emoji 😀 and 👩\u200d👩\u200d👧 family", ""],
    ["a", "", "x" * 300, "한국어 text"],
]


def _rich_layout(columns: list[str], rows: list[list[object]]) -> str:
    """The table as rich draws it on a console exactly as wide as the table."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, highlight=False, header_style="bold")
    for column in columns:
        table.add_column(Text(inert(column, CELL_LIMIT)), overflow="fold")
    for row in rows:
        table.add_row(*(Text("" if cell is None else inert(cell, CELL_LIMIT)) for cell in row))
    width = Console(width=1_000_000, file=io.StringIO()).measure(table).maximum
    console = Console(file=io.StringIO(), highlight=False, markup=False, emoji=False,
                      width=width, no_color=True)
    with console.capture() as captured:
        console.print(table)
    return "".join(line.rstrip() + "\n" for line in captured.get().splitlines())


DRAW = """
import json, sys
from ra.cli.render import print_table
columns, rows = json.loads(sys.stdin.read())
print_table(columns, rows)
sys.stderr.write(" ".join(sorted(sys.modules)))
"""


@pytest.mark.parametrize("rows", [ROWS, ROWS[:1], []], ids=["mixed", "one", "none"])
def test_a_table_on_a_pipe_is_richs_layout_without_rich(rows: list[list[object]]) -> None:
    result = subprocess.run([sys.executable, "-c", DRAW], input=json.dumps([COLUMNS, rows]),
                            capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout == _rich_layout(COLUMNS, rows)
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout
    loaded = result.stderr.split()
    assert "rich.console" not in loaded and "rich.table" not in loaded
