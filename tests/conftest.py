"""Shared fixtures: a scratch RA_HOME and a way to run the real `ra` command."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from schema_support import EventSchemas, LogWatch

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


# -- every event the suite writes matches audit/schema/ -------------------------------

#: Test modules that write events by hand to test the log itself (made-up types and
#: payloads, bodies edited or damaged on purpose): what they append is not checked.
#: Every other test's events, product-made, must match the schema of their type.
HANDMADE = {
    # the store, the tree and verification, on made-up events, edited and damaged
    "test_append_frontier.py", "test_concurrency.py", "test_crash.py",
    "test_damaged_home.py", "test_migrate.py", "test_progress.py", "test_read_only.py",
    "test_receipts.py", "test_spans.py", "test_store.py", "test_tables.py", "test_tamper.py",
    "test_verify_parallel.py",
    # the CLI over a log filled by `support.fill`
    "test_cli.py::test_log_jsonl_is_one_object_a_line_and_json_one_document",
    # an invitation known only by its name (the story's fallback), written by hand
    "test_story.py::test_the_person_is_named_by_the_invitation_when_no_event_names_them",
    "test_cli.py::test_prove_and_check_a_proof_offline",
    "test_cli.py::test_compliance_reports_export_as_json_and_csv",
    "test_home_modes.py::test_the_database_and_its_wal_and_shm_are_0600_under_umask_000",
    # an actor's key and earlier sessions, stored by hand
    "test_helper_name.py::test_an_actors_key_is_stored_and_read_back",
    "test_helper_name.py::test_seen_before_reads_earlier_sessions_from_the_log",
    # the watch itself, shown bad events
    "test_event_schemas.py::test_the_watch_checks_what_each_test_appends",
}


def _handmade(node: pytest.Item) -> bool:
    test = node.name.split("[")[0]
    return node.path.name in HANDMADE or f"{node.path.name}::{test}" in HANDMADE


@pytest.fixture(scope="session")
def log_watch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LogWatch]:
    """Every ra.db under this run's temporary folders, checked after each test."""
    watch = LogWatch(tmp_path_factory.getbasetemp(), EventSchemas())
    yield watch
    problems = watch.new_problems()
    if problems:
        pytest.fail("events that do not match audit/schema/ (written after the last test):\n"
                    + "\n".join(problems[:20]), pytrace=False)


@pytest.fixture(autouse=True)
def events_match_their_schemas(request: pytest.FixtureRequest,
                               log_watch: LogWatch) -> Iterator[None]:
    """After each test: the events it appended match their type's schema."""
    yield
    problems = log_watch.new_problems(skip=_handmade(request.node))
    if problems:
        pytest.fail("events that do not match audit/schema/:\n" + "\n".join(problems[:20])
                    + ("\n..." if len(problems) > 20 else ""), pytrace=False)
