"""ra is a pure Python wheel, and installing it on Linux needs no C compiler.

The wheel is built from this tree with ``CC=false`` (any compile would fail),
and pip then resolves everything it needs from PyPI as wheels only: a
dependency served only as source (evdev, which pynput pulls in on Linux)
would have to be compiled, and the resolution fails if one is asked for.
Both steps reach PyPI; without it the test is skipped and says why.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NO_COMPILER = {**os.environ, "CC": "false", "CXX": "false", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
    except OSError:
        return False
    return True


def _pip(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "pip", *args], cwd=cwd, env=NO_COMPILER,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done


@pytest.mark.skipif(sys.platform != "linux", reason="the source-only dependency is Linux's")
def test_ra_builds_as_a_pure_python_wheel_that_installs_without_a_compiler(
        tmp_path: Path) -> None:
    if not _pypi_reachable():
        pytest.skip("PyPI cannot be reached: the build and the resolution need it")
    source = tmp_path / "source"  # a copy, so the build leaves nothing in the tree
    shutil.copytree(ROOT / "ra", source / "ra",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    _pip("wheel", ".", "--no-deps", "-q", "-w", str(tmp_path / "dist"), cwd=source)

    [wheel] = (tmp_path / "dist").iterdir()
    assert wheel.name.endswith("-py3-none-any.whl"), wheel.name
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(archive.read(n).decode() for n in names if n.endswith("/METADATA"))
    assert not [n for n in names if n.endswith((".so", ".pyd", ".c", ".pyx"))]
    # the SQL and the page it serves travel with it
    assert "ra/exports/shared.sql" in names and "ra/reports/" in " ".join(names)
    assert any(n.startswith("ra/viewer/static/") for n in names)
    # pynput is for the other desktops (and the tests): never required on Linux
    pynput = [line for line in metadata.splitlines()
              if line.startswith("Requires-Dist: pynput") and "extra ==" not in line]
    assert pynput == ['Requires-Dist: pynput>=1.7; sys_platform != "linux"'], pynput

    report = tmp_path / "report.json"
    _pip("install", "--dry-run", "--ignore-installed", "--only-binary", ":all:", "-q",
         "--report", str(report), str(wheel), cwd=tmp_path)
    installs = json.loads(report.read_text())["install"]
    resolved = {item["metadata"]["name"].lower() for item in installs}
    assert {"ra", "cryptography", "mss", "python-xlib", "typer"} <= resolved, resolved
    assert not resolved & {"evdev", "pynput"}, resolved
