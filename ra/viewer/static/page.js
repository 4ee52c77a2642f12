// What the live viewer (viewer.js) and the replay (replay.js) share beyond the screen
// decoder: the screen on its stage (the same element ids on both pages) and the page's
// one WebSocket. window.raPage.
window.raPage = (function () {
  "use strict";

  const raScreen = window.raScreen;
  const $ = (id) => document.getElementById(id);

  // The elements of these ids, keyed by id (for one destructuring of a page's controls).
  function byId(...ids) {
    const found = {};
    for (const id of ids) found[id] = $(id);
    return found;
  }

  // The screen (stage.html): the canvas, named `label`, and its 2D context, the stage that
  // holds it, the placeholder and the note shown over it, and the pointer marker, placed
  // where `pointer()` says (null: hidden; never painted into the picture). The canvas is
  // kept fitted to the stage, keeping the aspect ratio.
  function screen(label, pointer) {
    const canvas = $("screen");
    canvas.setAttribute("aria-label", label);
    const stage = $("stage");
    const marker = $("cursor");
    const view = {
      canvas: canvas,
      ctx: canvas.getContext("2d", { alpha: false }),
      stage: stage,
      placeholder: $("placeholder"),
      note: $("screen-note"),
      placeCursor: () => raScreen.placeMarker(marker, canvas, pointer()),
      fit: () => {
        if (raScreen.fitCanvas(canvas, stage)) view.placeCursor();
      },
      // Give the canvas the picture's size (which clears it); false if it had it already.
      resize: (width, height) => {
        if (canvas.width === width && canvas.height === height) return false;
        canvas.width = width;
        canvas.height = height;
        view.fit();
        return true;
      },
    };
    new ResizeObserver(view.fit).observe(stage);
    return view;
  }

  // The page's one WebSocket, to the token in its address (/v/<token>), or null when the
  // address is not such a link. Text messages that are JSON objects go to onMessage (others
  // are dropped), binary ones (ArrayBuffer) to onBinary.
  function socket(onMessage, onBinary) {
    const match = /^\/v\/([A-Za-z0-9_-]+)$/.exec(location.pathname);
    if (!match) return null;
    const ws = new WebSocket("ws://" + location.host + "/ws/" + match[1]);
    ws.binaryType = "arraybuffer";
    ws.addEventListener("message", (event) => {
      if (typeof event.data !== "string") {
        onBinary(event.data);
        return;
      }
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      if (message && typeof message === "object") onMessage(message);
    });
    return ws;
  }

  // `message` as JSON on `ws`, if it is open (dropped otherwise: the page shows why).
  function send(ws, message) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  }

  return Object.freeze({ $: $, byId: byId, screen: screen, socket: socket, send: send });
})();
