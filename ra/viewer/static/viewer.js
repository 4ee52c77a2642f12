// The ra viewer page: one WebSocket to the local ra process; see docs/viewer.md.
(function () {
  "use strict";

  const LABELS = {
    connecting: "Connecting…",
    authenticated: "Waiting for consent…",
    awaiting_view_consent: "Waiting for consent…",
    viewing: "Viewing",
    control_requested: "Control requested…",
    awaiting_control_consent: "Control requested…",
    controlling: "In control",
    released: "Released: viewing",
    chat_only: "No screen: chat only",
    disconnected: "Disconnected",
  };
  // Screen updates: ra.desktop.codec's wire format (docs/screen-protocol.md), big-endian.
  const WIRE_VERSION = 1;
  const FLAG_KEYFRAME = 0x01;
  const UPDATE_HEADER = 18; // version u8, flags u8, seq u32, w u16, h u16, cx i16, cy i16, n u32
  const TILE_HEADER = 13; // x u16, y u16, w u16, h u16, codec u8, length u32
  const CODEC_RAW = 0; // packed BGR, 3 bytes per pixel
  const CODEC_ZSTD = 1; // browsers cannot inflate it; never sent in browser-safe mode
  const CODEC_JPEG = 2;
  const CODEC_FILL = 3; // one BGR colour
  const CODEC_NAMES = { 0: "RAW", 1: "ZSTD", 2: "JPEG", 3: "FILL" };
  const BUTTONS = { 0: 1, 1: 2, 2: 3 }; // DOM button -> remote button (left, middle, right)
  const MAX_SCROLL = 100; // wheel steps in one scroll event (ra.vocabulary.MAX_SCROLL)
  // States in which the person's screen is streamed (ra.statemachines.session.STREAMING).
  const STREAMING = new Set(["viewing", "control_requested", "awaiting_control_consent",
    "controlling", "released"]);

  const $ = (id) => document.getElementById(id);
  const canvas = $("screen");
  const ctx = canvas.getContext("2d", { alpha: false });
  const stage = $("stage");
  const statusEl = $("status");
  const takeButton = $("take-control");
  const releaseButton = $("release");
  const disconnectButton = $("disconnect");
  const refreshButton = $("refresh");
  const monitorSelect = $("monitor");
  const chatLog = $("chat-log");
  const chatForm = $("chat-form");
  const chatInput = $("chat-input");
  const chatSend = $("chat-send");
  const placeholder = $("placeholder");
  const cursorEl = $("cursor");
  const screenNote = $("screen-note");

  let ws = null;
  let open = false;
  let state = "connecting";
  let releasing = false; // control.release sent: no more input until the next status
  let frames = Promise.resolve(); // screen work, strictly in arrival order
  const heldKeys = new Map(); // code (or key) -> the key event sent as down
  const heldButtons = new Set();
  let lastPointer = null;
  let pendingPointer = null;
  let pointerScheduled = false;
  let scrollX = 0;
  let scrollY = 0;
  let escapeDown = false;
  let cursor = null; // the remote pointer from the last update, in screen pixels
  let skippedTiles = 0;

  function send(message) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  }

  function inControl() {
    return open && state === "controlling" && !releasing;
  }

  // The only way an input event leaves the page: never outside control.
  function sendInput(event) {
    if (inControl()) send({ type: "input", event: event });
  }

  // -- status and buttons ------------------------------------------------------------

  function setState(newState, text) {
    const wasInControl = state === "controlling";
    releasing = false;
    state = LABELS[newState] ? newState : state;
    statusEl.dataset.state = state;
    statusEl.textContent = text || LABELS[state];
    if (wasInControl && state !== "controlling") forgetHeld();
    canvas.classList.toggle("control", inControl());
    updateButtons();
    if (!wasInControl && state === "controlling") canvas.focus();
  }

  function updateButtons() {
    const live = open && state !== "disconnected";
    takeButton.disabled = !(live && (state === "viewing" || state === "released"));
    releaseButton.disabled = !(live && inControl());
    disconnectButton.disabled = !live;
    refreshButton.disabled = !(live && STREAMING.has(state));
    monitorSelect.disabled = !(live && STREAMING.has(state));
    chatInput.disabled = !live;
    chatSend.disabled = !live;
  }

  // Keys and buttons still down go up on the remote side before control ends.
  function releaseHeld() {
    for (const key of heldKeys.values()) {
      sendInput({ kind: "key", key: key.key, code: key.code, down: false });
    }
    for (const button of heldButtons) sendInput({ kind: "button", button: button, down: false });
    forgetHeld();
  }

  function forgetHeld() {
    heldKeys.clear();
    heldButtons.clear();
    pendingPointer = null;
    lastPointer = null;
    scrollX = scrollY = 0;
  }

  // Give control back: held keys go up first, then nothing more is sent. `via` says
  // how: "button" (the Release button) or "esc" (Esc pressed in this page).
  function giveBack(via) {
    if (!inControl()) return;
    releaseHeld();
    send({ type: "control.release", via: via });
    releasing = true;
    canvas.classList.remove("control");
    statusEl.textContent = "Releasing…";
    updateButtons();
  }

  takeButton.addEventListener("click", () => send({ type: "control.request" }));
  refreshButton.addEventListener("click", () => send({ type: "screen.refresh" }));
  monitorSelect.addEventListener("change", () => {
    const number = Number(monitorSelect.value);
    if (Number.isInteger(number) && number >= 0) send({ type: "screen.monitor", monitor: number });
  });
  releaseButton.addEventListener("click", () => giveBack("button"));
  disconnectButton.addEventListener("click", () => {
    releaseHeld();
    send({ type: "disconnect" });
    statusEl.textContent = "Disconnecting…";
  });

  // -- chat and the invitation ---------------------------------------------------------

  function addChat(from, text, cls) {
    const item = document.createElement("li");
    if (cls) item.className = cls;
    if (from) {
      const who = document.createElement("span");
      who.className = "from";
      who.textContent = from + ":";
      item.appendChild(who);
    }
    item.appendChild(document.createTextNode(text));
    chatLog.appendChild(item);
    chatLog.scrollTop = chatLog.scrollHeight;
  }

  chatForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = chatInput.value;
    if (!text.trim() || !open) return;
    send({ type: "chat", text: text });
    addChat("You", text, "mine");
    chatInput.value = "";
  });

  function showInfo(name, message) {
    $("name").textContent = name || "(unnamed)";
    $("message").textContent = message || "";
    document.title = "ra: " + (name || "viewer");
  }

  // -- the person's monitors -----------------------------------------------------------

  // {"type":"screen.monitors","monitors":[{number,x,y,width,height}...],"current":N}
  function showMonitors(message) {
    const listed = Array.isArray(message.monitors) ? message.monitors : [];
    const current = Number.isInteger(message.current) ? message.current : 0;
    monitorSelect.textContent = "";
    const all = document.createElement("option");
    all.value = "0";
    all.textContent = "All monitors";
    monitorSelect.appendChild(all);
    for (const monitor of listed) {
      if (!monitor || !Number.isInteger(monitor.number) || monitor.number < 1) continue;
      const option = document.createElement("option");
      option.value = String(monitor.number);
      option.textContent = "Monitor " + monitor.number + " (" + (monitor.width | 0) + "x"
        + (monitor.height | 0) + ")";
      monitorSelect.appendChild(option);
    }
    monitorSelect.value = String(current);
    if (monitorSelect.value !== String(current)) monitorSelect.value = "0";
    monitorSelect.hidden = false;
    updateButtons();
  }

  // -- the screen --------------------------------------------------------------------

  // Scale the canvas to fit the stage (inside its padding), keeping the aspect ratio.
  function fit() {
    const style = getComputedStyle(stage);
    const width = stage.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    const height = stage.clientHeight - parseFloat(style.paddingTop)
      - parseFloat(style.paddingBottom);
    const scale = Math.min(width / canvas.width, height / canvas.height);
    if (!(scale > 0)) return;
    canvas.style.width = Math.max(1, Math.floor(canvas.width * scale)) + "px";
    canvas.style.height = Math.max(1, Math.floor(canvas.height * scale)) + "px";
    placeCursor();
  }
  new ResizeObserver(fit).observe(stage);

  function setScreenSize(width, height) {
    if (canvas.width === width && canvas.height === height) return;
    canvas.width = width;
    canvas.height = height;
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, width, height);
    fit();
  }

  // The remote pointer: a marker over the canvas (never painted into the picture).
  function placeCursor() {
    if (!cursor || cursor.x < 0 || cursor.y < 0 || cursor.x >= canvas.width
        || cursor.y >= canvas.height) {
      cursorEl.hidden = true;
      return;
    }
    const scaleX = canvas.clientWidth / canvas.width;
    const scaleY = canvas.clientHeight / canvas.height;
    cursorEl.style.left = (canvas.offsetLeft + (cursor.x + 0.5) * scaleX) + "px";
    cursorEl.style.top = (canvas.offsetTop + (cursor.y + 0.5) * scaleY) + "px";
    cursorEl.hidden = false;
  }

  // The structure of one update; payloads are checked when decoded.
  function parseUpdate(buffer) {
    const view = new DataView(buffer);
    const total = buffer.byteLength;
    if (total < UPDATE_HEADER) throw new Error("screen update shorter than its header");
    const version = view.getUint8(0);
    if (version !== WIRE_VERSION) throw new Error("screen update version " + version);
    const flags = view.getUint8(1);
    const update = {
      keyframe: (flags & FLAG_KEYFRAME) !== 0,
      seq: view.getUint32(2),
      width: view.getUint16(6),
      height: view.getUint16(8),
      cursorX: view.getInt16(10),
      cursorY: view.getInt16(12),
      tiles: [],
    };
    const count = view.getUint32(14);
    if (update.width < 1 || update.height < 1) throw new Error("screen update for no screen");
    let offset = UPDATE_HEADER;
    for (let i = 0; i < count; i++) {
      if (offset + TILE_HEADER > total) throw new Error("truncated tile header");
      const tile = {
        x: view.getUint16(offset), y: view.getUint16(offset + 2),
        w: view.getUint16(offset + 4), h: view.getUint16(offset + 6),
        codec: view.getUint8(offset + 8), length: view.getUint32(offset + 9),
      };
      offset += TILE_HEADER;
      if (tile.length > total - offset) throw new Error("truncated tile");
      if (tile.w < 1 || tile.h < 1 || tile.x + tile.w > update.width
          || tile.y + tile.h > update.height) {
        throw new Error("tile outside the screen");
      }
      tile.bytes = new Uint8Array(buffer, offset, tile.length);
      offset += tile.length;
      update.tiles.push(tile);
    }
    if (offset !== total) throw new Error("bytes after the last tile");
    return update;
  }

  // Packed BGR (3 bytes a pixel) to opaque RGBA.
  function bgrToImageData(bytes, w, h) {
    const image = new ImageData(w, h);
    const rgba = image.data;
    for (let i = 0, j = 0; i < bytes.length; i += 3, j += 4) {
      rgba[j] = bytes[i + 2];
      rgba[j + 1] = bytes[i + 1];
      rgba[j + 2] = bytes[i];
      rgba[j + 3] = 255;
    }
    return image;
  }

  // A tile ready to draw: {fill: "rgb(...)"}, an ImageData or an ImageBitmap.
  function decodeTile(tile) {
    const b = tile.bytes;
    switch (tile.codec) {
      case CODEC_FILL:
        if (tile.length !== 3) break;
        return Promise.resolve({ fill: "rgb(" + b[2] + "," + b[1] + "," + b[0] + ")" });
      case CODEC_RAW:
        if (tile.length !== tile.w * tile.h * 3) break;
        return Promise.resolve(bgrToImageData(b, tile.w, tile.h));
      case CODEC_JPEG:
        return createImageBitmap(new Blob([b], { type: "image/jpeg" })).then((bitmap) => {
          if (bitmap.width === tile.w && bitmap.height === tile.h) return bitmap;
          bitmap.close();
          throw new Error("JPEG of " + bitmap.width + "x" + bitmap.height + " in a "
            + tile.w + "x" + tile.h + " tile");
        });
      default:
        break;
    }
    const name = CODEC_NAMES[tile.codec] || "codec " + tile.codec;
    return Promise.reject(new Error("cannot show a " + name + " tile"));
  }

  function tileSkipped(tile, error) {
    skippedTiles += 1;
    canvas.dataset.skipped = String(skippedTiles);
    console.warn("ra viewer: screen tile at " + tile.x + "," + tile.y + " " + tile.w + "x"
      + tile.h + " skipped:", error && error.message ? error.message : error);
    screenNote.textContent = skippedTiles + (skippedTiles === 1 ? " screen tile" : " screen tiles")
      + " could not be shown";
    screenNote.hidden = false;
  }

  // Decode every tile first, then draw them all at once, in order: no half updates.
  async function drawUpdate(buffer) {
    const update = parseUpdate(buffer);
    const decoded = await Promise.allSettled(update.tiles.map(decodeTile));
    setScreenSize(update.width, update.height); // a keyframe for a new size resizes
    update.tiles.forEach((tile, i) => {
      const result = decoded[i];
      if (result.status !== "fulfilled") {
        tileSkipped(tile, result.reason);
        return;
      }
      const image = result.value;
      if (image instanceof ImageData) {
        ctx.putImageData(image, tile.x, tile.y);
      } else if (typeof image.fill === "string") {
        ctx.fillStyle = image.fill;
        ctx.fillRect(tile.x, tile.y, tile.w, tile.h);
      } else {
        ctx.drawImage(image, tile.x, tile.y, tile.w, tile.h);
        image.close();
      }
    });
    cursor = { x: update.cursorX, y: update.cursorY };
    placeCursor();
    placeholder.classList.add("hidden");
    canvas.dataset.seq = String(update.seq);
    // For tests and debugging: what the last drawn update was.
    window.raLastUpdate = { seq: update.seq, keyframe: update.keyframe,
      tiles: update.tiles.length };
    canvas.dataset.frames = String((Number(canvas.dataset.frames) || 0) + 1);
  }

  function queueScreenWork(work) {
    frames = frames.then(work).catch((error) => console.warn("ra viewer:", error));
  }

  // -- input, only while in control --------------------------------------------------

  function remotePoint(event) {
    const rect = canvas.getBoundingClientRect();
    const x = Math.floor((event.clientX - rect.left) * canvas.width / rect.width);
    const y = Math.floor((event.clientY - rect.top) * canvas.height / rect.height);
    return {
      x: Math.min(canvas.width - 1, Math.max(0, x)),
      y: Math.min(canvas.height - 1, Math.max(0, y)),
    };
  }

  function sendPointer(point) {
    if (lastPointer && lastPointer.x === point.x && lastPointer.y === point.y) return;
    lastPointer = point;
    sendInput({ kind: "pointer", x: point.x, y: point.y });
  }

  function flushPointer() {
    pointerScheduled = false;
    if (pendingPointer && inControl()) sendPointer(pendingPointer);
    pendingPointer = null;
  }

  canvas.addEventListener("pointermove", (event) => {
    if (!inControl()) return;
    pendingPointer = remotePoint(event);
    if (!pointerScheduled) {
      pointerScheduled = true;
      requestAnimationFrame(flushPointer);
    }
  });

  canvas.addEventListener("pointerdown", (event) => {
    if (inControl()) canvas.setPointerCapture(event.pointerId);
  });

  canvas.addEventListener("mousedown", (event) => {
    if (!inControl()) return;
    event.preventDefault();
    canvas.focus();
    const button = BUTTONS[event.button];
    if (!button) return;
    pendingPointer = null;
    sendPointer(remotePoint(event));
    heldButtons.add(button);
    sendInput({ kind: "button", button: button, down: true });
  });

  window.addEventListener("mouseup", (event) => {
    const button = BUTTONS[event.button];
    if (!inControl() || !button || !heldButtons.has(button)) return;
    event.preventDefault();
    pendingPointer = null;
    sendPointer(remotePoint(event));
    heldButtons.delete(button);
    sendInput({ kind: "button", button: button, down: false });
  });

  canvas.addEventListener("contextmenu", (event) => {
    if (inControl()) event.preventDefault();
  });

  canvas.addEventListener("wheel", (event) => {
    if (!inControl()) return;
    event.preventDefault();
    // Steps: 100 px, 3 lines or 1 page each; positive dy scrolls down, dx right.
    const unit = event.deltaMode === 1 ? 1 / 3 : event.deltaMode === 2 ? 1 : 1 / 100;
    scrollX += event.deltaX * unit;
    scrollY += event.deltaY * unit;
    const dx = Math.max(-MAX_SCROLL, Math.min(MAX_SCROLL, Math.trunc(scrollX)));
    const dy = Math.max(-MAX_SCROLL, Math.min(MAX_SCROLL, Math.trunc(scrollY)));
    if (dx || dy) {
      scrollX -= dx;
      scrollY -= dy;
      sendInput({ kind: "scroll", dx: dx, dy: dy });
    }
  }, { passive: false });

  function isEscape(event) {
    return event.key === "Escape" || event.code === "Escape";
  }

  // Keys go to the remote screen while in control and the focus is on the screen
  // (not the chat box or a button). Esc anywhere in the page gives control back.
  function keysToRemote(event) {
    const target = event.target;
    return inControl() && (target === canvas || target === document.body);
  }

  document.addEventListener("keydown", (event) => {
    if (inControl() && isEscape(event)) {
      event.preventDefault();
      event.stopPropagation();
      escapeDown = true;
      giveBack("esc");
      return;
    }
    if (!keysToRemote(event) || event.isComposing) return;
    event.preventDefault();
    event.stopPropagation();
    const id = event.code || event.key;
    const key = { key: event.key, code: event.code };
    heldKeys.set(id, key);
    sendInput({ kind: "key", key: key.key, code: key.code, down: true });
  }, true);

  document.addEventListener("keyup", (event) => {
    if (isEscape(event)) {
      if (escapeDown) event.preventDefault(); // the Esc that gave control back
      escapeDown = false;
      return;
    }
    if (!keysToRemote(event)) return;
    event.preventDefault();
    event.stopPropagation();
    const id = event.code || event.key;
    const key = heldKeys.get(id);
    if (!key) return; // its down was never sent
    heldKeys.delete(id);
    sendInput({ kind: "key", key: key.key, code: key.code, down: false });
  }, true);

  window.addEventListener("blur", () => {
    if (inControl()) releaseHeld();
  });

  // -- the connection ----------------------------------------------------------------

  function handleJson(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch (error) {
      return;
    }
    if (!message || typeof message !== "object") return;
    switch (message.type) {
      case "status":
        setState(String(message.state), typeof message.text === "string" ? message.text : "");
        break;
      case "chat":
        addChat(String(message.from || "ra"), String(message.text || ""), "");
        break;
      case "info":
        showInfo(String(message.name || ""), String(message.message || ""));
        break;
      case "screen.monitors":
        showMonitors(message);
        break;
      case "screen": {
        const width = message.width | 0;
        const height = message.height | 0;
        if (width > 0 && height > 0) queueScreenWork(() => setScreenSize(width, height));
        break;
      }
      default:
        break;
    }
  }

  function connect() {
    const match = /^\/v\/([A-Za-z0-9_-]+)$/.exec(location.pathname);
    if (!match) {
      setState("disconnected", "This is not a viewer link");
      return;
    }
    ws = new WebSocket("ws://" + location.host + "/ws/" + match[1]);
    ws.binaryType = "arraybuffer";
    ws.addEventListener("open", () => {
      open = true;
      updateButtons();
    });
    ws.addEventListener("message", (event) => {
      if (typeof event.data === "string") {
        handleJson(event.data);
      } else {
        const buffer = event.data;
        queueScreenWork(() => drawUpdate(buffer).finally(() => send({ type: "screen.ack" })));
      }
    });
    ws.addEventListener("close", () => {
      const everOpen = open;
      open = false;
      if (state === "disconnected") {
        updateButtons();
      } else {
        setState("disconnected", everOpen
          ? "Disconnected: the connection to ra closed"
          : "Not connected: this link was already used, or ra has stopped");
      }
    });
  }

  updateButtons();
  fit();
  connect();
})();
