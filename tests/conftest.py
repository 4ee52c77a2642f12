"""Shared fixtures: a scratch RA_HOME and a way to run the real `ra` command."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ra.events import EventStore
from ra.home import Home

RunRa = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home.at(tmp_path / "home")


@pytest.fixture
def store(home: Home) -> Iterator[EventStore]:
    with EventStore.open(home) as opened:
        yield opened


@pytest.fixture
def ra(home: Home) -> RunRa:
    """Run `python -m ra ARGS...` in a subprocess with --home set by RA_HOME."""

    def run(
        *args: str,
        input: str | None = None,
        check: bool = False,
        env: dict[str, str] | None = None,
        timeout: float = 60,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, "RA_HOME": str(home.root), "RA_LOG_FORMAT": "json"}
        full_env.update(env or {})
        result = subprocess.run(
            [sys.executable, "-m", "ra", *args],
            input=input, capture_output=True, text=True, env=full_env, timeout=timeout,
            cwd=cwd,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"ra {' '.join(args)} exited {result.returncode}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}"
            )
        return result

    return run



@pytest.fixture
def display() -> Iterator[object]:
    """A fresh Xvfb display (1280x800) for this test."""
    from desktop_support import xvfb

    with xvfb() as started:
        yield started
