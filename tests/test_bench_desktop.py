"""`python -m bench desktop --recording`: which systems a run compares (`bench.desktop`)."""

from __future__ import annotations

from bench.desktop import with_recording


def test_recording_both_runs_ra_with_and_without_its_recording_beside_the_others() -> None:
    assert with_recording(["ra", "x11vnc"], "both") == ["ra", "ra-rec", "x11vnc"]
    assert with_recording(["ra", "x11vnc"], "on") == ["ra-rec", "x11vnc"]
    assert with_recording(["ra-rec"], "off") == ["ra"]
    assert with_recording(["ra", "ra-rec"], "both") == ["ra", "ra-rec"]  # each once
    assert with_recording(["x11vnc"], "both") == ["x11vnc"]  # ra is not asked for
    assert with_recording(["ra", "x11vnc"], None) == ["ra", "x11vnc"]  # as --systems says
