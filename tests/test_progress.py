"""Long work shows progress on a terminal (count, rate, time left) and nothing on a
pipe: `audit verify` (block by block, from every worker), `audit migrate`,
`audit report`. Real processes on a pty (pexpect) and on pipes."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pexpect
import pytest
from support import fill
from test_migrate import build_old_log

from ra.events import EventStore, verify_log
from ra.events import verify as verify_module
from ra.home import Home

#: The bar as drawn: what, how many of how many, the rate, the time left.
BAR = re.compile(r"(verifying|copying|report \S+) .*\d+/(\d+|\?).* (events|rows)/s.* left")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _on_a_terminal(home: Home, *args: str) -> tuple[str, int]:
    child = pexpect.spawn(sys.executable, ["-m", "ra", *args], encoding="utf-8", timeout=60,
                          env={**os.environ, "RA_HOME": str(home.root)}, dimensions=(24, 160))
    child.expect(pexpect.EOF)
    child.close()
    return ANSI.sub("", child.before), int(child.exitstatus or 0)


COMMANDS = [("audit", "verify"), ("audit", "report", "consent-and-control-grants"),
            ("audit", "migrate")]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_progress_on_a_terminal_and_nothing_on_a_pipe(
    ra, home: Home, tmp_path: Path, args: tuple[str, ...]  # type: ignore[no-untyped-def]
) -> None:
    def make_log() -> None:
        if args[-1] == "migrate":
            build_old_log(home, tmp_path)
            # Private, as ra keeps it: the one line that says it tightened a looser
            # file is not progress, and stderr on a pipe must hold nothing.
            for path in home.root.glob("ra.db*"):
                path.chmod(0o600)
        else:
            with EventStore.open(home) as store:
                fill(store, streams=20, per_stream=20)

    make_log()
    shown, code = _on_a_terminal(home, *args)
    assert code == 0, shown
    assert BAR.search(shown), shown
    if args[-1] == "migrate":  # migrated once: start again from an old log for the pipe
        for path in home.root.glob("ra.db*"):
            path.unlink()
        make_log()
    piped = ra(*args)
    assert piped.returncode == 0, piped.stderr
    assert piped.stderr == ""
    assert not BAR.search(piped.stdout) and "\x1b" not in piped.stdout


def test_verify_hears_of_every_block_from_its_workers(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verify_module, "BLOCK", 16)
    monkeypatch.setattr(verify_module, "PARALLEL_MIN", 64)
    with EventStore.open(home) as store:
        fill(store, streams=10, per_stream=20)  # 200 events: 13 blocks
        heard: list[tuple[int, int]] = []
        report = verify_log(store, workers=2, progress=lambda done, total: heard.append(
            (done, total)))
    assert report.ok
    assert len(heard) >= 13, heard  # one report a block, not one a worker
    assert [total for _, total in heard] == [200] * len(heard)
    done = [d for d, _ in heard]
    assert done == sorted(done) and done[-1] == 200
