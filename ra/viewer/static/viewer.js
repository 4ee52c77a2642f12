// The ra viewer page: one WebSocket to the local ra process; see docs/viewer.md.
(function () {
  "use strict";

  const raScreen = window.raScreen; // the screen update decoder (screen.js)
  const raPage = window.raPage; // the screen view and the socket (page.js)
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
  const BUTTONS = { 0: 1, 1: 2, 2: 3 }; // DOM button -> remote button (left, middle, right)
  const MAX_SCROLL = 100; // wheel steps in one scroll event (ra.vocabulary.MAX_SCROLL)
  // States in which the person's screen is streamed (ra.statemachines.session.STREAMING).
  const STREAMING = new Set(["viewing", "control_requested", "awaiting_control_consent",
    "controlling", "released"]);

  const $ = raPage.$;
  const view = raPage.screen("The remote screen", () => cursor); // the remote pointer
  const { canvas, ctx, placeholder, note: screenNote } = view;
  canvas.tabIndex = 0; // keys reach the remote screen through the focused canvas
  const {
    status: statusEl, "take-control": takeButton, release: releaseButton,
    disconnect: disconnectButton, refresh: refreshButton, monitor: monitorSelect,
    "chat-log": chatLog, "chat-form": chatForm, "chat-input": chatInput, "chat-send": chatSend,
  } = raPage.byId("status", "take-control", "release", "disconnect", "refresh", "monitor",
    "chat-log", "chat-form", "chat-input", "chat-send");

  let ws = null;
  let open = false;
  let state = "connecting";
  let releasing = false; // control.release sent: no more input until the next status
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
    raPage.send(ws, message);
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

  function setScreenSize(width, height) {
    if (!view.resize(width, height)) return;
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, width, height);
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

  // A batch from the decoder (screen-worker.js), painted at once: its last update gives the
  // size and the pointer.
  function drawBatch(batch) {
    const updates = batch.updates;
    if (!Array.isArray(updates) || !updates.length) return;
    const last = updates[updates.length - 1];
    setScreenSize(last.width, last.height); // a keyframe for a new size resizes
    raScreen.paint(ctx, { tiles: batch.tiles }, batch.decoded, tileSkipped);
    cursor = { x: last.cursorX, y: last.cursorY };
    view.placeCursor();
    placeholder.classList.add("hidden");
    // For tests, debugging and benchmarks: what was drawn last, and how much.
    window.raLastUpdate = { seq: last.seq, keyframe: updates.some((u) => u.keyframe),
      tiles: last.tiles };
    const count = (name, n) => {
      canvas.dataset[name] = String((Number(canvas.dataset[name]) || 0) + n);
    };
    count("superseded", batch.superseded);
    count("shown", 1);
    // Slices of one big update share its seq: the updates drawn here, for benchmarks.
    canvas.dataset.seqs = updates.map((u) => u.seq).join(",");
    canvas.dataset.seq = String(last.seq);
    count("frames", updates.length); // last: a test waiting on it sees everything above
  }

  // Screen updates are parsed and decoded off the main thread, in arrival order, and come
  // back in batches (or as sizes, in order with them); see screen-worker.js. Each update
  // is acknowledged when the worker takes its batch (its drawing starts: it will be drawn
  // or dropped as superseded), or at once if it does not parse: the server sends at most
  // a few ahead, so the next can arrive while a batch is decoded.
  const decoder = new Worker("/screen-worker.js");
  decoder.addEventListener("message", (event) => {
    const message = event.data;
    if (!message || typeof message !== "object") return;
    if (message.type === "batch") {
      drawBatch(message);
    } else if (message.type === "taken") {
      for (let i = 0; i < message.count; i++) send({ type: "screen.ack" });
    } else if (message.type === "size") {
      if (message.width > 0 && message.height > 0) setScreenSize(message.width, message.height);
    } else if (message.type === "bad") {
      console.warn("ra viewer: screen update dropped:", message.reason);
      if (message.ack) send({ type: "screen.ack" });
    }
  });
  decoder.addEventListener("error", (event) => {
    console.warn("ra viewer: the screen decoder failed:", event.message);
    screenNote.textContent = "The screen cannot be shown: its decoder failed";
    screenNote.hidden = false;
  });

  function screenUpdate(buffer) {
    canvas.dataset.received = String((Number(canvas.dataset.received) || 0) + 1);
    decoder.postMessage({ type: "update", buffer: buffer }, [buffer]);
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

  function handleJson(message) {
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
        if (width > 0 && height > 0) decoder.postMessage({ type: "size", width, height });
        break;
      }
      default:
        break;
    }
  }

  function connect() {
    ws = raPage.socket(handleJson, screenUpdate);
    if (!ws) {
      setState("disconnected", "This is not a viewer link");
      return;
    }
    ws.addEventListener("open", () => {
      open = true;
      updateButtons();
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
  view.fit();
  connect();
})();
