// The ra replay page: one WebSocket to `ra audit replay`; see ra/viewer/replay.py.
// Screen updates are decoded by screen.js, the live viewer's decoder; the screen view and
// the socket are the live viewer's too (page.js).
(function () {
  "use strict";

  const raScreen = window.raScreen;
  const raPage = window.raPage;
  const $ = raPage.$;
  const view = raPage.screen("The recorded screen", () => (shown.frame < 0 ? null : cursor));
  const { canvas, ctx, stage, placeholder, note: screenNote } = view;
  const {
    status: statusEl, play: playButton, speed: speedSelect, seek: seekInput, track, clock,
    events: eventList,
  } = raPage.byId("status", "play", "speed", "seek", "track", "clock", "events");
  const FRAME_HEADER = 12; // time f64, length u32
  const CHUNK_HEADER = 8; // index u32, count u32

  let ws = null;
  let info = null; // the server's "replay" message
  let t0 = 0;
  let duration = 0;
  let position = 0; // seconds from t0
  let playing = false;
  let speed = 1;
  let lastTick = 0;
  const chunks = new Map(); // index -> {frames: [{t, buffer}]} or {bad: reason}, oldest use first
  // Chunks of pictures held at once (each starts with a full frame, so one is enough to
  // draw from): a long replay scrubbed end to end must not hold the whole recording.
  const HELD_CHUNKS = 2;
  const waiting = new Map(); // index -> [resolve, ...]
  let shown = { chunk: -1, frame: -1 }; // what the canvas holds
  let wanted = null; // the position to render next
  let busy = false;
  let idle = []; // resolved when rendering has caught up
  let cursor = null;
  let currentEvent = -1;
  let eventItems = [];

  function send(message) {
    raPage.send(ws, message);
  }

  function setStatus(state, text) {
    statusEl.dataset.state = state;
    statusEl.textContent = text;
  }

  function formatTime(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const m = Math.floor(s / 60);
    return m + ":" + String(s % 60).padStart(2, "0");
  }

  // -- the picture ---------------------------------------------------------------------

  function clearScreen() {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  }

  async function draw(buffer) {
    const update = raScreen.parseUpdate(buffer);
    const decoded = await raScreen.decodeTiles(update);
    view.resize(update.width, update.height);
    raScreen.paint(ctx, update, decoded, (tile, error) => {
      console.warn("ra replay: tile skipped:", error && error.message ? error.message : error);
    });
    cursor = { x: update.cursorX, y: update.cursorY };
    canvas.dataset.seq = String(update.seq);
  }

  function showBad(index, reason) {
    stage.classList.add("bad");
    setStatus("bad", "Bad chunk");
    screenNote.textContent = "Chunk " + index + " failed its check and is not shown: " + reason;
    screenNote.hidden = false;
    placeholder.textContent = "This part of the recording failed its check: not shown";
    placeholder.classList.remove("hidden");
    canvas.dataset.bad = String(index);
  }

  function hideBad() {
    stage.classList.remove("bad");
    screenNote.hidden = true;
    delete canvas.dataset.bad;
    if (statusEl.dataset.state === "bad") setStatus(playing ? "playing" : "paused",
      playing ? "Playing" : "Paused");
  }

  // -- chunks --------------------------------------------------------------------------

  function load(index) {
    const have = chunks.get(index);
    if (have) {
      remember(index, have);
      return Promise.resolve(have);
    }
    return new Promise((resolve) => {
      const list = waiting.get(index);
      if (list) {
        list.push(resolve);
      } else {
        waiting.set(index, [resolve]);
        send({ type: "chunk", index: index });
      }
    });
  }

  // Keep `data` as the chunk used last; let go of the pictures of the least recently used
  // chunks beyond HELD_CHUNKS (a bad chunk's verdict is kept: it is small).
  function remember(index, data) {
    chunks.delete(index);
    chunks.set(index, data);
    const held = [...chunks].filter(([, value]) => value.frames);
    for (const [key] of held.slice(0, Math.max(0, held.length - HELD_CHUNKS))) {
      chunks.delete(key);
    }
  }

  function heldChunks() {
    return [...chunks].filter(([, value]) => value.frames).map(([key]) => key);
  }

  function loaded(index, data) {
    remember(index, data);
    const list = waiting.get(index) || [];
    waiting.delete(index);
    for (const resolve of list) resolve(data);
  }

  function parseChunk(buffer) {
    const view = new DataView(buffer);
    if (buffer.byteLength < CHUNK_HEADER) throw new Error("short chunk");
    const index = view.getUint32(0);
    const count = view.getUint32(4);
    const frames = [];
    let offset = CHUNK_HEADER;
    for (let i = 0; i < count; i++) {
      if (offset + FRAME_HEADER > buffer.byteLength) throw new Error("truncated chunk");
      const t = view.getFloat64(offset);
      const length = view.getUint32(offset + 8);
      offset += FRAME_HEADER;
      if (offset + length > buffer.byteLength) throw new Error("truncated frame");
      frames.push({ t: t, buffer: buffer.slice(offset, offset + length) });
      offset += length;
    }
    return { index: index, frames: frames };
  }

  // The chunk that holds absolute time `t`: the last one that starts at or before it.
  function chunkAt(t) {
    let found = -1;
    for (const chunk of info.chunks) {
      if (chunk.start !== null && chunk.start <= t + 1e-6) found = chunk.index;
    }
    return found;
  }

  function markBad(index, reason) {
    const chunk = info.chunks[index];
    if (!chunk || chunk.markedBad) return;
    chunk.markedBad = reason || "failed its check";
    const next = info.chunks[index + 1];
    const start = chunk.start !== null ? chunk.start : t0;
    const end = next && next.start !== null ? next.start : (chunk.end || start);
    const bar = document.createElement("div");
    bar.className = "bad";
    bar.title = "chunk " + index + ": " + chunk.markedBad;
    bar.style.left = percent(start - t0) + "%";
    bar.style.width = Math.max(0.3, percent(end - start)) + "%";
    track.appendChild(bar);
  }

  // -- rendering at a position ---------------------------------------------------------

  async function renderAt(pos) {
    const t = t0 + pos;
    const index = chunkAt(t);
    if (index < 0) {
      clearScreen();
      shown = { chunk: -1, frame: -1 };
      placeholder.textContent = info.no_screen ? "No screen: " + info.no_screen
        : "No picture yet";
      placeholder.classList.remove("hidden");
      hideBad();
      return;
    }
    const data = await load(index);
    if (data.bad) {
      clearScreen();
      shown = { chunk: index, frame: -1 };
      showBad(index, data.bad);
      return;
    }
    hideBad();
    const frames = data.frames;
    let last = 0;
    while (last + 1 < frames.length && frames[last + 1].t <= t + 1e-6) last += 1;
    let from = 0;
    if (shown.chunk === index && shown.frame >= 0 && shown.frame <= last) {
      from = shown.frame + 1;
    } else {
      clearScreen();
    }
    for (let i = from; i <= last; i++) {
      await draw(frames[i].buffer);
      shown = { chunk: index, frame: i };
    }
    placeholder.classList.add("hidden");
    view.placeCursor();
  }

  function schedule(pos) {
    wanted = pos;
    if (!busy) pump();
  }

  async function pump() {
    busy = true;
    while (wanted !== null) {
      const pos = wanted;
      wanted = null;
      try {
        await renderAt(pos);
      } catch (error) {
        console.warn("ra replay:", error);
      }
    }
    busy = false;
    const done = idle;
    idle = [];
    for (const resolve of done) resolve();
  }

  function settled() {
    if (!busy && wanted === null) return Promise.resolve();
    return new Promise((resolve) => idle.push(resolve));
  }

  // -- the timeline and the event list -------------------------------------------------

  function percent(seconds) {
    return duration > 0 ? Math.min(100, Math.max(0, seconds / duration * 100)) : 0;
  }

  function buildTimeline() {
    for (const event of info.events) {
      if (!event.mark) continue;
      const mark = document.createElement("div");
      mark.className = "mark " + event.mark;
      mark.title = event.text;
      mark.style.left = percent(event.t - t0) + "%";
      track.appendChild(mark);
    }
    for (const chunk of info.chunks) {
      if (chunk.bad) markBad(chunk.index, chunk.bad);
    }
  }

  function buildEvents() {
    eventItems = info.events.map((event) => {
      const item = document.createElement("li");
      const at = document.createElement("span");
      at.className = "at";
      at.textContent = formatTime(event.t - t0);
      item.appendChild(at);
      item.appendChild(document.createTextNode(event.text + " — " + event.who));
      item.dataset.type = event.type;
      item.addEventListener("click", () => seekTo(event.t - t0));
      eventList.appendChild(item);
      return item;
    });
  }

  function follow() {
    const t = t0 + position;
    let current = -1;
    info.events.forEach((event, i) => {
      const past = event.t <= t + 1e-6;
      eventItems[i].classList.toggle("past", past);
      if (past) current = i;
    });
    if (current !== currentEvent) {
      if (currentEvent >= 0) eventItems[currentEvent].classList.remove("current");
      currentEvent = current;
      if (current >= 0) {
        eventItems[current].classList.add("current");
        eventItems[current].scrollIntoView({ block: "nearest" });
      }
      eventList.dataset.current = current >= 0 ? info.events[current].type : "";
    }
    seekInput.value = String(position);
    clock.textContent = formatTime(position) + " / " + formatTime(duration);
  }

  function seekTo(pos) {
    position = Math.min(duration, Math.max(0, pos));
    lastTick = performance.now();
    schedule(position);
    follow();
  }

  // -- playing -------------------------------------------------------------------------

  function setPlaying(on) {
    playing = on && position < duration;
    playButton.textContent = playing ? "Pause" : "Play";
    if (statusEl.dataset.state !== "bad") setStatus(playing ? "playing" : "paused",
      playing ? "Playing" : "Paused");
    lastTick = performance.now();
    if (playing) requestAnimationFrame(tick);
  }

  function tick(now) {
    if (!playing) return;
    position = Math.min(duration, position + (now - lastTick) / 1000 * speed);
    lastTick = now;
    schedule(position);
    follow();
    if (position >= duration) {
      setPlaying(false);
      return;
    }
    requestAnimationFrame(tick);
  }

  playButton.addEventListener("click", () => {
    if (!playing && position >= duration) seekTo(0);
    setPlaying(!playing);
  });
  speedSelect.addEventListener("change", () => {
    const value = Number(speedSelect.value);
    if (value > 0) speed = value;
  });
  seekInput.addEventListener("input", () => seekTo(Number(seekInput.value)));

  // -- the connection ------------------------------------------------------------------

  function start(message) {
    info = message;
    t0 = Number(message.start) || 0;
    duration = Math.max(0, (Number(message.end) || t0) - t0);
    $("session").textContent = String(message.session || "");
    $("message").textContent = message.no_screen ? "No screen: " + message.no_screen
      : message.chunks.length + " chunks of recorded screen";
    seekInput.max = String(duration);
    seekInput.disabled = false;
    playButton.disabled = false;
    buildTimeline();
    buildEvents();
    setStatus("paused", "Paused");
    seekTo(0);
    window.raReplay.ready = true;
  }

  function handleJson(message) {
    if (message.type === "replay" && info === null) {
      start(message);
    } else if (message.type === "chunk.bad" && info !== null) {
      const reason = String(message.reason || "failed its check");
      markBad(message.index | 0, reason);
      loaded(message.index | 0, { bad: reason });
    } else if (message.type === "chunk.status" && info !== null && !message.ok) {
      markBad(message.index | 0, String(message.reason || "failed its check"));
    }
  }

  // For tests and scripts: seek and wait until the picture is there.
  window.raReplay = {
    ready: false,
    start: () => t0,
    duration: () => duration,
    seek: async (pos) => {
      seekTo(pos);
      await settled();
      return { seq: Number(canvas.dataset.seq || -1), chunk: shown.chunk, frame: shown.frame,
        bad: canvas.dataset.bad !== undefined, current: eventList.dataset.current || "" };
    },
    play: () => setPlaying(true),
    pause: () => setPlaying(false),
    setSpeed: (value) => { speed = value; },
    position: () => position,
    held: () => heldChunks(),
  };

  function connect() {
    ws = raPage.socket(handleJson, (buffer) => {
      try {
        const chunk = parseChunk(buffer);
        loaded(chunk.index, { frames: chunk.frames });
      } catch (error) {
        console.warn("ra replay:", error);
      }
    });
    if (!ws) {
      setStatus("bad", "This is not a replay link");
      return;
    }
    ws.addEventListener("close", () => {
      if (info === null) setStatus("bad", "Not connected: this link was already used");
    });
  }

  view.fit();
  connect();
})();
