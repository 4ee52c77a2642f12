"""The recorded screen: a real session recorded, verified, replayed and exported.

One real session (module fixture): Xvfb with an xterm for the person, `ra
ask` in a pty, `ra connect`, the live viewer in headless Chromium; the
helper types into the xterm and the person takes control back with Esc. At
three moments (viewing, in control after typing, after Esc) the live
viewer's canvas is kept with the sequence number of the update it shows.
The tests then check the recording that session left on the person's disk.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pexpect
import pytest
from desktop_support import Display, xterm, xvfb
from playwright.sync_api import Page, sync_playwright
from support import stop
from test_desktop_e2e import (
    SCREEN_TOLERANCE,
    T,
    _disconnect,
    _env,
    _grab,
    _invite,
    _launch,
    _start_pair,
    _take_control,
    _wait_file,
    _wait_state,
)

from ra.desktop.codec import peek_seq
from ra.events import EventStore
from ra.home import Home
from ra.recording.chunks import MAGIC
from ra.recording.store import SessionRecording, load_recording
from ra.session_keys import SessionKeys

#: Reads the canvas and the seq of the update it shows, in one go.
SNAPSHOT_JS = """() => {
    const c = document.getElementById('screen');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let text = '';
    for (let i = 0; i < d.length; i += 8192) {
        text += String.fromCharCode.apply(null, d.subarray(i, i + 8192));
    }
    return [Number(c.dataset.seq || -1), c.width, c.height, btoa(text)];
}"""


@dataclass
class Snapshot:
    name: str
    seq: int
    rgb: np.ndarray


@dataclass
class Recorded:
    person_home: Path
    session_id: str
    snapshots: list[Snapshot] = field(default_factory=list)
    view_question: str = ""


def _snapshot(page: Page, name: str) -> Snapshot:
    seq, width, height, data = page.evaluate(SNAPSHOT_JS)
    pixels = np.frombuffer(base64.b64decode(data), dtype=np.uint8).reshape(height, width, 4)
    return Snapshot(name, int(seq), pixels[:, :, :3].astype(np.int16))


def _settled_snapshot(page: Page, display: Display, name: str) -> Snapshot:
    """The live canvas once it shows the real screen (within the codec's tolerance)."""
    deadline = time.monotonic() + T
    while True:
        shot = _snapshot(page, name)
        real = _grab(display)
        if shot.rgb.shape == real.shape and float(np.abs(shot.rgb - real).mean()) < \
                SCREEN_TOLERANCE:
            return shot
        if time.monotonic() > deadline:
            raise AssertionError(f"the live canvas never matched the screen ({name})")
        time.sleep(0.2)


def _write_config(home: Path, text: str) -> None:
    (home / "config.toml").write_text(text)


def _session_id(home: Path) -> str:
    with EventStore.open(Home.at(home)) as store:
        streams = {e.stream for e in store.iter_events(stream_prefix="session:")}
    assert len(streams) == 1, streams
    return streams.pop().split(":", 1)[1]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    tmp_path = tmp_path_factory.mktemp("recorded")
    person_home, helper_home = tmp_path / "person", tmp_path / "helper"
    work = tmp_path / "work"
    work.mkdir()
    file = tmp_path / "help.rainv"
    children: list[pexpect.spawn] = []
    with xvfb(1280, 800) as person_display, xvfb(1024, 768) as helper_display:
        _invite(person_home, person_display, file)
        _write_config(person_home, "[recording]\nchunk_seconds = 1\n")
        with xterm(person_display, "-e", "bash", "--norc", "--noprofile", cwd=work), \
                sync_playwright() as playwright:
            subprocess.run(["xdotool", "mousemove", "200", "200"], env=person_display.env(),
                           check=True)
            try:
                person, helper, url = _start_pair(person_home, person_display, helper_home,
                                                  helper_display, file, children)
                browser = _launch(playwright, helper_display)
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.goto(url)
                page.wait_for_url(re.compile(r"http://127\.0\.0\.1:\d+/v/"))
                person.expect("asks to see your screen")
                person.expect("Answer y")
                question = str(person.before)
                person.sendline("y")
                _wait_state(page, "viewing")
                snapshots = [_settled_snapshot(page, person_display, "start")]

                box = _take_control(page, person)
                page.mouse.click(box["x"] + box["width"] * 0.30,
                                 box["y"] + box["height"] * 0.25)
                page.keyboard.type("echo recorded > typed.txt")
                page.keyboard.press("Enter")
                assert _wait_file(work / "typed.txt").strip() == "recorded"
                snapshots.append(_settled_snapshot(page, person_display, "in control"))

                subprocess.run(["xdotool", "key", "Escape"], env=person_display.env(),
                               check=True)
                _wait_state(page, "released")
                time.sleep(1.2)  # a chunk boundary between the moments kept
                snapshots.append(_settled_snapshot(page, person_display, "after esc"))
                page.fill("#chat-input", "all done")
                page.click("#chat-send")
                person.expect("all done")
                _disconnect(page, person, helper)
                browser.close()
            finally:
                stop(children)
    yield Recorded(person_home, _session_id(person_home), snapshots, question)


def _ra(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ra", *args], capture_output=True, text=True,
                          timeout=timeout,
                          env={**os.environ, "RA_HOME": str(home), "RA_LOG_LEVEL": "warning"})


def _load(home: Path, session_id: str) -> SessionRecording:
    with EventStore.open(Home.at(home)) as store:
        return load_recording(Home.at(home), store, session_id)


def _frame_times(recording: SessionRecording) -> dict[int, tuple[float, int]]:
    """seq -> (time sent, chunk index) for every recorded update."""
    times = {}
    for entry in recording.chunks:
        for moment, data in recording.frames(entry):
            times[peek_seq(data)] = (moment, entry.info.index if entry.info else -1)
    return times


def _copy_home(recorded: Recorded, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(recorded.person_home, copy, symlinks=True)
    return copy


# -- the recording on disk ---------------------------------------------------------------


def test_the_session_is_recorded_in_encrypted_chunks_the_log_vouches_for(
        recorded: Recorded) -> None:
    assert "This session is recorded on this computer." in recorded.view_question
    recording = _load(recorded.person_home, recorded.session_id)
    assert recording.recording == "screen"
    assert len(recording.chunks) >= 3
    folder = recorded.person_home / "recordings" / recorded.session_id
    files = sorted(folder.iterdir())
    assert [f.name for f in files] == [f"{i:06d}.chunk" for i in range(len(recording.chunks))]
    for path, entry in zip(files, recording.chunks, strict=True):
        data = path.read_bytes()
        assert data.startswith(MAGIC)
        # No plaintext: no 32-byte stretch of any update it holds is in the file.
        # (A short marker such as JPEG's FF D8 FF turns up in ciphertext by chance.)
        for _, update in recording.frames(entry):
            for start in range(0, max(1, len(update) - 32), 4096):
                assert update[start:start + 32] not in data, f"{path.name} holds plaintext"
        assert path.stat().st_mode & 0o777 == 0o600
    # Every chunk starts with a keyframe, so a replay can start at any of them.
    total = 0
    for entry in recording.chunks:
        frames = recording.frames(entry)
        assert frames[0][1][1] & 0x01, f"chunk {entry.info} does not start with a keyframe"
        total += len(frames)
    times = _frame_times(recording)
    for shot in recorded.snapshots:
        assert shot.seq in times, f"the update shown live at {shot.name} was not recorded"
    assert total == len(times)
    # The chunk events come before the receipt, which covers them.
    with EventStore.open(Home.at(recorded.person_home)) as store:
        types = [e.type for e in store.iter_events(stream=f"session:{recorded.session_id}")]
    assert types[-1] == "session.receipt"
    assert types.index("session.disconnected") < len(types) - 1
    result = _ra(recorded.person_home, "audit", "verify", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "log intact" in result.stdout


@pytest.mark.parametrize("how", ["edited", "dropped", "swapped"])
def test_a_tampered_chunk_is_caught_by_verify(recorded: Recorded, tmp_path: Path,
                                              how: str) -> None:
    home = _copy_home(recorded, tmp_path)
    folder = home / "recordings" / recorded.session_id
    one, two = folder / "000001.chunk", folder / "000002.chunk"
    if how == "edited":
        data = bytearray(one.read_bytes())
        data[len(data) // 2] ^= 0x01
        one.write_bytes(bytes(data))
    elif how == "dropped":
        one.unlink()
    else:
        a, b = one.read_bytes(), two.read_bytes()
        one.write_bytes(b)
        two.write_bytes(a)
    result = _ra(home, "audit", "verify", "--json", "--quiet")
    assert result.returncode == 1, result.stdout
    report = json.loads(result.stdout)
    recording = _load(home, recorded.session_id)
    seqs = {entry.info.index: entry.seq for entry in recording.chunks if entry.info}
    places = {p["position"] for p in report["problems"]}
    assert seqs[1] in places
    if how == "swapped":
        assert seqs[2] in places
    text = " ".join(p["what"] for p in report["problems"])
    assert "chunk 1" in text
    assert {"edited": "SHA-256", "dropped": "missing", "swapped": "chunk 2"}[how] in text


# -- the replay page -----------------------------------------------------------------------


def _open_replay(home: Path, session_id: str, children: list[pexpect.spawn]) -> str:
    replay = pexpect.spawn(sys.executable, ["-m", "ra", "audit", "replay", session_id,
                                            "--screen", "--no-browser"],
                           env={**os.environ, "RA_HOME": str(home), "RA_LOG_LEVEL": "warning"},
                           encoding="utf-8", timeout=T, dimensions=(50, 300))
    children.append(replay)
    replay.expect(r"replay: open (file://\S+) in your browser")
    return str(replay.match.group(1)).strip()


def _replay_page(playwright: Any, url: str) -> Page:
    browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                         args=["--no-sandbox", "--disable-gpu"])
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.goto(url)
    page.wait_for_url(re.compile(r"http://127\.0\.0\.1:\d+/v/"))
    page.wait_for_function("() => window.raReplay && window.raReplay.ready", timeout=T * 1000)
    return page


def test_the_replay_shows_what_the_live_viewer_showed_and_seeks_to_the_frame(
        recorded: Recorded) -> None:
    recording = _load(recorded.person_home, recorded.session_id)
    times = _frame_times(recording)
    children: list[pexpect.spawn] = []
    try:
        url = _open_replay(recorded.person_home, recorded.session_id, children)
        assert "/v/" not in url  # the token is never printed
        with sync_playwright() as playwright:
            page = _replay_page(playwright, url)
            start = float(page.evaluate("window.raReplay.start()"))
            # Forwards through the session, then back to the start across chunks.
            for shot in [*recorded.snapshots, recorded.snapshots[0]]:
                moment, chunk = times[shot.seq]
                landed = page.evaluate("(p) => window.raReplay.seek(p)", moment - start)
                assert landed["seq"] == shot.seq, (shot.name, landed)
                assert landed["chunk"] == chunk and not landed["bad"]
                replayed = _snapshot(page, shot.name)
                error = float(np.abs(replayed.rgb - shot.rgb).mean())
                print(f"replay vs live at {shot.name}: mean abs error {error:.3f}")
                assert error < SCREEN_TOLERANCE, (shot.name, error)
            # The event list follows the playhead.
            after_esc = times[recorded.snapshots[2].seq][0]
            landed = page.evaluate("(p) => window.raReplay.seek(p)", after_esc - start)
            assert landed["current"] == "control.released"
            marks = page.evaluate(
                "() => Array.from(document.querySelectorAll('#track .mark'))"
                ".map(m => m.className)")
            for kind in ("consent", "control", "release", "chat", "end"):
                assert f"mark {kind}" in marks, marks
            # Playing moves the playhead and the picture.
            page.evaluate("(p) => window.raReplay.seek(p)", 0)
            page.evaluate("() => { window.raReplay.setSpeed(8); window.raReplay.play(); }")
            page.wait_for_function("() => window.raReplay.position() > 2", timeout=T * 1000)
    finally:
        stop(children)


def test_the_replay_holds_a_few_chunks_however_far_it_is_scrubbed(recorded: Recorded) -> None:
    """Scrubbing end to end and back keeps at most two chunks of pictures in the page (a
    30-minute recording once filled a gigabyte); a chunk let go is fetched, checked and
    drawn again when it is needed."""
    recording = _load(recorded.person_home, recorded.session_id)
    starts = [(entry.info.index, entry.info.start) for entry in recording.chunks
              if entry.info is not None and entry.info.frames]
    assert len(starts) >= 3, "the session must span more chunks than the page holds"
    children: list[pexpect.spawn] = []
    try:
        url = _open_replay(recorded.person_home, recorded.session_id, children)
        with sync_playwright() as playwright:
            page = _replay_page(playwright, url)
            start = float(page.evaluate("window.raReplay.start()"))
            first = None
            for index, moment in starts:
                landed = page.evaluate("(p) => window.raReplay.seek(p)", moment - start)
                assert landed["chunk"] == index and not landed["bad"], landed
                first = first or landed
                held = page.evaluate("() => window.raReplay.held()")
                assert index in held and len(held) <= 2, (index, held)
            again = page.evaluate("(p) => window.raReplay.seek(p)", starts[0][1] - start)
            assert first is not None and again["seq"] == first["seq"] and not again["bad"]
            assert starts[0][0] in page.evaluate("() => window.raReplay.held()")
    finally:
        stop(children)


def test_a_bad_chunk_is_shown_as_bad_in_the_replay_never_played(
        recorded: Recorded, tmp_path: Path) -> None:
    home = _copy_home(recorded, tmp_path)
    recording = _load(home, recorded.session_id)
    folder = home / "recordings" / recorded.session_id
    data = bytearray((folder / "000001.chunk").read_bytes())
    data[-1] ^= 0x01
    (folder / "000001.chunk").write_bytes(bytes(data))
    info = recording.chunks[1].info
    assert info is not None
    children: list[pexpect.spawn] = []
    try:
        url = _open_replay(home, recorded.session_id, children)
        with sync_playwright() as playwright:
            page = _replay_page(playwright, url)
            start = float(page.evaluate("window.raReplay.start()"))
            landed = page.evaluate("(p) => window.raReplay.seek(p)",
                                   (info.start + info.end) / 2 - start)
            assert landed["bad"] and landed["chunk"] == 1 and landed["frame"] == -1
            note = page.inner_text("#screen-note")
            assert "Chunk 1 failed its check" in note and "SHA-256" in note
            page.wait_for_function(
                "() => document.querySelectorAll('#track .bad').length === 1",
                timeout=T * 1000)
            # Nothing of it was drawn: the canvas is cleared.
            shot = _snapshot(page, "bad")
            assert int(shot.rgb.max()) == 0
            # The chunks around it still play.
            good = recording.chunks[2].info
            assert good is not None
            landed = page.evaluate("(p) => window.raReplay.seek(p)", good.start - start)
            assert not landed["bad"] and landed["chunk"] == 2
    finally:
        stop(children)


def test_a_forgotten_session_key_leaves_a_recording_that_verifies_but_cannot_play(
        recorded: Recorded, tmp_path: Path) -> None:
    home = _copy_home(recorded, tmp_path)
    assert SessionKeys(Home.at(home)).destroy(recorded.session_id)
    assert _ra(home, "audit", "verify", "--quiet").returncode == 0
    recording = _load(home, recorded.session_id)
    with pytest.raises(ValueError, match="no key is kept"):
        recording.frames(recording.chunks[0])


# -- the video -------------------------------------------------------------------------------


def test_the_exported_video_has_every_frame_and_looks_like_the_live_viewer(
        recorded: Recorded, tmp_path: Path) -> None:
    import av

    out = tmp_path / "session.mp4"
    result = _ra(recorded.person_home, "audit", "replay", recorded.session_id,
                 "--video", str(out))
    assert result.returncode == 0, result.stderr
    recording = _load(recorded.person_home, recorded.session_id)
    times = _frame_times(recording)
    start = min([e.occurred_at.timestamp() for e in recording.events]
                + [c.info.start for c in recording.chunks if c.info])
    with av.open(str(out)) as container:
        chapters = [c["metadata"].get("title", "") for c in container.chapters()]
        frames = {}
        for frame in container.decode(video=0):
            frames[int(frame.pts)] = frame.to_ndarray(format="rgb24").astype(np.int16)
    assert len(frames) == len(times)
    assert any("control released by person via esc" in c for c in chapters), chapters
    for shot in recorded.snapshots:
        pts = int(round((times[shot.seq][0] - start) * 1000))
        nearest = min(frames, key=lambda p: abs(p - pts))
        error = float(np.abs(frames[nearest] - shot.rgb).mean())
        print(f"video vs live at {shot.name}: mean abs error {error:.3f}")
        assert error < 6.0, (shot.name, error)


# -- recording off -----------------------------------------------------------------------------


def test_a_session_with_recording_off_records_the_choice_and_has_no_screen(
        tmp_path: Path) -> None:
    person_home, helper_home = tmp_path / "person", tmp_path / "helper"
    file = tmp_path / "help.rainv"
    children: list[pexpect.spawn] = []
    with xvfb(640, 480) as person_display, xvfb(640, 480) as helper_display:
        _invite(person_home, person_display, file)
        _write_config(person_home, "[recording]\nscreen = false\n")
        try:
            person, helper, _url = _start_pair(person_home, person_display, helper_home,
                                               helper_display, file, children)
            person.expect("asks to see your screen")
            person.expect("Answer y")
            assert "recorded" not in str(person.before)
            person.sendline("y")
            person.expect("can now see your screen")
            person.sendline("/disconnect")
            person.expect(pexpect.EOF)
            helper.expect(pexpect.EOF)
        finally:
            stop(children)
        env = _env(person_home, person_display)
    session_id = _session_id(person_home)
    recording = _load(person_home, session_id)
    assert recording.recording == "off" and not recording.chunks
    assert not (person_home / "recordings").exists()
    assert not SessionKeys(Home.at(person_home)).has(session_id)
    for args in (["--screen"], ["--video", str(tmp_path / "none.mp4")]):
        result = subprocess.run(
            [sys.executable, "-m", "ra", "audit", "replay", session_id[:8], *args],
            capture_output=True, text=True, timeout=60, env={**os.environ, **env})
        assert result.returncode == 0, result.stderr
        assert "recording was off for this session" in result.stdout
    assert not (tmp_path / "none.mp4").exists()


def test_the_replay_server_starts_without_the_live_screen_codec() -> None:
    """`ra audit replay --screen` sends the recorded bytes as they are: the codec (numpy,
    JPEG) that the live viewer checks updates with stays unloaded, for a quick first frame."""
    code = ("import sys, ra.cli.replay_screen, ra.viewer.replay\n"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith(('ra.desktop', "
            "'numpy', 'simplejpeg')))))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.split() == []
